#pragma once
// What an SMTP connection asks of whoever receives the mail (the sandbox's
// inboxes): credentials, per-stage decisions (injected faults), delivery.
// Pure interface, no I/O types, so drivers and tests share it.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/spool.hpp"

namespace popbox::smtp {

/// The answer for one stage: accept (refusal "") or the reply line to send
/// instead, and how long to wait before replying.
struct Decision {
  std::string refusal;
  std::chrono::milliseconds delay{0};
};

/// The outcome of a delivery: refusal "" and the queue id, or the reply.
struct Delivered {
  std::string refusal;
  std::string queue_id;
};

class Backend {
 public:
  virtual ~Backend() = default;
  /// Whether `password` is right for `user` (strict AUTH). May block.
  virtual bool check_credentials(std::string_view user, std::string_view password) = 0;
  /// MAIL FROM `sender` in a session AUTHed as `user` ("" if not). Never blocks.
  virtual Decision on_mail(std::string_view sender, std::string_view user) = 0;
  /// RCPT TO `recipient`. Never blocks.
  virtual Decision on_rcpt(std::string_view recipient, std::string_view user) = 0;
  /// The end of DATA for `recipients`, before delivery. Never blocks.
  virtual Decision on_data(const std::vector<std::string>& recipients, std::string_view user) = 0;
  /// Stores the message for every recipient. May block.
  virtual Delivered deliver(std::string_view sender, const std::vector<std::string>& recipients,
                            const core::Spool& body) = 0;
};

}  // namespace popbox::smtp
