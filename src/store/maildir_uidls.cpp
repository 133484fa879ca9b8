// The UIDL half of taking a snapshot: what popbox recorded, what earlier
// servers left (while adoption is open), the choice, and the record of it.
// docs/uidl.md explains the rules.
#include "store/maildir_uidls.hpp"

#include <algorithm>
#include <ctime>

#include "store/file_io.hpp"
#include "store/uidl_sources.hpp"
#include "store/x_uidl.hpp"

namespace popbox::store {
namespace {

using Mode = MaildirOptions::Mode;

bool is_enoent(const std::error_code& ec) {
  return ec == std::errc::no_such_file_or_directory;
}

const UidlFormat& default_format() {
  static const UidlFormat format;
  return format;
}

}  // namespace

std::error_code MaildirMailbox::read_uidl_sources(const std::vector<detail::ScannedFile>& files,
                                                  UidlSources& src) {
  const int root = dirs_.root.get();
  if (auto ec = detail::read_recorded_uidls(root, src.recorded)) return ec;
  stats_.source_bad_lines += src.recorded.bad_lines;
  src.serve = options_.mode == Mode::serve;
  src.adopt_x_uidl = options_.adopt_x_uidl;
  src.adopt = !src.recorded.closed;
  src.need_previous = src.adopt || !src.serve;
  stats_.adoption_open = src.adopt;

  src.recorded_of.assign(files.size(), {});
  detail::BaseFinder finder(files);
  for (const auto& e : src.recorded.entries) {
    std::size_t i = finder.find(e.base);
    if (i == detail::BaseFinder::npos) {
      src.gone.push_back(e.uidl);  // shown once: never again for another message
    } else if (src.recorded_of[i].empty()) {
      src.recorded_of[i] = e.uidl;
    }
  }
  if (!src.need_previous) return {};

  src.previous_of.assign(files.size(), {});
  src.previous_source_of.assign(files.size(), UidlSource::name);
  if (!src.serve) src.x_uidl_of.assign(files.size(), {});
  std::string text;
  // Dovecot first: a Maildir it served may still hold an old Courier file.
  std::error_code ec =
      detail::read_whole_file(root, detail::dovecot_uidlist_name, detail::max_source_bytes, text);
  if (ec && !is_enoent(ec)) return ec;
  if (!ec) {
    if (auto list = detail::parse_dovecot_uidlist(text)) {
      stats_.source_bad_lines += list->bad_lines;
      const UidlFormat& format = options_.uidl_format ? *options_.uidl_format : default_format();
      detail::BaseFinder dovecot_finder(files);
      for (const auto& rec : list->records) {  // a later line for a BASE wins
        std::size_t i = dovecot_finder.find(rec.base);
        if (i == detail::BaseFinder::npos) continue;
        src.previous_of[i] = detail::dovecot_uidl(*list, rec, format);
        src.previous_source_of[i] = UidlSource::dovecot;
      }
    } else {
      ++stats_.source_bad_lines;
    }
  }
  ec = detail::read_whole_file(root, detail::courier_sizelist_name, detail::max_source_bytes, text);
  if (ec && !is_enoent(ec)) return ec;
  if (!ec) {
    if (auto list = detail::parse_courier_sizelist(text)) {
      stats_.source_bad_lines += list->bad_lines;
      detail::BaseFinder courier_finder(files);
      for (const auto& rec : list->records) {
        std::size_t i = courier_finder.find(rec.base);
        if (i == detail::BaseFinder::npos || src.previous_source_of[i] == UidlSource::dovecot) {
          continue;
        }
        src.previous_of[i] = rec.uidl;
        src.previous_source_of[i] = UidlSource::courier;
      }
    } else {
      ++stats_.source_bad_lines;
    }
  }
  return {};
}

std::error_code MaildirMailbox::look_for_x_uidl(std::size_t file, const detail::ScannedFile& f,
                                                const detail::HeaderCollector* measured,
                                                UidlSources& src) {
  std::optional<std::string> value;
  if (measured != nullptr) {
    value = detail::header_field(measured->header(), "X-UIDL");
  } else if (auto ec = detail::read_x_uidl(dirs_.fd(f.dir), f.name, value)) {
    return ec;
  }
  if (!value || value->empty()) return {};
  if (!src.serve) src.x_uidl_of[file] = *value;
  // Any sender can write an X-UIDL header: it is a UIDL only when the
  // config says the old server showed those (pop3_reuse_xuidl).
  if (src.adopt_x_uidl && src.previous_of[file].empty()) {  // Dovecot and Courier come first
    src.previous_of[file] = std::move(*value);
    src.previous_source_of[file] = UidlSource::x_uidl;
  }
  return {};
}

void MaildirMailbox::choose_uidls(UidlSources& src, const std::vector<std::size_t>& file_of_entry) {
  const std::size_t n = entries_.size();
  std::vector<detail::UidlCandidate> candidates(n);
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = file_of_entry[k];
    candidates[k].base = base_of(entries_[k]);
    candidates[k].recorded = src.recorded_of[i];
    if (src.need_previous) {
      candidates[k].adopted = src.previous_of[i];
      candidates[k].adopted_from = src.previous_source_of[i];
    }
  }
  detail::UidlAssignment chosen = detail::assign_uidls(candidates, src.adopt, src.gone);

  messages_.clear();
  messages_.reserve(n);
  for (std::size_t k = 0; k < n; ++k) {
    UidlSource s = chosen.sources[k];
    stats_.uidls_recorded += s == UidlSource::recorded;
    stats_.uidls_adopted += s != UidlSource::recorded && s != UidlSource::name;
    stats_.uidls_rejected += chosen.rejected[k];
    stats_.uidls_renamed += chosen.renamed[k];
    if (!src.serve) {
      report_.push_back({std::string(candidates[k].base), s, candidates[k].adopted_from,
                         std::string(candidates[k].adopted), chosen.rejected[k], chosen.renamed[k],
                         src.x_uidl_of[file_of_entry[k]]});
    }
    messages_.push_back(MessageInfo{std::move(chosen.uidls[k]), entries_[k].crlf_size});
  }

  // Record before the UIDLs can be shown. A failure is not fatal: while
  // adoption is open the next open adopts the same again; after it, a
  // rename depends only on the set of messages.
  if (options_.mode == Mode::dry_run) return;
  std::vector<detail::RecordedUidl> added;
  added.reserve(chosen.to_record.size());
  for (std::size_t k : chosen.to_record) {
    added.push_back({std::string(candidates[k].base), messages_[k].uidl});
  }
  const int root = dirs_.root.get();
  std::error_code ec;
  if (src.adopt) {
    // A session that showed UIDLs ends adoption. An empty maildrop showed
    // nothing: mail copied in from the old server later is still adopted.
    bool close = src.serve && n > 0;
    if (!close && added.empty()) return;
    auto all = src.recorded.entries;
    all.insert(all.end(), added.begin(), added.end());
    std::string text = detail::format_recorded_uidls(all, close, std::time(nullptr));
    ec = detail::replace_file(root, detail::uidls_file_name, detail::uidls_tmp_name, text);
  } else if (!added.empty()) {
    std::string text;
    for (const auto& a : added) text += detail::format_recorded_uidl(a.base, a.uidl);
    ec = detail::add_recorded_uidls(root, src.recorded, text);
  }
  stats_.uidls_write_error = ec;
  if (!ec) stats_.uidls_written = added.size();
}

}  // namespace popbox::store
