#pragma once
// Points where a POP3 connection lets the program that embeds the server
// change what a session does: `popbox sandbox` injects faults there
// (refused logins, slow replies, a RETR cut short, DELE refused). `popbox
// serve` sets none: a null pointer, one branch per occasion and nothing
// else. The calls run on the event threads and must not block. Plain
// types only, so an embedder needs neither Asio nor the POP3 session;
// the connection's side is net/pop3_hooked.hpp.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace popbox::net {

class Pop3Hooks {
 public:
  virtual ~Pop3Hooks() = default;

  enum class Login { go_on, temp_failure, in_use };
  /// Called once `user`'s credentials are right, before the maildrop
  /// opens: go_on, or the refusal the client gets instead ([SYS/TEMP] or
  /// [IN-USE]).
  virtual Login on_login(std::string_view user) = 0;
  /// How long the reply to the next command of `user`'s session waits ("":
  /// no user named yet).
  virtual std::chrono::milliseconds reply_delay(std::string_view user) = 0;
  /// After how many octets of the message a RETR of `user` drops the
  /// connection; nullopt: it sends the whole message.
  virtual std::optional<std::uint64_t> retr_cut(std::string_view user) = 0;
  /// Whether a DELE of `user` answers -ERR (the message stays).
  virtual bool refuse_dele(std::string_view user) = 0;
};

}  // namespace popbox::net
