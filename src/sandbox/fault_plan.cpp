#include "sandbox/fault_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "core/limits.hpp"

namespace popbox::sandbox {
namespace {

Fault::Kind kind_of(SmtpStage stage) {
  switch (stage) {
    case SmtpStage::mail:
      return Fault::Kind::smtp_mail;
    case SmtpStage::rcpt:
      return Fault::Kind::smtp_rcpt;
    case SmtpStage::data:
      break;
  }
  return Fault::Kind::smtp_data;
}

bool fires(const Fault& f, const RandomSource& random) {
  if (f.probability >= 1.0) return true;
  if (f.probability <= 0.0) return false;
  return random() < f.probability;
}

}  // namespace

RandomSource default_random() {
  return [] {
    thread_local std::mt19937_64 engine{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
  };
}

SmtpFaultOutcome decide_smtp(const std::vector<Fault>& faults, SmtpStage stage,
                             const RandomSource& random) {
  SmtpFaultOutcome out;
  const Fault::Kind kind = kind_of(stage);
  for (const Fault& f : faults) {
    if (f.kind == Fault::Kind::smtp_delay && fires(f, random)) {
      out.delay = std::min<std::chrono::milliseconds>(out.delay + f.delay, limits::max_fault_delay);
    } else if (f.kind == kind && out.refusal.empty() && fires(f, random)) {
      out.refusal = smtp_fault_reply(f.smtp_code);
    }
  }
  return out;
}

Pop3FaultOutcome decide_pop3(const std::vector<Fault>& faults, Pop3Occasion occasion,
                             const RandomSource& random) {
  using Kind = Fault::Kind;
  Pop3FaultOutcome out;
  for (const Fault& f : faults) {
    switch (occasion) {
      case Pop3Occasion::login:
        if (out.login == Pop3FaultOutcome::Login::go_on &&
            (f.kind == Kind::pop3_login_temp || f.kind == Kind::pop3_login_in_use) &&
            fires(f, random)) {
          out.login = f.kind == Kind::pop3_login_temp ? Pop3FaultOutcome::Login::temp_failure
                                                      : Pop3FaultOutcome::Login::in_use;
        }
        break;
      case Pop3Occasion::reply:
        if (f.kind == Kind::pop3_delay && fires(f, random)) {
          out.delay =
              std::min<std::chrono::milliseconds>(out.delay + f.delay, limits::max_fault_delay);
        }
        break;
      case Pop3Occasion::retr:
        if (f.kind == Kind::pop3_drop_retr && fires(f, random)) {
          out.retr_cut = std::min(out.retr_cut.value_or(f.after_octets), f.after_octets);
        }
        break;
      case Pop3Occasion::dele:
        if (f.kind == Kind::pop3_dele_error && !out.dele_error && fires(f, random)) {
          out.dele_error = true;
        }
        break;
    }
  }
  return out;
}

std::string smtp_fault_reply(int code) {
  if (code < 400 || code > 599) code = 451;
  const int cls = code / 100;
  return fmt::format("{} {}.3.0 Fault injected by popbox sandbox", code, cls);
}

std::string validate_fault(const Fault& fault) {
  if (!(fault.probability >= 0.0 && fault.probability <= 1.0)) {
    return "probability must be between 0 and 1";
  }
  if (fault.smtp_code < 400 || fault.smtp_code > 599) return "smtp_code must be 4xx or 5xx";
  if (fault.delay.count() < 0 || fault.delay > limits::max_fault_delay) {
    return fmt::format("delay_ms must be between 0 and {}", limits::max_fault_delay.count());
  }
  return "";
}

}  // namespace popbox::sandbox
