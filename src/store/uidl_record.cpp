// popbox-uidls reading and formatting. Writing goes through file_io
// (replace_file for the first write, append_file afterwards).
#include "store/uidl_record.hpp"

#include <optional>

#include "store/file_io.hpp"
#include "store/maildir_name.hpp"

namespace popbox::store::detail {
namespace {

constexpr std::string_view header = "popbox-uidls 1";

}  // namespace

RecordedUidls parse_recorded_uidls(std::string_view text) {
  RecordedUidls out;
  out.exists = true;
  out.ends_with_newline = text.empty() || text.back() == '\n';
  bool first = true;
  while (!text.empty()) {
    std::size_t eol = text.find('\n');
    if (eol == std::string_view::npos) {  // torn append: never trusted
      ++out.bad_lines;
      break;
    }
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol + 1);
    if (first) {
      first = false;
      if (line == header) continue;
    }
    if (line.starts_with("closed ")) {
      out.closed = true;
      continue;
    }
    if (!line.starts_with("u ")) {
      ++out.bad_lines;
      continue;
    }
    line.remove_prefix(2);
    std::size_t space = line.find(' ');
    std::string_view uidl = line.substr(0, space);
    auto base = space == std::string_view::npos ? std::nullopt : unescape(line.substr(space + 1));
    if (!is_valid_uidl(uidl) || !base || !valid_base(*base)) {
      ++out.bad_lines;
      continue;
    }
    out.entries.push_back({std::move(*base), std::string(uidl)});
  }
  return out;
}

std::string format_recorded_uidl(std::string_view base, std::string_view uidl) {
  std::string out = "u ";
  out.reserve(4 + uidl.size() + base.size());
  out.append(uidl);
  out += ' ';
  append_escaped(out, base);
  out += '\n';
  return out;
}

std::string format_recorded_uidls(std::span<const RecordedUidl> entries, bool closed,
                                  std::int64_t now) {
  std::string out(header);
  out += '\n';
  for (const auto& e : entries) out += format_recorded_uidl(e.base, e.uidl);
  if (closed) out += "closed " + std::to_string(now) + "\n";
  return out;
}

std::error_code read_recorded_uidls(int dir_fd, RecordedUidls& out) {
  out = RecordedUidls{};
  std::string text;
  std::error_code ec = read_whole_file(dir_fd, uidls_file_name, max_uidls_bytes, text);
  if (ec == std::errc::no_such_file_or_directory) return {};
  if (ec) return ec;
  out = parse_recorded_uidls(text);
  return {};
}

std::error_code add_recorded_uidls(int dir_fd, const RecordedUidls& current,
                                   std::string_view lines) {
  if (current.exists && current.ends_with_newline) {
    return append_file(dir_fd, uidls_file_name, lines);
  }
  std::string text;
  if (current.exists) {
    // A crash mid-append left a last line without its newline. Ending it
    // (appending "\n" first) could turn the fragment into a record that
    // later sessions trust: keep what the file held up to its last newline.
    if (auto ec = read_whole_file(dir_fd, uidls_file_name, max_uidls_bytes, text)) return ec;
    const std::size_t end = text.rfind('\n');
    text.resize(end == std::string::npos ? 0 : end + 1);
  } else {
    text = format_recorded_uidls({}, false, 0);
  }
  text.append(lines);
  return replace_file(dir_fd, uidls_file_name, uidls_tmp_name, text);
}

}  // namespace popbox::store::detail
