#pragma once
// Choosing the UIDL of every message of a snapshot. Precedence:
//   1. the UIDL recorded in popbox-uidls (shown before: never changes);
//   2. while adoption is open, the UIDL an earlier server showed (Dovecot,
//      Courier, X-UIDL), if it is a valid RFC 1939 UIDL;
//   3. the name rule (uidl_of_base).
// Then UIDLs are made unique: recorded ones first, then session order.
// Pure code: the caller reads the files and writes the record.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace popbox::store {

/// What decided a UIDL, or which earlier server knew a message.
enum class UidlSource : std::uint8_t { name, recorded, dovecot, courier, x_uidl };

/// A short name for logs and reports ("name", "recorded", "dovecot-uidlist"...).
const char* to_string(UidlSource s) noexcept;

}  // namespace popbox::store

namespace popbox::store::detail {

/// What is known about one message before its UIDL is chosen.
struct UidlCandidate {
  std::string_view base;
  std::string_view recorded;  ///< from popbox-uidls; empty if none
  std::string_view adopted;   ///< what an earlier server showed; empty if none
  UidlSource adopted_from = UidlSource::name;
};

/// The chosen UIDLs, in the order of the candidates.
struct UidlAssignment {
  std::vector<std::string> uidls;
  std::vector<UidlSource> sources;     ///< what decided each UIDL
  std::vector<bool> renamed;           ///< suffixed to stay unique
  std::vector<bool> rejected;          ///< adopted value unusable (length, octets)
  std::vector<std::size_t> to_record;  ///< UIDLs popbox-uidls must learn
};

/// Chooses UIDLs for `msgs` (session order). `adopt` says whether adopted
/// values may be used; `gone` are recorded UIDLs of messages no longer
/// there, never given to another message. to_record lists the messages
/// without a recorded UIDL whose UIDL differs from the name rule.
UidlAssignment assign_uidls(std::span<const UidlCandidate> msgs, bool adopt,
                            std::span<const std::string_view> gone = {});

}  // namespace popbox::store::detail
