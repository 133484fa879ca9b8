#include "store/maildir_store.hpp"

#include "core/privileges.hpp"
#include "store/maildir_mailbox.hpp"
#include "store/owned_mailbox.hpp"

namespace popbox::store {

MaildirStore::MaildirStore(std::string path_template)
    : template_(std::move(path_template)), uidl_format_(std::make_shared<const UidlFormat>()) {}

MaildirStore::MaildirStore(std::string path_template, std::string_view uidl_format,
                           bool adopt_x_uidl)
    : template_(std::move(path_template)),
      uidl_format_(std::make_shared<const UidlFormat>(uidl_format)),
      adopt_x_uidl_(adopt_x_uidl) {}

std::unique_ptr<Mailbox> MaildirStore::open(const OpenRequest& req, std::error_code& ec) {
  std::string path = template_.expand(req.user, ec);
  if (ec) return nullptr;
  MaildirOptions options;
  options.uidl_format = uidl_format_;
  options.adopt_x_uidl = adopt_x_uidl_;
  if (!req.owner) return MaildirMailbox::load(path, ec, options);
  std::unique_ptr<Mailbox> box;
  {
    core::FsIdGuard as_owner(req.owner->uid, req.owner->gid, ec);
    if (ec) {
      log_owner_switch_failed(*req.owner);
      ec = store_errc::owner_refused;
      return nullptr;
    }
    box = MaildirMailbox::load(path, ec, options);
  }
  if (!box) return nullptr;
  return owned_mailbox(std::move(box), *req.owner);
}

std::string MaildirStore::maildir_path(std::string_view user, std::error_code& ec) const {
  return template_.expand(user, ec);
}

}  // namespace popbox::store
