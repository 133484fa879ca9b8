#pragma once
// Internal to the POP3 connection (pop3_connection.cpp): the login work that
// runs on the blocking pools, and the ticket that bounds how much of it may
// run at once. Not an interface for other modules.

#include <asio/awaitable.hpp>
#include <memory>
#include <string>

#include "auth/authenticator.hpp"
#include "net/server_state.hpp"
#include "pop3/session.hpp"
#include "store/mailbox.hpp"

namespace popbox::net::detail {

/// The result of checking credentials and opening the maildrop, computed on
/// the blocking pool.
struct LoginResult {
  pop3::LoginOutcome outcome = pop3::LoginOutcome::bad_credentials;
  std::unique_ptr<store::Mailbox> mailbox;
  std::string detail;  // for the log only
};

/// Checks the credentials of `user` (canonical name); call it on the auth
/// pool, never on the mail pool. `detail` says why a bearer token was
/// refused (for the log only).
auth::AuthResult verify_blocking(ServerState& st, const std::string& user,
                                 const pop3::Credentials& creds, const std::string& apop_timestamp,
                                 std::string& detail);

/// The entry of `user` if `creds` are a password the credential cache holds
/// for that user (auth::Authenticator::cached_login); null for a miss and
/// for every other kind of credentials. Runs on the calling event thread,
/// except about once a second a look at the passwd-file on the auth pool.
asio::awaitable<std::shared_ptr<const auth::UserInfo>> cached_login(ServerState& st,
                                                                    const std::string& user,
                                                                    const pop3::Credentials& creds);

/// Opens the maildrop of a user whose credentials were good, as the entry's
/// owner (`info`, or looked up when null); call it on the mail pool.
/// Operator problems come back as perm_failure, a locked maildrop as in_use.
LoginResult open_blocking(ServerState& st, const std::string& user,
                          const auth::UserInfo* info = nullptr);

/// A password check's place on the auth pool: at most limits::auth_queue_depth
/// in all and limits::auth_per_ip_concurrency per client key.
class AuthTicket {
 public:
  /// Takes a place for client key `key` if both bounds allow it.
  AuthTicket(ServerState& st, const std::string& key);
  ~AuthTicket();
  AuthTicket(const AuthTicket&) = delete;
  AuthTicket& operator=(const AuthTicket&) = delete;
  /// True if the check may run now.
  explicit operator bool() const { return granted_; }
  /// True if the place was refused because the key already has its share
  /// (worth waiting for), not because the whole queue is full.
  bool address_busy() const { return !slot_; }

 private:
  ServerState& st_;
  IpSlot slot_;
  bool granted_ = false;
};

/// The log name of a login outcome ("ok", "bad_credentials", ...).
const char* outcome_name(pop3::LoginOutcome o);

}  // namespace popbox::net::detail
