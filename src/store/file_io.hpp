#pragma once
// Small, careful file helpers shared by the files popbox keeps in a Maildir
// (popbox-index, popbox-uidls) and the files it reads from other servers
// (dovecot-uidlist, courierpop3dsizelist). The Maildir is writable by its
// user, so nothing here follows a symlink or trusts a size.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace popbox::store::detail {

/// errno as a std::error_code.
std::error_code last_error() noexcept;

/// Reads the regular file `name` in `dir_fd` whole into `out`. Never follows
/// a symlink (store_errc::unsafe_path). Errors: ENOENT when missing, EFBIG above `max_bytes`,
/// EINVAL for something that is not a regular file, else the errno.
std::error_code read_whole_file(int dir_fd, const char* name, std::uint64_t max_bytes,
                                std::string& out);

/// Writes all of `data` to `fd`, retrying short writes and EINTR.
std::error_code write_all(int fd, std::string_view data);

/// Replaces `name` in `dir_fd` with `data` atomically and durably: writes
/// `tmp_name` (mode 0600), fsyncs it, renames it over `name`, fsyncs the
/// directory. On failure `name` is untouched and the tmp file removed.
std::error_code replace_file(int dir_fd, const char* name, const char* tmp_name,
                             std::string_view data);

/// Appends `data` to the existing regular file `name` and fsyncs it.
std::error_code append_file(int dir_fd, const char* name, std::string_view data);

/// Appends `s` with bytes <= 0x20, 0x7F and '%' written as %XX (upper hex),
/// so a Maildir name becomes one space-free token of a text line.
void append_escaped(std::string& out, std::string_view s);

/// The strict inverse of append_escaped; nullopt for any other spelling.
std::optional<std::string> unescape(std::string_view s);

/// True for a usable Maildir BASE: not empty, no leading '.', no ':' '/' NUL.
bool valid_base(std::string_view base) noexcept;

}  // namespace popbox::store::detail
