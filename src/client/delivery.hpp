#pragma once
// Delivery targets of `popbox fetch`: Maildir, mbox, an MDA command, LMTP.
// One Deliverer per account run hands out one Delivery per message. A
// message is durable when its commit() and the Deliverer's next sync()
// return without failure (Maildir batches the directory fsync; the other
// targets are durable at commit()); only then is it recorded, and only
// after that deleted on the server. mbox batches too: its messages wait in
// memory and reach the file at sync(), right after their intents.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
  /// Completes the message in the target (durable once sync() returns).
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

/// Makes intents durable (one commit); a target that names its messages'
/// intents itself calls it just before it writes the messages they name.
using IntentSink = std::function<Failure(const std::vector<Intent>&)>;

class Deliverer {
 public:
  virtual ~Deliverer() = default;
  /// Checks the intents left by an interrupted run, one answer each.
  virtual std::vector<Recovered> recover(const std::vector<Intent>& intents) = 0;
  /// How many committed messages may wait for one sync() (1: no batching).
  virtual std::size_t batch() const { return 1; }
  /// A token for a message still to come, so its intent can be recorded
  /// ahead of time (batching targets); empty otherwise.
  virtual std::string reserve() { return {}; }
  /// Starts delivering message `uidl`: `token` is the one reserved for it
  /// (or empty), `resume` its intent from an interrupted run if the target
  /// resumes. `now` dates the message.
  virtual std::unique_ptr<Delivery> begin(const std::string& uidl, const std::string& token,
                                          const Intent* resume, std::int64_t now,
                                          Failure& failure) = 0;
  /// Makes every message committed since the last sync() durable.
  virtual Failure sync() { return {}; }
  /// True when the target records the intents of the messages it batches
  /// itself, through the sink given to set_intent_sink(), just before it
  /// writes them (mbox: a message's offset is known only then).
  virtual bool names_intents() const { return false; }
  /// Where a target that names_intents() records them.
  virtual void set_intent_sink(IntentSink) {}
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
