#pragma once
// The sandbox's inboxes as a store::Store, so that net::Server serves them
// over POP3 exactly as `popbox serve` serves its maildrops: the maildrop of
// user "ann@example.com" is the inbox of that address. A login takes a
// snapshot of the inbox (oldest first, UIDL = the message id); QUIT
// deletes through the Hub (so the API, SSE and webhooks see the deletion)
// and marks retrieved messages read.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "sandbox/hub.hpp"
#include "store/mailbox.hpp"

namespace popbox::sandbox {

class Pop3Store final : public store::Store {
 public:
  /// Serves the inboxes of `hub`, which must outlive the store.
  explicit Pop3Store(Hub& hub);

  /// The inbox of the address `req.user` (an address without an inbox, not
  /// made here: an empty maildrop), locked against a second POP3 session
  /// of the same address (ec = store_errc::in_use then); store_errc::io
  /// when a message cannot be read. Blocks (the messages' octets).
  std::unique_ptr<store::Mailbox> open(const store::OpenRequest& req, std::error_code& ec) override;
  using store::Store::open;

  struct Shared;  ///< the locks and the size cache (internal)

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace popbox::sandbox
