// Index parsing is defensive: the file sits in a directory the mail user can
// write, and a crash or a full disk can leave anything in it.
#include "store/maildir_index.hpp"

#include <charconv>

#include "store/checked_text.hpp"
#include "store/file_io.hpp"
#include "store/mailbox.hpp"

namespace popbox::store::detail {
namespace {

constexpr std::string_view header = "popbox-index 1\n";

// Reads one space-terminated number from `s` and advances past the space.
template <typename T>
bool take_number(std::string_view& s, T& value) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr == s.data() || ptr == s.data() + s.size() || *ptr != ' ') {
    return false;
  }
  s.remove_prefix(static_cast<std::size_t>(ptr - s.data()) + 1);
  return true;
}

}  // namespace

std::optional<std::vector<IndexEntry>> parse_index(std::string_view text) {
  auto checked = open_checked(text, header, fnv1a);
  if (!checked) return std::nullopt;
  std::string_view body = checked->body;
  const std::uint64_t count = checked->count;
  // A line is at least "0 0 0 x\n"; this bounds the reservation below.
  if (count > body.size() / 8) return std::nullopt;

  std::vector<IndexEntry> entries;
  entries.reserve(static_cast<std::size_t>(count));
  while (!body.empty()) {
    std::size_t eol = body.find('\n');
    if (eol == std::string_view::npos) return std::nullopt;
    std::string_view line = body.substr(0, eol);
    body.remove_prefix(eol + 1);
    IndexEntry e;
    if (!take_number(line, e.file_size) || !take_number(line, e.mtime_ns) ||
        !take_number(line, e.crlf_size)) {
      return std::nullopt;
    }
    // CRLF conversion only adds octets: at most one CR per byte, plus the
    // final CRLF. Anything else is a damaged entry.
    if (e.crlf_size < e.file_size || e.file_size > (UINT64_MAX - 2) / 2 ||
        e.crlf_size > 2 * e.file_size + 2) {
      return std::nullopt;
    }
    auto base = unescape(line);
    if (!base || !valid_base(*base)) return std::nullopt;
    e.base = std::move(*base);
    entries.push_back(std::move(e));
  }
  if (entries.size() != count) return std::nullopt;
  return entries;
}

std::string format_index(std::span<const IndexEntry> entries) {
  std::string out(header);
  out.reserve(header.size() + entries.size() * 96 + 40);
  char num[24];
  auto append_number = [&](auto v) {
    auto res = std::to_chars(num, num + sizeof num, v);
    out.append(num, res.ptr);
    out += ' ';
  };
  for (const auto& e : entries) {
    append_number(e.file_size);
    append_number(e.mtime_ns);
    append_number(e.crlf_size);
    append_escaped(out, e.base);
    out += '\n';
  }
  close_checked(out, entries.size(), fnv1a);
  return out;
}

IndexRead read_index(int dir_fd) {
  IndexRead result;
  std::string text;
  std::error_code ec = read_whole_file(dir_fd, index_file_name, max_index_bytes, text);
  if (ec) {
    result.state = ec == std::errc::no_such_file_or_directory ? IndexRead::State::missing
                   : ec == store_errc::unsafe_path            ? IndexRead::State::unsafe
                                                              : IndexRead::State::invalid;
    return result;
  }
  result.state = IndexRead::State::invalid;
  auto entries = parse_index(text);
  if (!entries) return result;
  result.state = IndexRead::State::loaded;
  result.entries = std::move(*entries);
  return result;
}

std::error_code write_index(int dir_fd, std::span<const IndexEntry> entries) {
  return replace_file(dir_fd, index_file_name, index_tmp_name, format_index(entries));
}

}  // namespace popbox::store::detail
