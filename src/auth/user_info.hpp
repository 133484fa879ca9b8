#pragma once
// The parts of a passwd-file entry the rest of popbox uses, apart from the
// password: what a login needs once the password is known to be right.

#include <optional>
#include <string>

namespace popbox::auth {

/// The parts of a passwd-file entry the rest of popbox uses.
struct UserInfo {
  std::string name;
  std::optional<unsigned> uid, gid;
  std::string home;
  std::string extra;  ///< field 8 as written (space separated key=value)
};

}  // namespace popbox::auth
