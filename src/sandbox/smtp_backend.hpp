#pragma once
// The SMTP receiver's backend in the sandbox: catch-all delivery into
// InboxHub, strict AUTH against the inboxes' passwords, and the inboxes'
// injected SMTP faults (decided by fault_plan with an injectable random
// source).

#include "sandbox/fault_plan.hpp"
#include "sandbox/inbox_hub.hpp"
#include "smtp/backend.hpp"

namespace popbox::sandbox {

class HubSmtpBackend final : public smtp::Backend {
 public:
  /// `strict`: AUTH needs the inbox's own password (see InboxHub::password_matches).
  HubSmtpBackend(InboxHub& hub, bool strict, RandomSource random = default_random());

  bool check_credentials(std::string_view user, std::string_view password) override;
  smtp::Decision on_mail(std::string_view sender, std::string_view user) override;
  smtp::Decision on_rcpt(std::string_view recipient, std::string_view user) override;
  smtp::Decision on_data(const std::vector<std::string>& recipients,
                         std::string_view user) override;
  smtp::Delivered deliver(std::string_view sender, const std::vector<std::string>& recipients,
                          const core::Spool& body) override;

 private:
  smtp::Decision decide(std::string_view address, SmtpStage stage);

  InboxHub& hub_;
  bool strict_;
  RandomSource random_;
};

}  // namespace popbox::sandbox
