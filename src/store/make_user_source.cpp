#include "store/make_user_source.hpp"

#include "auth/passwd_file.hpp"
#include "store/postgres/users.hpp"

namespace popbox::store {

std::shared_ptr<auth::UserSource> make_user_source(const config::Config& cfg) {
  switch (cfg.auth.source) {
    case config::UserSource::passwd_file:
      return auth::make_passwd_file_source(cfg.auth.passwd_file.string());
    case config::UserSource::postgres:
      // A pool of its own rather than the store's: logins and recipient
      // lookups are short queries that must not wait behind RETRs and
      // deliveries, and the store may not be PostgreSQL at all.
      return auth::make_pg_user_source(cfg.store.dsn);
  }
  return nullptr;  // every source is a case above
}

bool users_have_other_owner(const config::Config& cfg, unsigned uid, unsigned gid) {
  if (cfg.auth.source != config::UserSource::passwd_file) return false;
  return auth::has_other_owner(auth::PasswdFile::load(cfg.auth.passwd_file), uid, gid);
}

}  // namespace popbox::store
