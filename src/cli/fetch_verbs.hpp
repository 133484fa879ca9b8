#pragma once
// The sub-verbs of `popbox fetch` (import, check, status, login) and what they share with
// it: the clock and loading one account of the fetch config.

#include <cstdint>
#include <string>

#include "client/fetch_config.hpp"

namespace CLI {
class App;
}

namespace popbox::cli {

/// Registers `popbox fetch import` under the fetch subcommand.
void add_fetch_import(CLI::App& fetch, int& rc);
/// Registers `popbox fetch check` under the fetch subcommand.
void add_fetch_check(CLI::App& fetch, int& rc);
/// Registers `popbox fetch status` under the fetch subcommand.
void add_fetch_status(CLI::App& fetch, int& rc);
/// Registers `popbox fetch login` under the fetch subcommand.
void add_fetch_login(CLI::App& fetch, int& rc);

/// "Now": POPBOX_FETCH_NOW (unix seconds) when set, else the clock; false
/// when the variable is not a number.
bool fetch_clock(std::int64_t& now);

/// Loads `config_file` and points `account` at the account `name` in
/// `config`; returns 0, or the exit code after printing the error
/// (prefixed with `who`).
int load_account(const std::string& config_file, const std::string& name,
                 client::FetchConfig& config, const client::AccountConfig*& account,
                 const char* who);

}  // namespace popbox::cli
