#pragma once
// Where an account's password (or OAuth token) comes from: `password`,
// `password_command` (first line of its output), or ~/.netrc.

#include <optional>
#include <string>
#include <string_view>

#include "client/error.hpp"
#include "client/fetch_config.hpp"

namespace popbox::client {

/// The password for `login` at `machine` in .netrc text (a `default`
/// entry applies when no machine matches); nullopt when there is none.
std::optional<std::string> netrc_lookup(std::string_view text, std::string_view machine,
                                        std::string_view login);
/// Runs `command` with /bin/sh -c and returns the first line it prints.
Failure run_password_command(const std::string& command, std::string& secret);
/// The account's secret from whichever source it configures.
Failure account_secret(const AccountConfig& account, const std::string& home, std::string& secret);

}  // namespace popbox::client
