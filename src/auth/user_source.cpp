#include "auth/user_source.hpp"

#include <sodium.h>

namespace popbox::auth {

UserEntry::~UserEntry() {
  if (!password.empty()) sodium_memzero(password.data(), password.size());
}

}  // namespace popbox::auth
