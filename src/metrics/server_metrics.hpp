#pragma once
// The series `popbox serve` exports (docs/metrics.md lists each with its
// labels). Every label set is fixed and made at construction; the calls
// below index arrays of handles by enum, so an event costs one or two
// relaxed atomic adds and nothing else.

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "lmtp/local_delivery.hpp"
#include "metrics/registry.hpp"
#include "pop3/session.hpp"

namespace popbox::metrics {

/// Where a session came in (the `listener` label).
enum class Listener { pop3, pop3s, lmtp };

/// The fixed set of POP3 commands counted by name; anything else is "other".
inline constexpr std::array<std::string_view, 15> pop3_commands = {
    "USER", "PASS", "APOP", "AUTH", "STLS", "CAPA", "QUIT", "STAT",
    "LIST", "UIDL", "RETR", "TOP",  "DELE", "NOOP", "RSET"};

/// The index in pop3_commands of the command `line` starts with (its first
/// word, any case); pop3_commands.size() ("other") when it is none of them.
std::size_t pop3_command_index(std::string_view line) noexcept;

/// The handles of every popbox series, and the calls that count events.
class ServerMetrics {
 public:
  using Duration = std::chrono::steady_clock::duration;

  /// Makes every series, all at zero (popbox_build_info at 1).
  ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  /// Counts a session of `l` open while the guard lives.
  class OpenSession {
   public:
    /// Counts one more open session of `l`.
    OpenSession(ServerMetrics& m, Listener l) : gauge_(m.open_[static_cast<int>(l)]) {
      gauge_->add(1);
    }
    /// Counts it closed.
    ~OpenSession() { gauge_->add(-1); }
    OpenSession(const OpenSession&) = delete;
    OpenSession& operator=(const OpenSession&) = delete;

   private:
    Gauge* gauge_;
  };

  /// A POP3 session ended (its disconnect log line): why, and its bytes.
  void pop3_ended(bool implicit_tls, pop3::CloseReason why, bool timed_out, std::uint64_t bytes_in,
                  std::uint64_t bytes_out) noexcept;
  /// A POP3 connection ended before its session began: its PROXY header
  /// was refused or missing (result "proxy"), or did not come in time
  /// ("timeout").
  void pop3_unidentified(bool implicit_tls, bool timed_out) noexcept {
    pop3_ended_[implicit_tls ? 1 : 0][timed_out ? 5 : 6]->inc();
  }
  /// A connection to `l` was refused before its session began: over
  /// max_connections (per_ip false) or max_connections_per_ip (true).
  void refused(Listener l, bool per_ip) noexcept {
    refused_[static_cast<int>(l)][per_ip ? 1 : 0]->inc();
  }
  /// An LMTP session ended (result "timeout" or "closed").
  void lmtp_ended(bool timed_out) noexcept;
  /// LMTP bytes read from or written to the client.
  void lmtp_bytes(std::uint64_t in, std::uint64_t out) noexcept {
    received_[2]->inc(in);
    sent_[2]->inc(out);
  }
  /// A POP3 command line (not a SASL continuation) was answered.
  void command(std::string_view line) noexcept { commands_[pop3_command_index(line)]->inc(); }
  /// A login attempt ended with `o` after `took` (penalty wait included).
  void login(pop3::Mechanism m, pop3::LoginOutcome o, Duration took) noexcept;
  /// A login was refused because its address is blocked (auth penalty).
  void penalty_block() noexcept { penalty_blocks_->inc(); }
  /// The verified-credentials cache was asked about a password.
  void auth_cache(bool hit) noexcept { (hit ? cache_hits_ : cache_misses_)->inc(); }
  /// A maildrop open (mail pool queue, lock, scan) took `took`.
  void maildrop_open(Duration took) noexcept { maildrop_open_->observe(seconds(took)); }
  /// A maildrop could not be locked: another session holds it ([IN-USE]).
  void maildrop_in_use() noexcept { in_use_->inc(); }
  /// A RETR (or TOP) reply was sent whole in `took`.
  void retr(bool top, Duration took) noexcept { retr_[top ? 1 : 0]->observe(seconds(took)); }
  /// A TLS handshake succeeded with protocol `ssl_version` (SSL_version()).
  void tls_handshake(int ssl_version) noexcept;
  /// A TLS handshake failed (or timed out).
  void tls_failure() noexcept { tls_failures_->inc(); }
  /// An LMTP RCPT was answered with `s`.
  void lmtp_recipient(lmtp::RcptStatus s) noexcept;
  /// An LMTP delivery to one recipient ended with `s`.
  void lmtp_delivery(lmtp::RcptStatus s) noexcept;

  /// Reads the process's resident memory and open descriptors from
  /// /proc/self into their gauges (called before each render).
  void sample_process() noexcept;
  /// The exposition in text format 0.0.4.
  std::string render() const { return registry_.render(); }
  /// The registry (for tests).
  const Registry& registry() const noexcept { return registry_; }

 private:
  static double seconds(Duration d) noexcept { return std::chrono::duration<double>(d).count(); }

  static constexpr std::size_t outcomes = 6;      // pop3::LoginOutcome
  static constexpr std::size_t rcpt_results = 5;  // lmtp::RcptStatus
  static constexpr std::size_t pop3_ends = 7;     // CloseReason's 4 + disconnected, timeout, proxy
  Registry registry_;
  std::array<Gauge*, 3> open_{};
  std::array<std::array<Counter*, pop3_ends>, 2> pop3_ended_{};
  std::array<Counter*, 2> lmtp_ended_{};
  std::array<std::array<Counter*, 2>, 3> refused_{};
  std::array<Counter*, 3> received_{}, sent_{};
  std::array<Counter*, pop3_commands.size() + 1> commands_{};
  std::array<std::array<Counter*, outcomes>, pop3::mechanism_count> logins_{};
  std::array<Histogram*, 2> login_seconds_{};  // ok, failed
  Counter* penalty_blocks_ = nullptr;
  Counter* cache_hits_ = nullptr;
  Counter* cache_misses_ = nullptr;
  Histogram* maildrop_open_ = nullptr;
  Counter* in_use_ = nullptr;
  std::array<Histogram*, 2> retr_{};
  std::array<Counter*, 4> tls_{};  // TLSv1.2, TLSv1.3, other... see tls_handshake()
  Counter* tls_failures_ = nullptr;
  std::array<Counter*, rcpt_results> rcpt_{}, deliveries_{};
  Counter* quota_refusals_ = nullptr;
  Gauge* rss_ = nullptr;
  Gauge* fds_ = nullptr;
};

/// The process's metrics, made on first use (before the server starts).
ServerMetrics& server();

}  // namespace popbox::metrics
