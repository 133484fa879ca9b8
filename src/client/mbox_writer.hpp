#pragma once
// Appending one message to an mbox file: locked (flock for other threads
// and flock users, fcntl for mutt, Dovecot and procmail), a "From " line
// (with the envelope sender of the Return-Path: header when there is one),
// mboxrd quoting, LF line ends, a blank line after, fsync before unlock.
//
// Resuming: after a crash between writing and recording a message, the
// message may already be in the file at the recorded offset, complete or
// cut short. A writer opened with that offset compares instead of writing
// while the file's bytes match, and appends only what is missing.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "client/error.hpp"
#include "client/line_ends.hpp"
#include "store/unique_fd.hpp"

namespace popbox::client {

/// Opens (creating, mode 0600) and locks the mbox at `path` for appending;
/// waits up to 30 s for other holders of the lock.
Failure open_locked_mbox(const std::string& path, store::detail::UniqueFd& fd);
/// Unlocks and closes an mbox opened by open_locked_mbox().
void unlock_mbox(store::detail::UniqueFd& fd) noexcept;

/// One message in the stored form of an mbox: the "From " line, mboxrd
/// quoting, LF line ends and a blank line after (streaming; the start is
/// held back until the header names the envelope sender).
class MboxEncoder {
 public:
  /// `from_time` (unix seconds) goes into the "From " line.
  explicit MboxEncoder(std::int64_t from_time);
  /// Appends to `out` the stored form of the next `wire` bytes (CRLF ends).
  void encode(std::string_view wire, std::string& out);
  /// Appends the rest: the message is complete in `out`.
  void finish(std::string& out);

 private:
  void hold(std::string& out);
  void release(std::string& out);

  std::int64_t from_time_;
  bool from_written_ = false;
  std::string head_;  // the start of the message, until its header is complete
  CrlfToLf crlf_;
  FromQuoter quoter_;
  std::string lf_, quoted_;
};

class MboxWriter {
 public:
  /// Opens (creating) and locks `path`. `from_time` (unix seconds) goes
  /// into the "From " line. `resume` is the offset recorded by an earlier,
  /// interrupted attempt at this same message. Check `failure`.
  MboxWriter(const std::string& path, std::int64_t from_time, std::optional<std::uint64_t> resume,
             Failure& failure);
  ~MboxWriter();  ///< without commit: cuts the partial message off again, unlocks
  MboxWriter(const MboxWriter&) = delete;
  MboxWriter& operator=(const MboxWriter&) = delete;

  /// Where this message starts in the file: the intent token.
  std::uint64_t offset() const noexcept { return start_; }
  /// Appends message bytes in wire form (CRLF line ends).
  Failure write(std::string_view data);
  /// Ends the message, fsyncs and unlocks: it is durable on return.
  Failure commit();
  /// What resuming found (complete, completed, copied again), for the log;
  /// empty when there was nothing to resume.
  const std::string& note() const noexcept { return note_; }

 private:
  Failure emit(std::string_view bytes);
  Failure verify(std::string_view& bytes);
  Failure pwrite_all(std::string_view bytes);

  std::string path_;
  store::detail::UniqueFd fd_;
  std::uint64_t start_ = 0;  // offset of the "From " line
  std::uint64_t pos_ = 0;    // next byte of this message in the file
  std::uint64_t size_at_open_ = 0;
  bool verifying_ = false;
  bool committed_ = false;
  MboxEncoder encoder_;
  std::string out_;
  std::string note_;
};

/// The "From " line popbox writes: "From SENDER <asctime UTC>\n"; SENDER
/// is the envelope sender, MAILER-DAEMON when there is none.
std::string mbox_from_line(std::int64_t unix_time, std::string_view sender = "MAILER-DAEMON");

/// The envelope sender named by the first "Return-Path:" line of `head`
/// (a message header, LF line ends), or "" when there is none or it is
/// unusable in a "From " line; "<>" gives "MAILER-DAEMON".
std::string mbox_envelope_sender(std::string_view head);

}  // namespace popbox::client
