#pragma once
// One HTTP request and its response as the handlers of popbox::http::Server
// see them. Pure data plus the small helpers every handler needs (headers,
// query and path parameters); no I/O.

#include <asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace popbox::http {

using Fields = std::vector<std::pair<std::string, std::string>>;

/// A complete request (head and body).
struct Request {
  std::string method;  ///< as sent ("GET", "POST", ...)
  std::string target;  ///< as sent ("/a/b?c=d")
  std::string path;    ///< the target before '?', still percent-encoded
  Fields query;        ///< decoded name/value pairs in order
  Fields headers;      ///< names lowercased, values as sent
  Fields params;       ///< path parameters, decoded, filled by the Router
  std::string body;

  /// The first header named `name` (lowercase), or nullptr.
  const std::string* header(std::string_view name) const;
  /// The first query parameter named `name`, or nullopt.
  std::optional<std::string> query_param(std::string_view name) const;
  /// The path parameter `name`; "" when the route has none of that name.
  const std::string& param(std::string_view name) const;
};

/// Writes the body of a streamed response (Server-Sent Events).
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  /// Writes `bytes` to the client; false once the client is gone (or too
  /// slow to take a write within the write timeout).
  virtual asio::awaitable<bool> write(std::string_view bytes) = 0;
};

/// The response to one request. The server adds Content-Length (unless
/// streamed), Date-less Server and Connection headers, and sends no body to HEAD.
struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  Fields headers;  ///< extra headers, sent as given
  std::string body;
  /// When set, the head goes out without a length and this coroutine
  /// writes the body; the connection closes when it returns.
  std::function<asio::awaitable<void>(StreamWriter&)> stream;
};

/// Percent-decodes `in` ('+' is a space when `plus_is_space`); nullopt on a
/// malformed escape.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space);
/// The name/value pairs of a query string (the part after '?'); pairs with
/// a malformed escape are skipped.
Fields parse_query(std::string_view query);

}  // namespace popbox::http
