#pragma once
// A complete Store kept in memory: the sandbox's --ephemeral backend and
// the second backend of the contract tests. Messages are kept in wire form
// (CRLF) as delivered; nothing survives the process.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/mailbox.hpp"

namespace popbox::store {

/// Every user's maildrop in memory. Thread-safe; owners are ignored (no
/// file system is touched). A body is kept once for all the recipients of
/// one delivery (shared, freed with the last message using it).
class MemoryStore final : public Store {
 public:
  MemoryStore();
  ~MemoryStore() override;

  /// A snapshot of `req.user`'s maildrop (made empty if missing), locked
  /// until the Mailbox goes; ec = store_errc::in_use when it is locked, or
  /// store_errc::bad_path for an empty user name.
  std::unique_ptr<Mailbox> open(const OpenRequest& req, std::error_code& ec) override;
  using Store::open;
  /// Buffers the body; commit() adds one message per recipient at once.
  std::unique_ptr<Delivery> begin_delivery(std::span<const DeliveryTarget> targets) override;
  /// Exact: the messages and their stored (wire) bytes.
  std::error_code usage(const OpenRequest& req, Usage& out) override;

  /// Makes every delivery to `user` fail with `ec` from now on (clear: no
  /// longer); for tests of a recipient that fails while others succeed.
  void fail_deliveries_to(const std::string& user, std::error_code ec);

  struct State;  ///< the maildrops (internal)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace popbox::store
