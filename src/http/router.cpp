#include "http/router.hpp"

namespace popbox::http {

namespace {

// The next '/'-separated segment of `s` (which starts after a '/').
std::string_view next_segment(std::string_view& s) {
  const auto slash = s.find('/');
  const std::string_view seg = s.substr(0, slash);
  s = slash == std::string_view::npos ? std::string_view{} : s.substr(slash + 1);
  return seg;
}

}  // namespace

bool match_pattern(std::string_view pattern, std::string_view path, Fields& params) {
  params.clear();
  if (pattern.empty() || path.empty() || pattern[0] != '/' || path[0] != '/') return false;
  pattern.remove_prefix(1);
  path.remove_prefix(1);
  for (;;) {
    const bool pattern_done = pattern.empty();
    const bool path_done = path.empty();
    if (pattern_done || path_done) return pattern_done && path_done;
    const std::string_view want = next_segment(pattern);
    const std::string_view have = next_segment(path);
    if (want.size() >= 2 && want.front() == '{' && want.back() == '}') {
      auto value = percent_decode(have, false);
      if (!value || value->empty()) return false;
      params.emplace_back(std::string(want.substr(1, want.size() - 2)), std::move(*value));
    } else if (want != have) {
      return false;
    }
    // "/a/" against "/a": a trailing empty segment must match on both sides.
    if (pattern.empty() != path.empty()) return false;
  }
}

void Router::add(std::string method, std::string pattern, Handler handler) {
  routes_.push_back(Route{std::move(method), std::move(pattern), std::move(handler)});
}

const Handler* Router::match(Request& req, unsigned& status) const {
  status = 404;
  Fields params;
  for (const auto& r : routes_) {
    if (!match_pattern(r.pattern, req.path, params)) continue;
    const bool head_as_get = req.method == "HEAD" && r.method == "GET";
    if (r.method != req.method && !head_as_get) {
      status = 405;
      continue;
    }
    req.params = std::move(params);
    return &r.handler;
  }
  return nullptr;
}

}  // namespace popbox::http
