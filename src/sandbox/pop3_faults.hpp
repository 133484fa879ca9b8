#pragma once
// The POP3 faults of the sandbox's inboxes (set through the API) acted on
// by net::Server's sessions: each hook reads the faults of the session's
// inbox and lets decide_pop3() draw them, per occasion.

#include "net/pop3_hooks.hpp"
#include "sandbox/fault_plan.hpp"
#include "sandbox/inbox_hub.hpp"

namespace popbox::sandbox {

class Pop3Faults final : public net::Pop3Hooks {
 public:
  /// The faults of `hub`'s inboxes (the hub must outlive this).
  explicit Pop3Faults(const InboxHub& hub, RandomSource random = default_random())
      : hub_(hub), random_(std::move(random)) {}

  /// pop3_login_temp / pop3_login_in_use of the inbox of `user`.
  Login on_login(std::string_view user) override;
  /// pop3_delay of the inbox of `user` (none before a user is named).
  std::chrono::milliseconds reply_delay(std::string_view user) override;
  /// pop3_drop_retr of the inbox of `user`.
  std::optional<std::uint64_t> retr_cut(std::string_view user) override;
  /// pop3_dele_error of the inbox of `user`.
  bool refuse_dele(std::string_view user) override;

 private:
  Pop3FaultOutcome decide(std::string_view user, Pop3Occasion occasion) const;

  const InboxHub& hub_;
  RandomSource random_;
};

}  // namespace popbox::sandbox
