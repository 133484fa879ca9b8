#pragma once
// A locked snapshot of one Maildir: the Mailbox the POP3 session works on.

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "store/mailbox.hpp"
#include "store/maildir_layout.hpp"
#include "store/maildir_scan.hpp"
#include "store/maildir_snapshot.hpp"
#include "store/maildrop_lock.hpp"
#include "store/uidl_assign.hpp"
#include "store/uidl_format.hpp"

namespace popbox::store {

/// How MaildirMailbox::load treats UIDLs (docs/uidl.md).
struct MaildirOptions {
  enum class Mode : std::uint8_t {
    serve,    ///< a POP3 session: adopt while allowed, record, end adoption
    import,   ///< `popbox uidl import`: adopt and record, report; adoption stays open
    dry_run,  ///< like import, but writes nothing at all
  };
  Mode mode = Mode::serve;
  /// The format Dovecot showed UIDLs in; null means Dovecot 2.x's default.
  std::shared_ptr<const UidlFormat> uidl_format;
  /// `[mail] uidl_adopt_x_uidl`: an X-UIDL header may be adopted. Reports
  /// (import, dry_run) show X-UIDL headers either way.
  bool adopt_x_uidl = false;
};

/// Per message, for `popbox uidl import` (modes import and dry_run only).
struct UidlReportEntry {
  std::string base;
  UidlSource source = UidlSource::name;           ///< what decided the UIDL popbox shows
  UidlSource previous_source = UidlSource::name;  ///< earlier server that knew it (name: none)
  std::string previous;                           ///< the UIDL that server showed, "" if none
  bool rejected = false;                          ///< previous is not a valid UIDL
  bool renamed = false;                           ///< popbox added a suffix to keep it unique
  /// The message's X-UIDL header, if any: what Dovecot showed instead when
  /// it ran with pop3_reuse_xuidl = yes (popbox cannot know that).
  std::string x_uidl;
};

/// How the snapshot was built; for tests, benchmarks and logs.
struct MaildirOpenStats {
  enum class Index { missing, invalid, loaded };
  Index index = Index::missing;           ///< what was found on disk at open
  std::size_t sizes_from_index = 0;       ///< messages whose size the index gave
  std::size_t sizes_measured = 0;         ///< messages read to compute the size
  std::size_t index_entries_dropped = 0;  ///< index entries whose file is gone
  bool index_written = false;             ///< a new index was written at open
  /// new/ and cur/ were listed; false: popbox-snapshot was trusted (warm).
  bool listed = true;
  bool snapshot_written = false;      ///< a new popbox-snapshot was written at open
  std::error_code index_write_error;  ///< why writing it failed (not fatal)

  bool adoption_open = false;         ///< popbox-uidls allowed adopting at open
  std::size_t uidls_recorded = 0;     ///< UIDLs taken from popbox-uidls
  std::size_t uidls_adopted = 0;      ///< UIDLs taken from an earlier server now
  std::size_t uidls_rejected = 0;     ///< earlier servers' values unusable as UIDLs
  std::size_t uidls_renamed = 0;      ///< UIDLs suffixed to stay unique
  std::size_t uidls_written = 0;      ///< entries added to popbox-uidls
  std::size_t source_bad_lines = 0;   ///< malformed lines in the UIDL files read
  std::error_code uidls_write_error;  ///< why recording failed (not fatal)
};

/// The Maildir Mailbox. Holds the maildrop lock while it lives, but no
/// descriptor: the Maildir is opened again (and checked to be the same
/// directory) when a message is read or the session commits. Files are
/// named by BASE so renames by others are followed.
class MaildirMailbox final : public Mailbox {
 public:
  /// Opens the Maildir at `path` (created if missing), locks it, and takes
  /// the snapshot. ec: store_errc::in_use when locked elsewhere, else errno.
  static std::unique_ptr<MaildirMailbox> load(const std::string& path, std::error_code& ec);
  /// Same, with `options` (mode and UIDL format). ec also reports a UIDL file
  /// (popbox-uidls, or an earlier server's while adoption is open) that
  /// exists but cannot be read: showing UIDLs without it could change them.
  static std::unique_ptr<MaildirMailbox> load(const std::string& path, std::error_code& ec,
                                              const MaildirOptions& options);

  /// The messages in session order (message number = index + 1).
  const std::vector<MessageInfo>& messages() const override { return messages_; }
  /// Opens message `index`, following it if another program renamed it;
  /// store_errc::message_gone if it no longer exists. Throws std::out_of_range
  /// for an index outside messages().
  std::unique_ptr<MessageReader> open(std::size_t index, std::error_code& ec) override;
  /// open() for an event thread: the Maildir and "cur/NAME" opened with
  /// RESOLVE_CACHED (path lookups from the dentry cache only, never a disk
  /// read) and the same checks; any failure, a moved file included, is left
  /// to open() on the pool.
  std::unique_ptr<MessageReader> try_open_nowait(std::size_t index) override;
  /// Unlinks `deleted`, marks `retrieved` seen (new/ -> cur/ "BASE:2,S", or
  /// 'S' added to the flags), fsyncs new/ and cur/. Messages already gone
  /// count as done; returns the first error after trying everything.
  std::error_code commit(std::span<const std::size_t> deleted,
                         std::span<const std::size_t> retrieved) override;
  /// True for a message in cur/ whose name carries the S flag.
  bool seen(std::size_t index) const override;

  /// Heap bytes this object holds (itself, its vectors' capacities, the
  /// strings outside their inline buffers), without malloc's own overhead.
  std::size_t heap_bytes() const noexcept;
  /// How open built the snapshot.
  const MaildirOpenStats& stats() const noexcept { return stats_; }
  /// The file of message `index` as last seen (name, subdirectory, mtime),
  /// for reports such as `popbox mailbox stat` and `expunge`. Throws
  /// std::out_of_range for an index outside messages().
  detail::ScannedFile message_file(std::size_t index) const { return file_of(entries_.at(index)); }
  /// The Maildir directory.
  const std::string& path() const noexcept { return path_; }
  /// Where each message's UIDL came from, in session order; filled in the
  /// import and dry_run modes only.
  const std::vector<UidlReportEntry>& uidl_report() const noexcept { return report_; }

 private:
  // One message, 40 bytes: where it was last seen (its file name is kept,
  // NUL-terminated, in names_), and its sizes.
  struct Entry {
    std::uint32_t name_at = 0;  // offset of the name in names_
    std::uint16_t name_len = 0;
    std::uint16_t base_len = 0;
    detail::Subdir dir = detail::Subdir::new_dir;
    bool removed = false;  // unlinked by commit, or found gone
    std::int64_t mtime_ns = 0;
    std::uint64_t file_size = 0;
    std::uint64_t crlf_size = 0;
  };

  std::string_view name_of(const Entry& e) const noexcept {
    return {names_.data() + e.name_at, e.name_len};
  }
  const char* c_name(const Entry& e) const noexcept { return names_.data() + e.name_at; }
  std::string_view base_of(const Entry& e) const noexcept {
    return {names_.data() + e.name_at, e.base_len};
  }
  // Points `e` at `file`'s name (appended to names_) and takes its sizes.
  void set_file(Entry& e, const detail::ScannedFile& file);
  detail::ScannedFile file_of(const Entry& e) const;

  struct UidlSources;  // what earlier servers left, see maildir_uidls.cpp

  MaildirMailbox() = default;
  std::error_code build_snapshot();
  bool use_snapshot(const detail::SnapshotStamps& now);
  void write_snapshot_now(detail::SnapshotStamps now);
  std::error_code reopen_dirs(bool subdirs);
  std::error_code read_uidl_sources(const std::vector<detail::ScannedFile>& files,
                                    UidlSources& src);
  std::error_code look_for_x_uidl(std::size_t file, const detail::ScannedFile& f,
                                  const detail::HeaderCollector* measured, UidlSources& src);
  void choose_uidls(UidlSources& src, const std::vector<std::size_t>& file_of_entry);
  void write_index_now(std::error_code& write_error);
  std::error_code relocate();
  std::error_code remove_duplicates(std::string_view base, Usage& removed);

  std::string path_;
  dev_t root_dev_ = 0;  // the Maildir that was locked
  ino_t root_ino_ = 0;
  detail::MaildirDirs dirs_;  // open only within load, open and commit
  detail::MaildropLock lock_;
  std::vector<Entry> entries_;
  std::string names_;  // the file names of entries_, each followed by a NUL
  // Second copies of a BASE (a link()+unlink() move cut short leaves one in
  // new/): deleting the message must delete them too, or it comes back.
  std::vector<detail::ScannedFile> duplicates_;
  std::vector<MessageInfo> messages_;
  MaildirOpenStats stats_;
  MaildirOptions options_;
  std::vector<UidlReportEntry> report_;
};

}  // namespace popbox::store
