#include "store/uidl_assign.hpp"

#include <unordered_set>

#include "store/maildir_name.hpp"

namespace popbox::store {

const char* to_string(UidlSource s) noexcept {
  switch (s) {
    case UidlSource::name:
      return "name";
    case UidlSource::recorded:
      return "recorded";
    case UidlSource::dovecot:
      return "dovecot-uidlist";
    case UidlSource::courier:
      return "courierpop3dsizelist";
    case UidlSource::x_uidl:
      return "X-UIDL";
  }
  return "unknown";
}

}  // namespace popbox::store

namespace popbox::store::detail {

UidlAssignment assign_uidls(std::span<const UidlCandidate> msgs, bool adopt,
                            std::span<const std::string_view> gone) {
  const std::size_t n = msgs.size();
  UidlAssignment out;
  out.uidls.reserve(n);
  out.sources.reserve(n);
  out.renamed.assign(n, false);
  out.rejected.assign(n, false);
  std::vector<std::string_view> bases;
  bases.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const UidlCandidate& m = msgs[i];
    bases.push_back(m.base);
    if (!m.recorded.empty()) {
      out.uidls.emplace_back(m.recorded);
      out.sources.push_back(UidlSource::recorded);
    } else if (adopt && !m.adopted.empty() && is_valid_uidl(m.adopted)) {
      out.uidls.emplace_back(m.adopted);
      out.sources.push_back(m.adopted_from);
    } else {
      out.rejected[i] = adopt && !m.adopted.empty();
      out.uidls.push_back(uidl_of_base(m.base));
      out.sources.push_back(UidlSource::name);
    }
  }
  // Recorded UIDLs were shown before and win every contest; among the rest
  // the earlier message wins, so a newcomer never takes a UIDL from a
  // message already listed.
  std::vector<std::size_t> priority;
  priority.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (out.sources[i] == UidlSource::recorded) priority.push_back(i);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (out.sources[i] != UidlSource::recorded) priority.push_back(i);
  }
  // A UIDL recorded for a message still here beats a stale one for a gone
  // message (only a hand-edited record has both).
  std::vector<std::string_view> reserved;
  if (!gone.empty()) {
    std::unordered_set<std::string_view> fixed;
    for (const auto& m : msgs) {
      if (!m.recorded.empty()) fixed.insert(m.recorded);
    }
    for (auto u : gone) {
      if (!fixed.contains(u)) reserved.push_back(u);
    }
  }
  make_uidls_unique_in_order(priority, bases, out.uidls, &out.renamed, reserved);
  // What the name rule gives again needs no record; all else does.
  for (std::size_t i = 0; i < n; ++i) {
    switch (out.sources[i]) {
      case UidlSource::recorded:
        break;
      case UidlSource::name:
        if (out.renamed[i]) out.to_record.push_back(i);
        break;
      default:
        if (out.uidls[i] != uidl_of_base(msgs[i].base)) out.to_record.push_back(i);
    }
  }
  return out;
}

}  // namespace popbox::store::detail
