#pragma once
// Checks shared by the store file-parser fuzzers: whatever a parser hands on,
// the UIDLs a session finally shows are valid RFC 1939 UIDLs, each once.

#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hpp"
#include "store/file_io.hpp"
#include "store/maildir_name.hpp"
#include "store/uidl_assign.hpp"

namespace popbox::fuzz {

/// Aborts unless `base` is one a parser may return (store::detail::valid_base).
inline void check_base(std::string_view base) {
  FUZZ_CHECK(popbox::store::detail::valid_base(base), "unusable BASE returned: " + escaped(base));
}

/// Runs assign_uidls on `msgs` (adoption open and closed) and aborts unless
/// every UIDL is 1-70 octets of 0x21-0x7E, no two are equal and none is the
/// UIDL of a message in `gone`.
inline void check_assignment(std::span<const popbox::store::detail::UidlCandidate> msgs,
                             std::span<const std::string_view> gone = {}) {
  for (bool adopt : {true, false}) {
    auto a = popbox::store::detail::assign_uidls(msgs, adopt, gone);
    FUZZ_CHECK(a.uidls.size() == msgs.size(), "assign_uidls lost messages");
    // A gone message's UIDL stays unused, unless a message still here has
    // it recorded (a hand-edited record): then that message keeps it.
    std::set<std::string_view> recorded, seen;
    for (const auto& m : msgs) recorded.insert(m.recorded);
    for (auto g : gone) {
      if (!recorded.contains(g)) seen.insert(g);
    }
    for (const auto& u : a.uidls) {
      FUZZ_CHECK(popbox::store::detail::is_valid_uidl(u), "invalid UIDL shown: " + escaped(u));
      FUZZ_CHECK(seen.insert(u).second,
                 "UIDL shown twice or taken from a gone message: " + escaped(u));
    }
  }
}

/// Lines of `text` split at '\n' (the last one may be unterminated).
inline std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace popbox::fuzz
