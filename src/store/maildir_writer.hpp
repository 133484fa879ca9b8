#pragma once
// Writing one new message into a Maildir the crash-safe way: tmp/ -> write
// -> fsync -> link/rename into new/ -> fsync new/. A message is either fully
// in new/ or not there at all; shared by deliver, LMTP and fetch.

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "store/maildir_layout.hpp"
#include "store/unique_fd.hpp"

namespace popbox::store {

class MaildirWriter {
 public:
  /// Starts a message in `maildir` (its new/, cur/, tmp/ are created if
  /// missing). Check ec before writing: store_errc::unsafe_path when one of
  /// them is a symlink (nothing is written then), else the errno.
  MaildirWriter(const std::string& maildir, std::error_code& ec);
  ~MaildirWriter();  ///< removes the tmp/ file unless commit() succeeded
  MaildirWriter(const MaildirWriter&) = delete;
  MaildirWriter& operator=(const MaildirWriter&) = delete;

  /// Like the constructor above, but with a base name the caller chose
  /// earlier (see base_name()), e.g. one recorded before the message was
  /// written so that a crash can be recovered from. It must be unique.
  MaildirWriter(const std::string& maildir, const std::string& base, std::error_code& ec);

  /// Appends bytes to the message.
  std::error_code write(std::string_view data);
  /// Makes the message durable and visible in new/; returns its file name.
  std::error_code commit(std::string* name = nullptr);
  /// Like commit(), but leaves the fsync of new/ to the caller: the file
  /// is durable and visible in new/, its directory entry becomes durable
  /// with the next sync_new_dir(). Lets a caller make a batch of messages
  /// durable with one directory fsync.
  std::error_code commit_deferred(std::string* name = nullptr);
  /// fsyncs new/ of this writer's Maildir.
  std::error_code sync_new_dir();
  /// Octets written so far.
  std::uint64_t size() const noexcept { return size_; }
  /// The message's unique base name, chosen before anything is written:
  /// the file becomes new/<base>,S=<size>, and keeps <base> as its prefix
  /// when a reader moves it to cur/ and adds flags. Lets a caller record
  /// the name first and find the message again after a crash.
  const std::string& base_name() const noexcept { return unique_; }
  /// Says the caller counts this message in popbox-usage itself (the
  /// Store's delivery does). Otherwise (popbox fetch) commit drops that
  /// file, so the next Store::usage() counts the Maildir again.
  void set_counted() noexcept { counted_ = true; }
  /// The Maildir's open directories (for the usage counter).
  const detail::MaildirDirs& dirs() const noexcept { return dirs_; }

 private:
  std::string maildir_;
  std::string unique_;  // the base name without the ,S= size
  detail::MaildirDirs dirs_;
  detail::UniqueFd fd_;
  bool in_tmp_ = false;  // our file exists in tmp/
  std::uint64_t size_ = 0;
  bool committed_ = false;
  bool counted_ = false;
};

/// fsyncs `maildir`/new: makes the entries of commit_deferred() durable.
std::error_code sync_new_dir(const std::string& maildir);

/// A new unique Maildir base name: "SECONDS.M<usec>P<pid>Q<n>.HOST" (the
/// Dovecot style), unique across processes and within this one.
std::string new_maildir_base();

}  // namespace popbox::store
