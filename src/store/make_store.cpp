#include "store/make_store.hpp"

#include "store/maildir_store.hpp"
#include "store/postgres/pg_store.hpp"

namespace popbox::store {

std::shared_ptr<Store> make_store(const config::Config& cfg) {
  switch (cfg.store.backend) {
    case config::StoreBackend::maildir:
      return std::make_shared<MaildirStore>(cfg.mail.maildir, cfg.mail.uidl_format,
                                            cfg.mail.uidl_adopt_x_uidl);
    case config::StoreBackend::postgres:
      // Throws when the database holds another schema version.
      return std::make_shared<pg::PgStore>(cfg.store.dsn, cfg.store.pool_size);
  }
  return nullptr;  // every backend is a case above
}

}  // namespace popbox::store
