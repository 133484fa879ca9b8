#pragma once
// One POP3 client connection: a coroutine that only moves bytes between
// the socket (plain, STLS or implicit TLS) and the pure client Session, and
// hands the session's events to the Engine. Every read and write has a
// deadline (the account's `timeout`).

#include <asio/awaitable.hpp>
#include <atomic>

#include "client/engine.hpp"
#include "client/error.hpp"
#include "client/fetch_config.hpp"
#include "client/session.hpp"

namespace popbox::client {

/// Connects to the account's server and drives `session` to its end;
/// returns the failure that ended it, if any. Once `*stop` is true the
/// connection ends (without QUIT) at the next listing or message end, so
/// the message being written is finished and nothing more is started.
asio::awaitable<Failure> run_connection(const AccountConfig& account, Session& session,
                                        Engine& engine, const std::atomic<bool>* stop = nullptr);

}  // namespace popbox::client
