#pragma once
// Maps (method, path) to a handler. Patterns are literal segments and
// `{name}` parameters ("/api/v1/inboxes/{id}"); a parameter matches one
// non-empty segment, percent-decoded. A path that matches a pattern under
// another method gets 405, no pattern at all 404. Pure: no I/O.

#include <string>
#include <string_view>
#include <vector>

#include "http/message.hpp"

namespace popbox::http {

using Handler = std::function<asio::awaitable<Response>(Request&)>;

class Router {
 public:
  struct Route {
    std::string method;
    std::string pattern;
    Handler handler;
  };

  /// Adds a route; routes are tried in the order added.
  void add(std::string method, std::string pattern, Handler handler);
  /// The handler for `req` with req.params filled, or nullptr; `status`
  /// gets 404 or 405 when there is none.
  const Handler* match(Request& req, unsigned& status) const;
  /// Every route, in order (for the OpenAPI cross-check).
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

/// Whether `path` matches `pattern`; on success `params` gets the decoded
/// parameters. Exposed for tests.
bool match_pattern(std::string_view pattern, std::string_view path, Fields& params);

}  // namespace popbox::http
