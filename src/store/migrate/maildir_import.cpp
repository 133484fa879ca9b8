// Migrated messages into a Maildir, with their UIDLs recorded first.
#include "store/migrate/maildir_import.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/limits.hpp"
#include "store/file_io.hpp"
#include "store/maildir_usage.hpp"
#include "store/maildir_writer.hpp"
#include "store/migrate/maildir_form.hpp"
#include "store/safe_open.hpp"

namespace popbox::store::migrate {

MaildirImporter::MaildirImporter(const std::string& path, std::error_code& ec) {
  if ((ec = detail::open_maildir(path, dirs_, detail::Create::yes))) return;
  if ((ec = detail::read_recorded_uidls(dirs_.root.get(), recorded_))) return;
  for (const auto& e : recorded_.entries) base_of_uidl_.emplace(e.uidl, e.base);
}

std::error_code MaildirImporter::base_for(const std::string& uidl, std::string& base) {
  // Recorded by a run that stopped before the file appeared: the same
  // name, so the record (which keeps its UIDL reserved) describes it.
  if (auto it = base_of_uidl_.find(uidl); it != base_of_uidl_.end()) {
    base = it->second;
    return {};
  }
  const std::string line = detail::format_recorded_uidl(base, uidl);
  if (auto ec = detail::add_recorded_uidls(dirs_.root.get(), recorded_, line)) return ec;
  recorded_.exists = true;
  recorded_.ends_with_newline = true;
  base_of_uidl_.emplace(uidl, base);
  return {};
}

std::error_code MaildirImporter::write_file(const std::string& tmp_name,
                                            const pg::MessageFacts& facts,
                                            const pg::BodySource& source, std::uint64_t& size) {
  detail::UniqueFd fd;
  if (auto ec = detail::open_beneath(dirs_.tmp_dir.get(), tmp_name.c_str(),
                                     O_WRONLY | O_CREAT | O_EXCL, 0600, fd)) {
    return ec;
  }
  WireToMaildir form;
  std::string block(limits::pg_body_chunk, '\0'), out;
  for (;;) {
    std::error_code ec;
    const std::size_t n = source(block, ec);
    if (ec) return ec;
    out.clear();
    if (n == 0) {
      form.finish(out);
    } else {
      form.convert(std::string_view(block.data(), n), out);
    }
    if (auto e = detail::write_all(fd.get(), out)) return e;
    size += out.size();
    if (n == 0) break;
  }
  // The received time as the mtime: the Maildir store orders new mail by it.
  const timespec times[2] = {{0, UTIME_OMIT},
                             {static_cast<time_t>(facts.received_us / 1000000),
                              static_cast<long>(facts.received_us % 1000000) * 1000}};
  if (::futimens(fd.get(), times) != 0 || ::fsync(fd.get()) != 0) return detail::last_error();
  return {};
}

std::error_code MaildirImporter::import(const pg::MessageFacts& facts, const pg::BodySource& source,
                                        std::uint64_t& size) {
  size = 0;
  const std::string tmp_name = new_maildir_base();
  const int tmp = dirs_.tmp_dir.get();
  std::error_code ec = write_file(tmp_name, facts, source, size);
  // The BASE carries the size hint as delivery's names do; a record is
  // written only now that the size is known, before the file is visible.
  std::string base = tmp_name + ",S=" + std::to_string(size);
  if (!ec) ec = base_for(facts.uidl, base);
  if (ec) {
    ::unlinkat(tmp, tmp_name.c_str(), 0);
    return ec;
  }
  const std::string name = facts.seen ? base + ":2,S" : base;
  const int dir = facts.seen ? dirs_.cur_dir.get() : dirs_.new_dir.get();
  // link() never replaces a file: EEXIST means an earlier run got this far.
  if (::linkat(tmp, tmp_name.c_str(), dir, name.c_str(), 0) != 0 && errno != EEXIST) {
    ec = detail::last_error();
  }
  ::unlinkat(tmp, tmp_name.c_str(), 0);
  if (ec) return ec;
  if (::fsync(dir) != 0) return detail::last_error();
  // A message the kept count does not know: the next reader rebuilds it.
  ::unlinkat(dirs_.root.get(), detail::usage_file_name, 0);
  return {};
}

}  // namespace popbox::store::migrate
