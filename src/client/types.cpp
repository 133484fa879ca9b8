// Spellings of the fetch vocabulary types.
#include "client/types.hpp"

#include <array>
#include <utility>

namespace popbox::client {
namespace {

constexpr std::array<std::pair<std::string_view, AuthMech>, 7> auth_names{{
    {"auto", AuthMech::automatic},
    {"user", AuthMech::user},
    {"plain", AuthMech::plain},
    {"login", AuthMech::login},
    {"apop", AuthMech::apop},
    {"xoauth2", AuthMech::xoauth2},
    {"oauthbearer", AuthMech::oauthbearer},
}};

}  // namespace

std::optional<TlsMode> parse_tls_mode(std::string_view text) {
  if (text == "implicit") return TlsMode::implicit;
  if (text == "starttls") return TlsMode::starttls;
  if (text == "none") return TlsMode::none;
  return std::nullopt;
}

std::optional<AuthMech> parse_auth_mech(std::string_view text) {
  for (const auto& [name, mech] : auth_names) {
    if (name == text) return mech;
  }
  return std::nullopt;
}

std::string_view auth_mech_name(AuthMech mech) noexcept {
  for (const auto& [name, m] : auth_names) {
    if (m == mech) return name;
  }
  return "auto";
}

}  // namespace popbox::client
