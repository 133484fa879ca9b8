#pragma once
// Which injected faults fire on one occasion, decided by pure code: the
// probability draw goes through an injectable random source, so tests
// choose the outcome. Drivers (SMTP, POP3) ask, then act on the answer.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "sandbox/hub.hpp"

namespace popbox::sandbox {

/// Draws a number in [0, 1); the default is a thread-local PRNG.
using RandomSource = std::function<double()>;
/// A RandomSource seeded from the OS.
RandomSource default_random();

/// What an SMTP stage should do.
struct SmtpFaultOutcome {
  std::string refusal;                 ///< "" or the whole reply line (no CRLF)
  std::chrono::milliseconds delay{0};  ///< wait this long before replying
};

/// The SMTP stages faults can hit.
enum class SmtpStage { mail, rcpt, data };

/// Decides the faults of `faults` for `stage`: each fault of that stage's
/// kind (and smtp_delay) fires with its probability; the first refusal wins
/// and the delays add up to at most limits::max_fault_delay.
SmtpFaultOutcome decide_smtp(const std::vector<Fault>& faults, SmtpStage stage,
                             const RandomSource& random);

/// The reply line of an injected SMTP fault with `code` (4xx or 5xx).
std::string smtp_fault_reply(int code);

/// Checks a fault as the API accepts it: probability in [0, 1], smtp_code
/// 400-599, delay within limits::max_fault_delay. Returns "" or why not.
std::string validate_fault(const Fault& fault);

}  // namespace popbox::sandbox
