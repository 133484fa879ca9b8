#pragma once
// The fetch logic of one account run, between the pure POP3 session and
// the disk: it plans from the listing, streams each message into the
// target, records it, and only then asks for its deletion. It does no
// network I/O; the connection coroutine feeds it the session's events.
//
// Per message:  intent (SQLite commit) -> write -> durable in target ->
//               record as delivered (SQLite commit) -> DELE -> QUIT.
// A Maildir batches: intents for the next messages and the records of the
// last ones share one commit, after one directory fsync. An mbox names
// its intents itself when it writes a batch (offsets are known only then):
// that commit also records the batch before, so again one commit, one
// fsync per batch (plus one commit at the end of the run).

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/console.hpp"
#include "client/delivery.hpp"
#include "client/fetch_config.hpp"
#include "client/plan.hpp"
#include "client/session.hpp"
#include "client/state_db.hpp"

namespace popbox::client {

struct EngineOptions {
  bool dry_run = false;
  bool accept_new_uidls = false;
  std::int64_t now = 0;                             ///< unix time (POPBOX_FETCH_NOW in tests)
  std::uint64_t max_bytes = limits::max_run_bytes;  ///< received per run
  std::uint64_t max_discard = limits::max_discard;  ///< of a message grown past max_size
};

/// What one account run did, for its summary line.
struct EngineStats {
  std::uint64_t fetched = 0, bytes = 0, deleted = 0, too_large = 0, recovered = 0;
  std::uint64_t retr_failed = 0, on_server = 0;
  std::uint64_t grew = 0;      ///< of too_large: grew past max_size while downloading
  std::uint64_t deferred = 0;  ///< new messages left for the next run (run bounds)
};

class Engine {
 public:
  /// An engine for one run of `account`, recording in `db`, delivering to
  /// `deliverer`, reporting to `console` and `counters`.
  Engine(const AccountConfig& account, StateDb& db, Deliverer& deliverer, Console& console,
         Console::Counters& counters, EngineOptions options);

  /// Settles intents left by an interrupted run (before connecting).
  Failure prepare();
  /// Handles one session event; a failure ends the connection at once
  /// (without QUIT: nothing not yet recorded can be deleted).
  Failure on_event(Session& session, const Session::Event& ev);
  /// Ends the run: records messages already durable in the target (also
  /// after a lost connection), then the target's goodbye (LMTP QUIT).
  Failure finish();
  const EngineStats& stats() const { return stats_; }

 private:
  Failure dispatch(Session& session, const Session::Event& ev);
  Failure on_listing(Session& session);
  Failure on_body_begin(std::size_t number);
  Failure on_body_data(const Session::Event& ev);
  Failure abandon(const ListEntry& e);
  Failure on_body_end(Session& session, std::size_t number);
  Failure on_closed(const Session::Event& ev);
  Failure flush(Session* session);
  std::vector<Intent> reserve_intents();
  void answered(Session& session);
  void report_plan(const Plan& plan, const std::vector<ListEntry>& listing);
  Failure db_error(std::string_view what);

  const AccountConfig& account_;
  StateDb& db_;
  Deliverer& deliverer_;
  Console& console_;
  Console::Counters& counters_;
  EngineOptions options_;
  StateMap state_;
  std::unordered_map<std::string, Intent> resume_;  // mbox intents, settled on download
  std::unordered_map<std::size_t, const ListEntry*> by_number_;
  std::vector<ListEntry> listing_;
  std::unique_ptr<Delivery> delivery_;
  std::string delivery_token_;
  std::int64_t delivery_started_ = 0;
  std::uint64_t received_ = 0;            // bytes of the message being downloaded
  bool abandoned_ = false;                // it grew past max_size: its bytes are discarded
  std::vector<std::size_t> fetch_order_;  // listing indices, in RETR order
  std::size_t reserved_upto_ = 0;         // fetch_order_ entries with a reserved token
  std::size_t answered_ = 0;              // RETRs answered (delivered or refused)
  std::unordered_map<std::string, std::string> tokens_;  // uidl -> reserved token
  struct Unrecorded {
    std::size_t number;
    std::string uidl;
  };
  std::vector<Unrecorded> unrecorded_;  // durable after the next sync, not yet recorded
  // Durable, recorded with the next intents (targets that name them).
  std::vector<Unrecorded> held_;
  std::vector<std::size_t> to_delete_;  // recorded: DELE to send
  std::vector<std::pair<std::string, StateRow>> rows_of(
      const std::vector<Unrecorded>& messages) const;
  void recorded(const std::vector<Unrecorded>& messages);
  Failure batch_failure_;             // flush failure seen while answering
  std::vector<std::string> deleted_;  // DELE +OK this session
  Failure after_quit_;                // reported once the session has ended
  EngineStats stats_;
};

}  // namespace popbox::client
