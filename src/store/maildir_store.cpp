#include "store/maildir_store.hpp"

#include "store/maildir_mailbox.hpp"

namespace popbox::store {

MaildirStore::MaildirStore(std::string path_template) : template_(std::move(path_template)) {}

std::unique_ptr<Mailbox> MaildirStore::open(const std::string& user, std::error_code& ec) {
  std::string path = template_.expand(user, ec);
  if (ec) return nullptr;
  return MaildirMailbox::load(path, ec);
}

std::string MaildirStore::maildir_path(std::string_view user, std::error_code& ec) const {
  return template_.expand(user, ec);
}

}  // namespace popbox::store
