#pragma once
// What the LMTP (RFC 2033) and ESMTP (RFC 5321) receivers share, as pure
// code: splitting a command line, the MAIL/RCPT path and parameter syntax
// (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 4954 AUTH=), the
// mail transaction's state, and the bad-command count that ends a session.
// No I/O: both sessions and their fuzzers use it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace popbox::smtp {

/// ASCII upper case of `s`.
std::string upper(std::string_view s);

/// A command line split at its first space: the verb in upper case and
/// everything after the space ("" when there is none).
struct CommandLine {
  std::string verb;
  std::string_view args;
};
/// Splits `line` (CRLF removed); `args` views into `line`.
CommandLine split_command(std::string_view line);

/// Which MAIL parameters a receiver accepts beyond SIZE and BODY.
struct ParamRules {
  std::uint64_t max_message_size = 0;
  bool smtputf8 = false;    ///< SMTPUTF8 (RFC 6531) is advertised
  bool auth_param = false;  ///< AUTH=<mailbox> (RFC 4954 section 5) is accepted and ignored
};

/// The MAIL FROM parameters that were given.
struct MailParams {
  std::uint64_t size = 0;  ///< SIZE=, 0 when absent
  bool eight_bit = false;  ///< BODY=8BITMIME
  bool smtputf8 = false;
};

/// Parses the arguments of MAIL ("FROM:<path> PARAM=V ..."). Returns ""
/// when they are good (then `sender` and `params` are set), else the
/// error reply without CRLF.
std::string_view parse_mail(std::string_view args, const ParamRules& rules, std::string& sender,
                            MailParams& params);

/// Parses the arguments of RCPT ("TO:<path>"; no parameters are accepted).
/// Returns "" when they are good (then `recipient` is set, never empty),
/// else the error reply without CRLF.
std::string_view parse_rcpt(std::string_view args, std::string& recipient);

/// One mail transaction: MAIL opens it, RCPTs add to it, the end of DATA,
/// RSET or a new greeting close it.
struct Transaction {
  bool active = false;
  std::string sender;
  MailParams params;
  std::vector<std::string> recipients;  ///< accepted ones, in order
  std::string pending_rcpt;             ///< the RCPT being checked

  /// Back to no transaction.
  void reset();
};

/// Answers the verbs SMTP and LMTP treat alike: RSET (ends `tx`), NOOP,
/// QUIT and VRFY (252). nullopt for any other verb, else whether the
/// session must close now (after QUIT).
std::optional<bool> answer_common(std::string_view verb, std::string_view hostname, Transaction& tx,
                                  std::string& out);

/// Counts bad commands: each error reply is written, and the one that
/// reaches the bound is followed by a 421 and the end of the session.
class ErrorCount {
 public:
  explicit ErrorCount(int max) : max_(max) {}
  /// Appends `reply` + CRLF; true when the session must close now (the 421
  /// is appended too).
  bool add(std::string_view reply, std::string& out);
  int count() const noexcept { return errors_; }

 private:
  int max_;
  int errors_ = 0;
};

}  // namespace popbox::smtp
