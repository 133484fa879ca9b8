#pragma once
// Appending one message to an mbox file: locked (flock for other threads
// and flock users, fcntl for mutt, Dovecot and procmail), in the stored
// form of client/mbox_encoder.hpp, fsync before unlock.
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
#include "client/mbox_encoder.hpp"
#include "store/unique_fd.hpp"

namespace popbox::client {

/// Opens (creating, mode 0600) and locks the mbox at `path` for appending;
/// waits up to 30 s for other holders of the lock.
Failure open_locked_mbox(const std::string& path, store::detail::UniqueFd& fd);
/// Unlocks and closes an mbox opened by open_locked_mbox().
void unlock_mbox(store::detail::UniqueFd& fd) noexcept;

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

}  // namespace popbox::client
