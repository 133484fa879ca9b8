#pragma once
// Which injected faults fire on one occasion, decided by pure code: the
// probability draw goes through an injectable random source, so tests
// choose the outcome. Drivers (SMTP, POP3) ask, then act on the answer.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
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

/// The POP3 occasions faults can hit.
enum class Pop3Occasion {
  login,  ///< the credentials were right, the maildrop is about to open
  reply,  ///< a reply is about to go out
  retr,   ///< a RETR is about to send its message
  dele,   ///< a DELE is about to mark its message
};

/// What a POP3 occasion should do (only the field of the occasion is set).
struct Pop3FaultOutcome {
  enum class Login { go_on, temp_failure, in_use };
  Login login = Login::go_on;             ///< login: refuse with [SYS/TEMP] or [IN-USE]
  std::chrono::milliseconds delay{0};     ///< reply: wait this long first
  std::optional<std::uint64_t> retr_cut;  ///< retr: close after this many message octets
  bool dele_error = false;                ///< dele: answer -ERR
};

/// Decides the faults of `faults` for `occasion`: each fault of that
/// occasion's kind fires with its probability; at login the first refusal
/// wins, delays add up to at most limits::max_fault_delay, and of several
/// RETR cuts the smallest wins.
Pop3FaultOutcome decide_pop3(const std::vector<Fault>& faults, Pop3Occasion occasion,
                             const RandomSource& random);

/// The reply line of an injected SMTP fault with `code` (4xx or 5xx).
std::string smtp_fault_reply(int code);

/// Checks a fault as the API accepts it: probability in [0, 1], smtp_code
/// 400-599, delay within limits::max_fault_delay. Returns "" or why not.
std::string validate_fault(const Fault& fault);

}  // namespace popbox::sandbox
