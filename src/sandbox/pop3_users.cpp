#include "sandbox/pop3_users.hpp"

#include "sandbox/inbox_meta.hpp"

namespace popbox::sandbox {

std::optional<auth::UserEntry> Pop3Users::find(std::string_view user, std::error_code& ec) {
  ec.clear();
  auto address = detail::normalize_address(user);
  if (!address) return std::nullopt;
  InboxHub::Login login = hub_.login_of(*address);
  auth::UserEntry entry;
  entry.info.name = *address;
  if (login.password) {
    // Plain: the inbox keeps it so for the API, and SCRAM and APOP need it.
    entry.password = "{PLAIN}" + *login.password;
  } else if (strict_) {
    return std::nullopt;  // --strict-auth: no password of its own, no login
  } else {
    entry.any_password = true;  // an inbox made on first delivery, or none yet
  }
  return entry;
}

std::string Pop3Users::dummy_password() {
  return "{PLAIN}popbox-sandbox-no-such-user";
}

}  // namespace popbox::sandbox
