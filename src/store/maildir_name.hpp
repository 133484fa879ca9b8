#pragma once
// Maildir file names: "BASE" or "BASE:2,FLAGS", where BASE may carry
// Dovecot/Courier size hints (",S=123", ",W=130"). Pure string code.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace popbox::store::detail {

/// The part of a file name before the info separator ':' (all of it if none).
std::string_view base_of(std::string_view name) noexcept;

/// Delivery order of two bases that share an mtime: runs of digits compare
/// as numbers ("1.M99P" before "1.M100P": writers, popbox and qmail's
/// scheme alike, do not zero-pad the microseconds), the rest bytewise.
bool delivered_before(std::string_view a, std::string_view b) noexcept;

/// True for names a scan must skip: empty, dotfiles (editors, Dovecot temp).
bool is_ignored_name(std::string_view name) noexcept;

/// The file name a retrieved message gets in cur/: "BASE:2,FLAGS" with 'S'
/// added and the flags in ASCII order. Returns "" when the name carries an
/// info part other than "2,..." (unknown format: leave the file alone).
std::string seen_name(std::string_view name);

/// The UIDL rule: BASE without ",S=digits" / ",W=digits" when that is 1-70
/// octets of 0x21-0x7E, else hash_uidl(base). Depends only on the name, so it
/// survives index loss and copying the Maildir.
std::string uidl_of_base(std::string_view base);

/// True for 1-70 octets of 0x21-0x7E (RFC 1939 section 7).
bool is_valid_uidl(std::string_view s) noexcept;

/// "H" + hex of the first 20 bytes of SHA-256(base): 41 printable octets.
std::string hash_uidl(std::string_view base);

/// Makes uidls[i] (computed from bases[i]) unique. Within a group of equal
/// UIDLs the smallest base keeps it; the others get "-2", "-3", ... (or their
/// hash form when the suffix would pass 70 octets). The result depends only
/// on the set of bases, not on their order.
void make_uidls_unique(const std::vector<std::string_view>& bases, std::vector<std::string>& uidls);

/// Makes uidls[i] unique like make_uidls_unique, but a contested UIDL goes to
/// the message that comes first in `priority` (a permutation of the indices),
/// and no message keeps or gets a UIDL in `reserved` (those of messages gone).
/// Sets renamed[i] (if given, sized like uidls) for each UIDL it changed and
/// returns how many it changed.
std::size_t make_uidls_unique_in_order(std::span<const std::size_t> priority,
                                       const std::vector<std::string_view>& bases,
                                       std::vector<std::string>& uidls,
                                       std::vector<bool>* renamed = nullptr,
                                       std::span<const std::string_view> reserved = {});

}  // namespace popbox::store::detail
