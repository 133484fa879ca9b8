// One user's migration in either direction; see migrate.hpp.
#include "store/migrate/migrate.hpp"

#include <sys/stat.h>

#include <chrono>
#include <map>
#include <set>

#include "core/privileges.hpp"
#include "store/maildir_mailbox.hpp"
#include "store/migrate/maildir_import.hpp"
#include "store/postgres/import.hpp"
#include "store/postgres/pg_error.hpp"

namespace popbox::store::migrate {
namespace {

using Outcome = UserReport::Outcome;

void fail(UserReport& rep, const std::error_code& ec, const std::string& what) {
  rep.outcome = Outcome::failed;
  rep.temporary = ec == failure::temporary;
  rep.error = what + ": " + ec.message();
}

void open_failed(UserReport& rep, const std::error_code& ec, const char* side) {
  if (ec == store_errc::in_use) {
    rep.outcome = Outcome::in_use;
    rep.temporary = true;
    rep.error = std::string("a POP3 session holds the ") + side + " maildrop";
    return;
  }
  fail(rep, ec, std::string("cannot open the ") + side + " maildrop");
}

/// The Maildir as a session would show it, read only: dry_run mode writes
/// nothing (no index, no popbox-uidls, adoption stays open) and computes
/// the UIDLs a session would show.
std::unique_ptr<MaildirMailbox> open_maildir(const MaildirStore& maildirs, const std::string& path,
                                             std::error_code& ec) {
  MaildirOptions options;
  options.mode = MaildirOptions::Mode::dry_run;
  options.uidl_format = maildirs.uidl_format();
  options.adopt_x_uidl = maildirs.adopt_x_uidl();
  return MaildirMailbox::load(path, ec, options);
}

/// Copies one message: the source's bytes through `body`; true when
/// stored, false (ec clear) when the target had its UIDL already.
using CopyOne =
    std::function<bool(std::size_t index, const pg::BodySource& body, std::error_code& ec)>;

/// Every message of `source` whose UIDL `present` lacks goes to `copy`. A
/// message the source cannot read is counted as failed and the rest go
/// on; a target that fails stops the user (it would fail them all).
void copy_missing(Mailbox& source, const std::set<std::string>& present, bool dry_run,
                  UserReport& rep, const CopyOne& copy) {
  const auto& msgs = source.messages();
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    if (present.contains(msgs[i].uidl)) {
      ++rep.skipped;
      continue;
    }
    if (dry_run) {
      ++rep.copied;
      rep.bytes += msgs[i].size;
      continue;
    }
    std::error_code ec;
    auto reader = source.open(i, ec);
    bool source_failed = !reader;
    bool stored = false;
    if (reader) {
      stored = copy(
          i,
          [&](std::span<char> buf, std::error_code& e) {
            const std::size_t n = reader->read(buf, e);
            if (e) source_failed = true;
            return n;
          },
          ec);
    }
    if (ec && source_failed) {
      if (rep.error.empty()) rep.error = "reading message " + msgs[i].uidl + ": " + ec.message();
      ++rep.failed;
      continue;
    }
    if (ec) {
      fail(rep, ec, "writing the target");
      return;
    }
    if (!stored) {
      ++rep.skipped;
      continue;
    }
    ++rep.copied;
    rep.bytes += msgs[i].size;
  }
}

/// Acts as `owner` for the file system while alive.
class AsOwner {
 public:
  AsOwner(const std::optional<Owner>& owner, std::error_code& ec) {
    ec.clear();
    if (owner) guard_.emplace(owner->uid, owner->gid, ec);
    if (ec) ec = store_errc::owner_refused;
  }

 private:
  std::optional<core::FsIdGuard> guard_;
};

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// The Maildir path of `user`, as `owner`; false (rep filled) when unusable.
bool find_maildir(const Stores& s, const std::string& user, UserReport& rep) {
  std::error_code ec;
  rep.where = s.maildirs.maildir_path(user, ec);
  if (ec) fail(rep, ec, "no usable Maildir path for this name");
  return !ec;
}

}  // namespace

UserReport maildir_to_postgres(const Stores& s, const std::string& user,
                               const std::optional<Owner>& owner) {
  UserReport rep;
  if (!find_maildir(s, user, rep)) return rep;
  std::error_code ec;
  AsOwner as(owner, ec);
  if (ec) {
    fail(rep, ec, "cannot act as the Maildir's owner");
    return rep;
  }
  // Nothing to migrate, and migrating must not create Maildirs.
  if (!is_directory(rep.where)) {
    rep.outcome = Outcome::no_source;
    return rep;
  }
  auto box = open_maildir(s.maildirs, rep.where, ec);
  if (!box) {
    open_failed(rep, ec, "Maildir");
    return rep;
  }
  std::set<std::string> present;
  std::unique_ptr<Mailbox> target;  // its lock keeps POP3 sessions out while we write
  if (s.dry_run) {
    auto facts = pg::maildrop_facts(s.conn, user, ec);
    if (ec) {
      fail(rep, ec, "reading the database");
      return rep;
    }
    if (facts) {
      for (const auto& f : *facts) present.insert(f.uidl);
    }
  } else {
    target = s.postgres.open(user, ec);
    if (!target) {
      open_failed(rep, ec, "PostgreSQL");
      return rep;
    }
    for (const auto& m : target->messages()) present.insert(m.uidl);
  }
  pg::Importer importer(s.conn, user);
  copy_missing(*box, present, s.dry_run, rep,
               [&](std::size_t i, const pg::BodySource& body, std::error_code& ec) {
                 const pg::MessageFacts facts{box->messages()[i].uidl,
                                              box->message_file(i).mtime_ns / 1000, box->seen(i)};
                 std::uint64_t size = 0;
                 return importer.import(facts, body, size, ec);
               });
  return rep;
}

UserReport postgres_to_maildir(const Stores& s, const std::string& user,
                               const std::optional<Owner>& owner) {
  UserReport rep;
  std::error_code ec;
  auto facts = pg::maildrop_facts(s.conn, user, ec);
  if (ec) {
    fail(rep, ec, "reading the database");
    return rep;
  }
  if (!facts) {
    rep.outcome = Outcome::no_source;
    return rep;
  }
  if (!find_maildir(s, user, rep)) return rep;
  auto source = s.postgres.open(user, ec);
  if (!source) {
    open_failed(rep, ec, "PostgreSQL");
    return rep;
  }
  // Read before the lock: a message delivered in between has no facts and
  // is taken as received now.
  std::map<std::string, pg::MessageFacts, std::less<>> facts_of;
  for (auto& f : *facts) facts_of.emplace(f.uidl, std::move(f));
  AsOwner as(owner, ec);
  if (ec) {
    fail(rep, ec, "cannot act as the Maildir's owner");
    return rep;
  }
  std::set<std::string> present;
  std::unique_ptr<MaildirMailbox> target;  // holds the Maildir's lock while we write
  if (!s.dry_run || is_directory(rep.where)) {
    target = open_maildir(s.maildirs, rep.where, ec);
    if (!target) {
      open_failed(rep, ec, "Maildir");
      return rep;
    }
    for (const auto& m : target->messages()) present.insert(m.uidl);
  }
  std::optional<MaildirImporter> importer;
  if (!s.dry_run) {
    importer.emplace(rep.where, ec);
    if (ec) {
      fail(rep, ec, "cannot write the Maildir");
      return rep;
    }
  }
  copy_missing(*source, present, s.dry_run, rep,
               [&](std::size_t i, const pg::BodySource& body, std::error_code& ec) {
                 const std::string& uidl = source->messages()[i].uidl;
                 pg::MessageFacts f{uidl, 0, source->seen(i)};
                 if (auto it = facts_of.find(uidl); it != facts_of.end()) {
                   f.received_us = it->second.received_us;
                 } else {
                   f.received_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count();
                 }
                 std::uint64_t size = 0;
                 ec = importer->import(f, body, size);
                 return !ec;
               });
  return rep;
}

}  // namespace popbox::store::migrate
