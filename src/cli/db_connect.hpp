#pragma once
// The database connection of the CLI verbs that work on PostgreSQL
// (`popbox db`, `popbox user --db`): [store] dsn of a server config.

#include <memory>
#include <stdexcept>
#include <string>

#include "store/postgres/connection.hpp"

namespace popbox::cli {

/// A failure with its sysexits code (EX_CONFIG, EX_TEMPFAIL, ...).
struct DbFailure : std::runtime_error {
  DbFailure(int code, const std::string& what) : std::runtime_error(what), code(code) {}
  int code;
};

/// Connects to the [store] dsn of `config_file`. Throws DbFailure:
/// EX_CONFIG for an unreadable config or one without a dsn, EX_TEMPFAIL
/// when PostgreSQL cannot be reached (with libpq's words).
std::unique_ptr<store::pg::Connection> connect_from_config(const std::string& config_file);

}  // namespace popbox::cli
