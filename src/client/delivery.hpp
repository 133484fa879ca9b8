#pragma once
// Delivery targets of `popbox fetch`: Maildir, mbox, an MDA command, LMTP.
// One Deliverer per account run hands out one Delivery per message. Each
// Delivery is durable when commit() returns without failure; only then is
// the message recorded, and only after that deleted on the server.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "client/error.hpp"
#include "client/state_db.hpp"
#include "client/target.hpp"

namespace popbox::client {

/// One message on its way into the target.
class Delivery {
 public:
  virtual ~Delivery() = default;
  /// The intent token: how a later run recognises this message in the
  /// target after a crash (maildir: base name; mbox: offset; else empty).
  virtual std::string token() const = 0;
  /// Adds message bytes in wire form (un-stuffed, CRLF line ends).
  virtual Failure write(std::string_view data) = 0;
  /// Makes the message durable in the target.
  virtual Failure commit() = 0;
  /// What resuming an interrupted delivery found, for the log (or empty).
  virtual std::string note() const { return {}; }
};

/// What a crash left behind for one intent, as far as the target can tell.
enum class Recovered {
  delivered,      ///< the message is in the target: record it
  not_delivered,  ///< nothing arrived: download it again
  resume,         ///< decided while downloading it again (mbox)
  unknown,        ///< the target cannot tell (mda, lmtp): delivered again
};

class Deliverer {
 public:
  virtual ~Deliverer() = default;
  /// Checks an intent left by an interrupted run.
  virtual Recovered recover(const Intent& intent) = 0;
  /// Starts delivering message `uidl`; `resume` is its intent from an
  /// interrupted run, if the target resumes. `now` dates the message.
  virtual std::unique_ptr<Delivery> begin(const std::string& uidl, const Intent* resume,
                                          std::int64_t now, Failure& failure) = 0;
  /// Ends the run (LMTP: QUIT).
  virtual void finish() {}
};

/// The deliverer for `target`; `timeout` bounds LMTP reads and writes.
std::unique_ptr<Deliverer> make_deliverer(const Target& target, std::chrono::milliseconds timeout);

/// Deliverers of each kind (delivery_*.cpp).
std::unique_ptr<Deliverer> make_maildir_deliverer(const Target& target);
std::unique_ptr<Deliverer> make_mbox_deliverer(const Target& target);
std::unique_ptr<Deliverer> make_mda_deliverer(const Target& target);
std::unique_ptr<Deliverer> make_lmtp_deliverer(const Target& target,
                                               std::chrono::milliseconds timeout);

}  // namespace popbox::client
