// Snapshot parsing is defensive like the index's: the file sits in a
// directory the mail user can write.
#include "store/maildir_snapshot.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <climits>

#include "core/limits.hpp"
#include "store/checked_text.hpp"
#include "store/file_io.hpp"
#include "store/maildir_name.hpp"

namespace popbox::store::detail {
namespace {

constexpr std::string_view header = "popbox-snapshot 1\n";
constexpr std::string_view stamps_tag = "stamps ";
constexpr std::size_t name_max = NAME_MAX;  // no longer file name exists

// First 8 bytes of SHA-256, as a number (SHA-NI makes it cheaper than a
// byte-wise hash here). Zero if the digest fails, which no valid file has.
std::uint64_t checksum(std::string_view data) noexcept {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1 || len < 8) {
    return 0;
  }
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | digest[i];
  return v;
}

// Reads one number from `s` followed by `end` and advances past it.
template <typename T>
bool take_number(std::string_view& s, T& value, char end = ' ') {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr == s.data() || ptr == s.data() + s.size() || *ptr != end) {
    return false;
  }
  s.remove_prefix(static_cast<std::size_t>(ptr - s.data()) + 1);
  return true;
}

bool take_stamp(std::string_view& s, FileStamp& st, char end = ' ') {
  return take_number(s, st.mtime_ns) && take_number(s, st.ino) && take_number(s, st.size, end);
}

void append_number(std::string& out, auto v, char end = ' ') {
  char num[24];
  auto res = std::to_chars(num, num + sizeof num, v);
  out.append(num, res.ptr);
  out += end;
}

void append_stamp(std::string& out, const FileStamp& st, char end = ' ') {
  append_number(out, st.mtime_ns);
  append_number(out, st.ino);
  append_number(out, st.size, end);
}

// Sets file.name and file.base_len from an escaped name token: a message
// name (no '/', not a dotfile) with a valid BASE. One pass over the bytes for
// the usual name without escapes: this runs once per message of a warm open.
bool take_name(std::string_view token, ScannedFile& file) {
  std::size_t colon = std::string_view::npos;
  bool escaped = false;
  for (std::size_t i = 0; i < token.size(); ++i) {
    auto c = static_cast<unsigned char>(token[i]);
    if (c == '%') {
      escaped = true;
      break;
    }
    if (c <= 0x20 || c == 0x7F || c == '/') return false;
    if (c == ':' && colon == std::string_view::npos) colon = i;
  }
  if (token.size() > 3 * name_max) return false;
  if (!escaped) {
    file.name.assign(token);
    file.base_len = colon == std::string_view::npos ? token.size() : colon;
  } else {
    auto name = unescape(token);
    if (!name || name->find('/') != std::string::npos) return false;
    file.base_len = base_of(*name).size();
    file.name = std::move(*name);
  }
  return file.name.size() <= name_max && !is_ignored_name(file.name) && valid_base(file.base());
}

bool parse_entry(std::string_view line, SnapshotEntry& e) {
  if (line.size() < 2 || (line[0] != 'n' && line[0] != 'c') || line[1] != ' ') return false;
  e.file.dir = line[0] == 'c' ? Subdir::cur_dir : Subdir::new_dir;
  line.remove_prefix(2);
  if (!take_number(line, e.file.file_size) || !take_number(line, e.file.mtime_ns) ||
      !take_number(line, e.crlf_size)) {
    return false;
  }
  // As in the index: CRLF conversion adds at most one CR per byte plus the
  // final CRLF.
  if (e.crlf_size < e.file.file_size || e.file.file_size > (UINT64_MAX - 2) / 2 ||
      e.crlf_size > 2 * e.file.file_size + 2) {
    return false;
  }
  std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return false;
  if (!take_name(line.substr(0, space), e.file)) return false;
  std::string_view base = e.file.base();
  std::string_view uidl = line.substr(space + 1);
  if (uidl == "%") {
    e.uidl = uidl_of_base(base);
  } else {
    auto u = unescape(uidl);
    if (!u || !is_valid_uidl(*u)) return false;
    e.uidl = std::move(*u);
  }
  return true;
}

}  // namespace

FileStamp stamp_of(const struct stat& st) noexcept {
  return {to_ns(st.st_mtim.tv_sec, st.st_mtim.tv_nsec), static_cast<std::uint64_t>(st.st_ino),
          static_cast<std::uint64_t>(st.st_size)};
}

bool SnapshotStamps::dirty(std::int64_t window_ns) const noexcept {
  for (const FileStamp* d : {&new_dir, &cur_dir}) {
    if (d->mtime_ns > scan_ns - window_ns) return true;
  }
  return false;
}

std::optional<Snapshot> parse_snapshot(std::string_view text) {
  auto checked = open_checked(text, header, checksum);
  if (!checked) return std::nullopt;
  std::string_view body = checked->body;
  const std::uint64_t count = checked->count;
  Snapshot out;
  if (body.substr(0, stamps_tag.size()) != stamps_tag) return std::nullopt;
  body.remove_prefix(stamps_tag.size());
  if (!take_number(body, out.stamps.scan_ns) || !take_stamp(body, out.stamps.new_dir) ||
      !take_stamp(body, out.stamps.cur_dir) || !take_stamp(body, out.stamps.uidls, '\n')) {
    return std::nullopt;
  }
  // A line is at least "n 0 0 0 x %\n"; this bounds the reservation below.
  if (count > body.size() / 12) return std::nullopt;
  out.entries.reserve(static_cast<std::size_t>(count));
  while (!body.empty()) {
    std::size_t eol = body.find('\n');
    if (eol == std::string_view::npos) return std::nullopt;
    SnapshotEntry e;
    if (!parse_entry(body.substr(0, eol), e)) return std::nullopt;
    body.remove_prefix(eol + 1);
    out.entries.push_back(std::move(e));
  }
  if (out.entries.size() != count) return std::nullopt;
  return out;
}

std::string format_snapshot(const Snapshot& snapshot) {
  std::string out(header);
  out.reserve(header.size() + snapshot.entries.size() * 110 + 160);
  out += stamps_tag;
  append_number(out, snapshot.stamps.scan_ns);
  append_stamp(out, snapshot.stamps.new_dir);
  append_stamp(out, snapshot.stamps.cur_dir);
  append_stamp(out, snapshot.stamps.uidls, '\n');
  for (const auto& e : snapshot.entries) {
    out += e.file.dir == Subdir::cur_dir ? "c " : "n ";
    append_number(out, e.file.file_size);
    append_number(out, e.file.mtime_ns);
    append_number(out, e.crlf_size);
    append_escaped(out, e.file.name);
    out += ' ';
    if (e.uidl == uidl_of_base(e.file.base())) {
      out += '%';
    } else {
      append_escaped(out, e.uidl);
    }
    out += '\n';
  }
  close_checked(out, snapshot.entries.size(), checksum);
  return out;
}

std::error_code write_snapshot(int dir_fd, const Snapshot& snapshot) {
  return replace_file(dir_fd, snapshot_file_name, snapshot_tmp_name, format_snapshot(snapshot));
}

std::optional<Snapshot> read_snapshot(int dir_fd) {
  std::string text;
  if (read_whole_file(dir_fd, snapshot_file_name, limits::max_snapshot_bytes, text))
    return std::nullopt;
  return parse_snapshot(text);
}

}  // namespace popbox::store::detail
