#include "sandbox/smtp_backend.hpp"

#include "sandbox/inbox_meta.hpp"

namespace popbox::sandbox {

HubSmtpBackend::HubSmtpBackend(InboxHub& hub, bool strict, RandomSource random)
    : hub_(hub), strict_(strict), random_(std::move(random)) {}

bool HubSmtpBackend::check_credentials(std::string_view user, std::string_view password) {
  return hub_.password_matches(user, password, strict_);
}

smtp::Decision HubSmtpBackend::decide(std::string_view address, SmtpStage stage) {
  SmtpFaultOutcome f = decide_smtp(hub_.faults_for_address(address), stage, random_);
  return {std::move(f.refusal), f.delay};
}

smtp::Decision HubSmtpBackend::on_mail(std::string_view, std::string_view user) {
  // MAIL faults belong to the inbox the session AUTHed as.
  if (user.empty()) return {};
  return decide(user, SmtpStage::mail);
}

smtp::Decision HubSmtpBackend::on_rcpt(std::string_view recipient, std::string_view) {
  if (!detail::normalize_address(recipient)) {
    return {"553 5.1.3 This address cannot name an inbox", {}};
  }
  return decide(recipient, SmtpStage::rcpt);
}

smtp::Decision HubSmtpBackend::on_data(const std::vector<std::string>& recipients,
                                       std::string_view) {
  smtp::Decision out;
  for (const auto& r : recipients) {
    smtp::Decision d = decide(r, SmtpStage::data);
    out.delay = std::max(out.delay, d.delay);
    if (out.refusal.empty()) out.refusal = std::move(d.refusal);
  }
  return out;
}

smtp::Delivered HubSmtpBackend::deliver(std::string_view sender,
                                        const std::vector<std::string>& recipients,
                                        const core::Spool& body) {
  Delivery d = hub_.deliver(sender, recipients, body);
  if (d.stored.empty()) return {"451 4.3.0 Could not store the message, try again later", ""};
  return {"", d.stored.front().id};
}

}  // namespace popbox::sandbox
