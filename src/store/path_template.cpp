// Path template expansion. The user name comes from a stranger (USER/AUTH),
// so every expansion is checked before it becomes part of a path.
#include "store/path_template.hpp"

#include <stdexcept>

#include "core/limits.hpp"
#include "store/mailbox.hpp"

namespace popbox::store {
namespace {

// True when some component of `path` (split at '/') is "." or "..".
bool has_dot_component(std::string_view path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part == "." || part == "..") return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

PathTemplate::PathTemplate(std::string text) : text_(std::move(text)) {
  if (text_.empty() || text_.front() != '/') {
    // "~/" and relative paths would depend on the environment of the daemon.
    throw std::invalid_argument("mailbox path template must be an absolute path: " + text_);
  }
  for (std::size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] == '\0') throw std::invalid_argument("mailbox path template contains NUL");
    if (text_[i] != '%') continue;
    if (i + 1 == text_.size()) {
      throw std::invalid_argument("mailbox path template ends in a lone '%': " + text_);
    }
    char c = text_[++i];
    if (c == 'u' || c == 'n') per_user_ = true;
    if (c != 'u' && c != 'n' && c != 'd' && c != '%') {
      throw std::invalid_argument(std::string("unknown escape %") + c +
                                  " in mailbox path template: " + text_);
    }
  }
  // With the escapes blanked out, a dot component can only come from the
  // template itself; user-made ones are caught per user in expand().
  std::string literal;
  for (std::size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] == '%') {
      literal += text_[++i] == '%' ? '%' : 'x';
    } else {
      literal += text_[i];
    }
  }
  if (has_dot_component(literal)) {
    throw std::invalid_argument("mailbox path template has a '.' or '..' component: " + text_);
  }
}

std::string PathTemplate::expand(std::string_view user, std::error_code& ec) const {
  ec.clear();
  auto bad = [&ec] {
    ec = store_errc::bad_path;
    return std::string();
  };
  if (user.empty() || user.size() > limits::max_user_name) return bad();
  if (user.find('/') != std::string_view::npos || user.find('\0') != std::string_view::npos) {
    return bad();
  }
  std::size_t at = user.find('@');
  std::string_view local = user.substr(0, at);
  std::string_view domain = at == std::string_view::npos ? std::string_view() : user.substr(at + 1);

  std::string out;
  out.reserve(text_.size() + 2 * user.size());
  for (std::size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] != '%') {
      out += text_[i];
      continue;
    }
    char c = text_[++i];  // the constructor guarantees an escape follows
    std::string_view part;
    switch (c) {
      case 'u':
        part = user;
        break;
      case 'n':
        part = local;
        break;
      case 'd':
        part = domain;
        break;
      default:
        out += '%';
        continue;
    }
    // A user without '@' has an empty %d, as in Dovecot ("/m/%d/%n" gives
    // "/m//bob", the same as "/m/bob"). That is only safe while %u or %n
    // still makes the path the user's own: "/m/%d" would hand every such
    // user the directory "/m/". An '@' with nothing after it is refused, so
    // "bob" and "bob@" do not share a maildrop.
    bool empty_ok = c == 'd' && at == std::string_view::npos && per_user_;
    if ((part.empty() && !empty_ok) || part == "." || part == "..") return bad();
    out += part;
  }
  // Parts that are harmless alone can still join into "..", as "%n%d" with
  // ".@.", so the finished path is checked as a whole too.
  if (has_dot_component(out)) return bad();
  return out;
}

}  // namespace popbox::store
