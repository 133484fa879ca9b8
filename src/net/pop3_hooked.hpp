#pragma once
// What the POP3 connection does at each Pop3Hooks occasion, kept out of
// pop3_connection.cpp: each call is one line there, and does nothing
// without hooks.

#include <asio/awaitable.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "net/pop3_hooks.hpp"
#include "pop3/session.hpp"
#include "store/mailbox.hpp"

namespace popbox::net {
namespace detail {

/// The outcome the session gets for a login `hooks` refuses, or `outcome`.
pop3::LoginOutcome hooked_login(Pop3Hooks* hooks, const std::string& user,
                                pop3::LoginOutcome outcome);

/// Waits as long as `hooks` asks before the session answers its next
/// command; returns at once without hooks.
asio::awaitable<void> hooked_delay(Pop3Hooks* hooks, const std::string& user);

/// Answers `line` as `session` would, except a DELE in the transaction
/// state that `hooks` refuses: that gets -ERR and marks nothing.
pop3::Step hooked_line(Pop3Hooks* hooks, pop3::Session& session, std::string_view line,
                       std::string& out);

/// For a RETR whose first `first_n` octets are already read from `reader`:
/// when `hooks` cuts it, shortens `first_n` and wraps `reader` so that it
/// fails once the cut is reached (the connection then drops, as after a
/// read error mid-message).
void hooked_retr(Pop3Hooks* hooks, const std::string& user,
                 std::unique_ptr<store::MessageReader>& reader, std::size_t& first_n);

}  // namespace detail
}  // namespace popbox::net
