#pragma once
// Safe edits of a Dovecot passwd-file for `popbox user`. Every edit locks,
// reads, changes only the lines it must (all other bytes stay as they were),
// writes a temporary file in the same directory, fsyncs it and renames it over
// the original, so readers see either the old or the new file, never a mix.
//
// Concurrent editors serialise on flock(2) of "FILE.lock" next to the file.
// The lock file stays: deleting it would let two editors lock different files.

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace popbox::auth {

/// Why an edit failed; the CLI maps each kind to a sysexits.h code.
enum class EditErrc {
  no_file,       ///< the passwd-file does not exist
  user_exists,   ///< add: a line for that user name exists already
  no_such_user,  ///< passwd/del: no line for that user name
  invalid,       ///< a field cannot be written (':' in a name, newline, ...)
  permission,    ///< the OS refused access, or the owner cannot be kept
  io,            ///< any other read/write/rename failure
};

/// The exception every edit function throws; what() is a complete message.
class PasswdEditError : public std::runtime_error {
 public:
  /// Makes an error of kind `code` with the message `what`.
  PasswdEditError(EditErrc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  /// The kind of failure.
  EditErrc code() const noexcept { return code_; }

 private:
  EditErrc code_;
};

/// The fields add_user() writes. Empty strings and unset ids stay empty.
struct NewUser {
  std::string name;
  std::string password;  ///< stored form, e.g. hash_password() output
  std::optional<unsigned> uid, gid;
  std::string home;
  std::string extra;  ///< extra fields, space separated key=value
};

/// The passwd-file line for `user`, without newline and without trailing
/// empty fields. Throws PasswdEditError(invalid) naming the bad field.
std::string format_line(const NewUser& user);

/// `text` with a line for `user` appended. Throws user_exists if any line
/// (valid or not) already names that user.
std::string add_user_text(std::string_view text, const NewUser& user);

/// `text` with the password field of `user`'s effective line (the first valid
/// one, the one the server uses) replaced. Throws no_such_user.
std::string set_password_text(std::string_view text, std::string_view user,
                              std::string_view password);

/// `text` without any line naming `user`, so no duplicate can take over.
/// Throws no_such_user if there is none.
std::string delete_user_text(std::string_view text, std::string_view user);

/// Adds a user to `file`, creating it with mode 0600 if it does not exist.
void add_user(const std::filesystem::path& file, const NewUser& user);

/// Replaces the stored password of `user` in `file`.
void set_password(const std::filesystem::path& file, std::string_view user,
                  std::string_view password);

/// Removes `user` from `file`.
void delete_user(const std::filesystem::path& file, std::string_view user);

/// The user names defined in `file`, in file order; the loader's warnings go
/// to `warnings` if given. Throws PasswdEditError (no_file, permission, io).
std::vector<std::string> list_users(const std::filesystem::path& file,
                                    std::vector<std::string>* warnings = nullptr);

}  // namespace popbox::auth
