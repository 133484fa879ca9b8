#include "store/make_store.hpp"

#include <stdexcept>

#include "store/maildir_store.hpp"

namespace popbox::store {

std::shared_ptr<Store> make_store(const config::Config& cfg) {
  switch (cfg.store.backend) {
    case config::StoreBackend::maildir:
      return std::make_shared<MaildirStore>(cfg.mail.maildir, cfg.mail.uidl_format,
                                            cfg.mail.uidl_adopt_x_uidl);
    case config::StoreBackend::postgres:
      break;
  }
  throw std::runtime_error(
      "[store] backend = \"postgres\": this build's postgres backend is not wired yet");
}

}  // namespace popbox::store
