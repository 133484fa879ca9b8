// libFuzzer target for the Maildir file-name rules (store/maildir_name.hpp).
//
// Input: file names, one per line (at most 64 used). Checks for each name:
// base_of() is the part before the first ':'; seen_name() is "" exactly when
// an info part other than "2,..." is present, else it keeps the BASE, has
// the flags sorted with 'S' among them and is a fixed point; uidl_of_base()
// is always a valid RFC 1939 UIDL, is the BASE itself when the BASE is one
// and has no size hint, and else the hash form when the stripped BASE is no
// valid UIDL. Over all distinct BASEs: make_uidls_unique() gives valid,
// distinct UIDLs that do not depend on the order of the names, and
// make_uidls_unique_in_order() never hands out a reserved UIDL.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_store.hpp"

using popbox::fuzz::escaped;
namespace sd = popbox::store::detail;

namespace {

constexpr std::size_t max_names = 64;

void check_name(std::string_view name) {
  const std::string_view base = sd::base_of(name);
  FUZZ_CHECK(name.starts_with(base) && base.find(':') == std::string_view::npos &&
                 (base.size() == name.size() || name[base.size()] == ':'),
             "base_of wrong for " + escaped(name));
  (void)sd::is_ignored_name(name);

  const std::string seen = sd::seen_name(name);
  const bool other_info =
      base.size() < name.size() && !name.substr(base.size() + 1).starts_with("2,");
  FUZZ_CHECK(seen.empty() == other_info, "seen_name refusal wrong for " + escaped(name));
  if (!seen.empty()) {
    FUZZ_CHECK(sd::base_of(seen) == base, "seen_name changed the BASE of " + escaped(name));
    std::string_view flags = std::string_view(seen).substr(base.size());
    FUZZ_CHECK(flags.starts_with(":2,"), "seen_name without :2, " + escaped(seen));
    flags.remove_prefix(3);
    FUZZ_CHECK(std::is_sorted(flags.begin(), flags.end()), "flags not sorted: " + escaped(seen));
    FUZZ_CHECK(flags.find('S') != std::string_view::npos, "no S flag: " + escaped(seen));
    FUZZ_CHECK(sd::seen_name(seen) == seen, "seen_name is not a fixed point: " + escaped(seen));
  }

  const std::string uidl = sd::uidl_of_base(base);
  FUZZ_CHECK(sd::is_valid_uidl(uidl), "invalid UIDL " + escaped(uidl) + " for " + escaped(base));
  FUZZ_CHECK(uidl == sd::uidl_of_base(base), "uidl_of_base not deterministic");
  if (sd::is_valid_uidl(base) && base.find(",S=") == std::string_view::npos &&
      base.find(",W=") == std::string_view::npos) {
    FUZZ_CHECK(uidl == base, "valid BASE not its own UIDL: " + escaped(base));
  }
  if (uidl != base && uidl.size() == 41 && uidl[0] == 'H' && uidl == sd::hash_uidl(base)) return;
  // Not the hash form: the BASE with size hints removed, never longer.
  FUZZ_CHECK(uidl.size() <= base.size(), "UIDL longer than its BASE: " + escaped(base));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> names = popbox::fuzz::split_lines(text);
  if (names.size() > max_names) names.resize(max_names);
  for (auto name : names) check_name(name);

  // Distinct BASEs, as one maildrop has them.
  std::set<std::string_view> base_set;
  for (auto name : names) base_set.insert(sd::base_of(name));
  std::vector<std::string_view> bases(base_set.begin(), base_set.end());
  std::vector<std::string> uidls;
  for (auto b : bases) uidls.push_back(sd::uidl_of_base(b));
  std::vector<std::string> unique = uidls;
  sd::make_uidls_unique(bases, unique);
  std::set<std::string_view> seen;
  for (const auto& u : unique) {
    FUZZ_CHECK(sd::is_valid_uidl(u), "make_uidls_unique gave " + escaped(u));
    FUZZ_CHECK(seen.insert(u).second, "make_uidls_unique left a duplicate " + escaped(u));
  }
  // The same bases in the reverse order get the same UIDLs.
  std::vector<std::string_view> rbases(bases.rbegin(), bases.rend());
  std::vector<std::string> runique(uidls.rbegin(), uidls.rend());
  sd::make_uidls_unique(rbases, runique);
  for (std::size_t i = 0; i < bases.size(); ++i) {
    FUZZ_CHECK(runique[bases.size() - 1 - i] == unique[i],
               "UIDL depends on the order, for " + escaped(bases[i]));
  }
  // In input order, with every third plain UIDL reserved (a message gone).
  std::vector<std::size_t> priority(bases.size());
  std::iota(priority.begin(), priority.end(), 0);
  std::vector<std::string_view> reserved;
  for (std::size_t i = 0; i < uidls.size(); i += 3) reserved.push_back(uidls[i]);
  std::vector<std::string> ordered = uidls;
  std::vector<bool> renamed(bases.size(), false);
  std::size_t changed =
      sd::make_uidls_unique_in_order(priority, bases, ordered, &renamed, reserved);
  std::set<std::string_view> taken(reserved.begin(), reserved.end());
  std::size_t n_renamed = 0;
  for (std::size_t i = 0; i < ordered.size(); ++i) {
    FUZZ_CHECK(sd::is_valid_uidl(ordered[i]), "in-order UIDL invalid: " + escaped(ordered[i]));
    FUZZ_CHECK(taken.insert(ordered[i]).second,
               "in-order UIDL reserved or duplicate: " + escaped(ordered[i]));
    FUZZ_CHECK(renamed[i] == (ordered[i] != uidls[i]), "renamed flag wrong");
    n_renamed += renamed[i];
  }
  FUZZ_CHECK(changed == n_renamed, "change count wrong");
  return 0;
}
