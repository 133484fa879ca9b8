#pragma once
// A Dovecot passwd-file, read as Dovecot reads it:
//   user:password:uid:gid:gecos:home:shell:extra_fields
// Only user and password are required; the rest of the line after the 7th
// colon is the extra fields, colons included.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace popbox::auth {

/// One valid line of a passwd-file.
struct PasswdEntry {
  std::string user;
  std::string password;  ///< as written, e.g. "{SHA512-CRYPT}$6$..."; may be empty
  std::optional<unsigned> uid, gid;
  std::string gecos, home, shell;
  std::string extra;     ///< extra fields verbatim (space separated key=value)
  std::size_t line = 0;  ///< 1-based line number in the file
};

/// The parsed contents of a passwd-file. Immutable once built, so one
/// instance can be shared by many threads.
class PasswdFile {
 public:
  PasswdFile() = default;
  ~PasswdFile();
  PasswdFile(PasswdFile&&) = default;
  PasswdFile& operator=(PasswdFile&& other) noexcept;
  PasswdFile(const PasswdFile&) = delete;
  PasswdFile& operator=(const PasswdFile&) = delete;

  /// Reads and parses `path`. Throws std::runtime_error naming the file if it
  /// cannot be read; bad lines are skipped and listed in warnings().
  static PasswdFile load(const std::filesystem::path& path);

  /// Parses file contents; `name` is used in warnings ("NAME:LINE: reason").
  static PasswdFile parse(std::string_view text, std::string_view name);

  /// The entry for `user` (exact, case-sensitive match), or nullptr.
  const PasswdEntry* find(std::string_view user) const;

  /// All valid entries in file order; for duplicates only the first.
  const std::vector<PasswdEntry>& entries() const { return entries_; }

  /// "NAME:LINE: reason" for each skipped line, duplicate or dubious entry.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  std::vector<PasswdEntry> entries_;
  std::map<std::string, std::size_t, std::less<>> index_;  ///< user -> entries_ position
  std::vector<std::string> warnings_;

  void wipe_passwords() noexcept;
};

/// True when some entry names a uid other than `uid` or a gid other than
/// `gid`: its mailbox is then accessed with ids the server user lacks.
bool has_other_owner(const PasswdFile& file, unsigned uid, unsigned gid);

/// The first field of a passwd-file line (the user name), or an empty view for
/// blank and comment lines. Shared with the editor so both agree on names.
std::string_view passwd_line_user(std::string_view line);

}  // namespace popbox::auth
