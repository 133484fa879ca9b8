// The fetch logic of one account run.
#include "client/engine.hpp"

#include <fmt/format.h>

namespace popbox::client {

Engine::Engine(const AccountConfig& account, StateDb& db, Deliverer& deliverer, Console& console,
               Console::Counters& counters, EngineOptions options)
    : account_(account),
      db_(db),
      deliverer_(deliverer),
      console_(console),
      counters_(counters),
      options_(options) {
  // A target that names its intents records them through the state, in
  // one commit per batch, before it writes the messages.
  // The messages the last batch made durable are recorded in the same
  // commit: one commit per batch, as for a Maildir.
  deliverer_.set_intent_sink([this](const std::vector<Intent>& intents) -> Failure {
    std::vector<Intent> named = intents;
    for (Intent& i : named) i.target = account_.deliver.spec;
    if (db_.record_batch(rows_of(held_), named)) return db_error("recording intents");
    recorded(std::exchange(held_, {}));
    return {};
  });
}

std::vector<std::pair<std::string, StateRow>> Engine::rows_of(
    const std::vector<Unrecorded>& messages) const {
  std::vector<std::pair<std::string, StateRow>> rows;
  for (const auto& u : messages) rows.push_back({u.uidl, {options_.now, !account_.keep}});
  return rows;
}

// Committed as delivered: their DELEs may go out.
void Engine::recorded(const std::vector<Unrecorded>& messages) {
  bool pending = !account_.keep;
  for (const auto& u : messages) {
    state_[u.uidl] = {options_.now, pending};
    ++stats_.fetched;
    counters_.messages_done += 1;
    if (pending) to_delete_.push_back(u.number);
  }
}

Failure Engine::db_error(std::string_view what) {
  return fail(fetch_errc::state, fmt::format("state database: {}: {}", what, db_.last_error()));
}

Failure Engine::prepare() {
  if (db_.load(state_)) return db_error("reading");
  // A dry run touches neither the state nor the target: intents wait for
  // a real run.
  if (options_.dry_run) return {};
  std::vector<Intent> intents;
  if (db_.intents(intents)) return db_error("reading intents");
  std::vector<Intent> same_target;
  for (const Intent& intent : intents) {
    if (intent.target == account_.deliver.spec) {
      same_target.push_back(intent);
      continue;
    }
    console_.warn(
        fmt::format("{}: message {} was being delivered to \"{}\" when a run was "
                    "interrupted; the target changed, it is fetched again",
                    account_.name, intent.uidl, intent.target));
    if (db_.drop_intent(intent.uidl)) return db_error("dropping an intent");
  }
  std::vector<Recovered> verdicts = deliverer_.recover(same_target);
  std::vector<std::pair<std::string, StateRow>> found;
  for (std::size_t i = 0; i < same_target.size(); ++i) {
    const Intent& intent = same_target[i];
    switch (verdicts[i]) {
      case Recovered::delivered:
        // The message reached the target but was not recorded: record it
        // now instead of downloading it a second time.
        found.push_back({intent.uidl, {intent.started_at, !account_.keep}});
        state_[intent.uidl] = found.back().second;
        ++stats_.recovered;
        break;
      case Recovered::resume:
        resume_[intent.uidl] = intent;
        break;
      case Recovered::unknown:
        console_.warn(
            fmt::format("{}: message {} was handed to {} when a run was interrupted; "
                        "it is delivered again and may arrive twice",
                        account_.name, intent.uidl, account_.deliver.spec));
        [[fallthrough]];
      case Recovered::not_delivered:
        if (db_.drop_intent(intent.uidl)) return db_error("dropping an intent");
        break;
    }
  }
  if (!found.empty() && db_.record_batch(found)) {
    return db_error("recording recovered messages");
  }
  return {};
}

Failure Engine::on_event(Session& session, const Session::Event& ev) {
  Failure f = dispatch(session, ev);
  if (!f) {
    for (std::size_t number : to_delete_) session.remove(number);
  }
  to_delete_.clear();
  return f;
}

Failure Engine::dispatch(Session& session, const Session::Event& ev) {
  using K = Session::EventKind;
  switch (ev.kind) {
    case K::listing:
      return on_listing(session);
    case K::body_begin:
      return on_body_begin(ev.message);
    case K::body_data:
      return on_body_data(ev);
    case K::body_end:
      return on_body_end(session, ev.message);
    case K::retr_failed: {
      ++stats_.retr_failed;
      const ListEntry* e = by_number_.at(ev.message);
      console_.warn(fmt::format("{}: message {} (UIDL {}) could not be retrieved: {}",
                                account_.name, ev.message, e->uidl, ev.data));
      answered(session);
      return std::exchange(batch_failure_, {});
    }
    case K::deleted:
      deleted_.push_back(by_number_.at(ev.message)->uidl);
      return {};
    case K::dele_failed:
      console_.warn(fmt::format("{}: DELE {} refused: {}", account_.name, ev.message, ev.data));
      return {};
    case K::closed:
      return on_closed(ev);
    case K::none:
    case K::start_tls:
    case K::failed:
      break;
  }
  return {};
}

Failure Engine::on_listing(Session& session) {
  listing_ = session.listing();
  for (const auto& e : listing_) by_number_[e.number] = &e;
  stats_.on_server = listing_.size();
  PlanOptions po;
  po.keep = account_.keep;
  po.keep_days = account_.keep_days;
  po.now = options_.now;
  po.max_size = account_.max_size;
  po.accept_new_uidls = options_.accept_new_uidls;
  po.max_messages = account_.max_messages_per_run;
  po.max_bytes = options_.max_bytes;
  Plan plan = make_plan(listing_, state_, po);
  if (plan.uidls_changed) {
    after_quit_ = fail(
        fetch_errc::uidls_changed,
        fmt::format("none of the {} messages on the server has a UIDL seen before, although {} "
                    "were recorded: the server probably changed its UIDLs. Nothing was fetched "
                    "or deleted; run again with --accept-new-uidls to download them all",
                    listing_.size(), state_.size()));
    session.quit();
    return {};
  }
  report_plan(plan, listing_);
  stats_.too_large = plan.too_large.size();
  stats_.deferred = plan.deferred.size();
  if (options_.dry_run) {
    session.quit();
    return {};
  }
  // Drop the resume intents of messages no longer on the server.
  for (auto it = resume_.begin(); it != resume_.end();) {
    bool present = std::any_of(listing_.begin(), listing_.end(),
                               [&](const ListEntry& e) { return e.uidl == it->first; });
    if (!present && db_.drop_intent(it->first)) return db_error("dropping an intent");
    it = present ? std::next(it) : resume_.erase(it);
  }
  if (db_.forget(plan.forget)) return db_error("forgetting vanished messages");
  for (const auto& uidl : plan.forget) state_.erase(uidl);
  std::vector<std::string> newly_pending;
  for (std::size_t i : plan.remove) {
    auto& row = state_[listing_[i].uidl];
    if (!row.pending_delete) newly_pending.push_back(listing_[i].uidl);
    row.pending_delete = true;
  }
  // Pending deletes are persisted before DELE: a run cut short sends them
  // again next time.
  if (db_.mark_pending(newly_pending)) return db_error("marking deletions");
  for (std::size_t i : plan.remove) session.remove(listing_[i].number);
  fetch_order_ = plan.fetch;
  for (std::size_t i : plan.fetch) {
    session.retrieve(listing_[i].number);
    counters_.messages_total += 1;
    counters_.bytes_total += listing_[i].size;
  }
  // A batching target names the first messages now: their intents are
  // durable before the first byte arrives.
  if (deliverer_.batch() > 1 && !deliverer_.names_intents()) {
    std::vector<Intent> first = reserve_intents();
    if (!first.empty() && db_.record_batch({}, first)) return db_error("recording intents");
  }
  session.quit();
  return {};
}

void Engine::report_plan(const Plan& plan, const std::vector<ListEntry>& listing) {
  for (std::size_t i : plan.too_large) {
    console_.warn(
        fmt::format("{}: message {} (UIDL {}) has {} bytes, over max_size; it stays on "
                    "the server",
                    account_.name, listing[i].number, listing[i].uidl, listing[i].size));
  }
  for (std::size_t i : plan.duplicates) {
    console_.warn(fmt::format("{}: the server lists UIDL {} twice; message {} is left alone",
                              account_.name, listing[i].uidl, listing[i].number));
  }
  if (!plan.deferred.empty()) {
    bool one = plan.deferred.size() == 1;
    console_.info(
        fmt::format("{}: {} more new message{} for the next run (a run takes at "
                    "most {} messages and {} bytes)",
                    account_.name, plan.deferred.size(), one ? " waits" : "s wait",
                    account_.max_messages_per_run, options_.max_bytes));
  }
  if (!options_.dry_run) return;
  std::uint64_t bytes = 0;
  for (std::size_t i : plan.fetch) bytes += listing[i].size;
  console_.info(
      fmt::format("{}: would download {} message{} ({} bytes), delete {}, leave {} too "
                  "large",
                  account_.name, plan.fetch.size(), plan.fetch.size() == 1 ? "" : "s", bytes,
                  plan.remove.size(), plan.too_large.size()));
  for (std::size_t i : plan.fetch) {
    console_.info(fmt::format("  download {} uidl={} size={}", listing[i].number, listing[i].uidl,
                              listing[i].size));
  }
  for (std::size_t i : plan.remove) {
    console_.info(fmt::format("  delete {} uidl={}", listing[i].number, listing[i].uidl));
  }
}

std::vector<Intent> Engine::reserve_intents() {
  std::vector<Intent> out;
  // Messages already begun have their intent; name the ones still to come.
  reserved_upto_ = std::max(reserved_upto_, answered_);
  std::size_t end = std::min(fetch_order_.size(), reserved_upto_ + deliverer_.batch());
  for (; reserved_upto_ < end; ++reserved_upto_) {
    const std::string& uidl = listing_[fetch_order_[reserved_upto_]].uidl;
    std::string token = deliverer_.reserve();
    tokens_[uidl] = token;
    out.push_back({uidl, account_.deliver.spec, token, options_.now});
  }
  return out;
}

Failure Engine::on_body_begin(std::size_t number) {
  const ListEntry* e = by_number_.at(number);
  auto it = resume_.find(e->uidl);
  const Intent* resume = it == resume_.end() ? nullptr : &it->second;
  delivery_started_ = resume ? resume->started_at : options_.now;
  received_ = 0;
  abandoned_ = false;
  auto reserved = tokens_.find(e->uidl);
  std::string token = reserved == tokens_.end() ? std::string() : reserved->second;
  Failure f;
  delivery_ = deliverer_.begin(e->uidl, token, resume, delivery_started_, f);
  if (f) return f;
  delivery_token_ = delivery_->token();
  if (reserved != tokens_.end() && delivery_token_ == token) return {};
  // The target records this intent itself, before the message reaches it.
  if (deliverer_.names_intents() && !resume) return {};
  // Not named ahead: the intent is made durable now, before a byte
  // reaches the target.
  if (db_.set_intent({e->uidl, account_.deliver.spec, delivery_token_, delivery_started_})) {
    return db_error("recording an intent");
  }
  return {};
}

Failure Engine::on_body_data(const Session::Event& ev) {
  const ListEntry& e = *by_number_.at(ev.message);
  received_ += ev.data.size();
  stats_.bytes += ev.data.size();
  counters_.bytes_done += ev.data.size();
  if (stats_.bytes > options_.max_bytes) {
    // More than the plan allowed for: the server sends more than it
    // listed. What is recorded stays; this message is not.
    if (!abandoned_) {
      if (auto f = abandon(e)) return f;
    }
    return fail(fetch_errc::protocol,
                fmt::format("the server sent more than {} bytes in one run (message {}, UIDL "
                            "{}, listed as {} bytes); the connection was dropped",
                            options_.max_bytes, e.number, e.uidl, e.size));
  }
  if (!abandoned_ && account_.max_size && received_ > *account_.max_size) {
    // LIST said it fits; the bytes say otherwise. The rest of the reply
    // is read and thrown away, so the session stays in step.
    console_.warn(
        fmt::format("{}: message {} (UIDL {}) grew past max_size ({} bytes) while "
                    "downloading, LIST said {} bytes; abandoned, it stays on the "
                    "server",
                    account_.name, e.number, e.uidl, *account_.max_size, e.size));
    ++stats_.too_large;
    ++stats_.grew;
    if (auto f = abandon(e)) return f;
  }
  if (abandoned_) {
    if (received_ - account_.max_size.value_or(0) > options_.max_discard) {
      return fail(fetch_errc::protocol,
                  fmt::format("message {} (UIDL {}) went on past {} bytes over max_size; the "
                              "connection was dropped",
                              e.number, e.uidl, options_.max_discard));
    }
    return {};
  }
  if (auto f = delivery_->write(ev.data)) return f;
  // The token moves if resuming had to copy a partial mbox message.
  if (delivery_->token() != delivery_token_) {
    delivery_token_ = delivery_->token();
    if (db_.set_intent({e.uidl, account_.deliver.spec, delivery_token_, delivery_started_})) {
      return db_error("recording an intent");
    }
  }
  console_.tick();
  return {};
}

// Nothing of the message stays in the target and nothing is recorded, so
// no DELE goes out for it.
Failure Engine::abandon(const ListEntry& e) {
  abandoned_ = true;
  delivery_.reset();  // removes what was written
  tokens_.erase(e.uidl);
  // A resumed mbox intent stays: the partial copy it names is still there.
  if (!resume_.contains(e.uidl) && db_.drop_intent(e.uidl)) return db_error("dropping an intent");
  return {};
}

Failure Engine::on_body_end(Session& session, std::size_t number) {
  const ListEntry* e = by_number_.at(number);
  if (std::exchange(abandoned_, false)) {
    answered(session);
    return std::exchange(batch_failure_, {});
  }
  if (auto f = delivery_->commit()) return f;
  if (auto note = delivery_->note(); !note.empty()) {
    console_.warn(fmt::format("{}: message {}: {}", account_.name, e->uidl, note));
  }
  delivery_.reset();
  resume_.erase(e->uidl);
  tokens_.erase(e->uidl);
  unrecorded_.push_back({number, e->uidl});
  answered(session);
  return std::exchange(batch_failure_, {});
}

void Engine::answered(Session& session) {
  ++answered_;
  if (unrecorded_.size() >= deliverer_.batch() || answered_ == fetch_order_.size()) {
    batch_failure_ = flush(&session);
  }
}

// Durable in the target, now recorded; only then may DELE go out.
Failure Engine::flush(Session* session) {
  if (unrecorded_.empty() && held_.empty()) return {};
  if (auto f = deliverer_.sync()) {
    // Some of the batch may not be in the target: record none of it. The
    // intents let the next run find the ones that are.
    unrecorded_.clear();
    return f;
  }
  std::vector<Unrecorded>* now = &unrecorded_;
  if (deliverer_.names_intents()) {
    // Durable now; recorded with the next batch's intents, or here at the
    // end of the run.
    held_.insert(held_.end(), unrecorded_.begin(), unrecorded_.end());
    unrecorded_.clear();
    now = &held_;
    if (session && answered_ < fetch_order_.size()) now = nullptr;
  }
  if (now && !now->empty()) {
    std::vector<Intent> next;
    if (session && deliverer_.batch() > 1 && !deliverer_.names_intents()) next = reserve_intents();
    if (db_.record_batch(rows_of(*now), next)) return db_error("recording messages");
    recorded(std::exchange(*now, {}));
  }
  if (session) {
    for (std::size_t number : to_delete_) session->remove(number);
  }
  to_delete_.clear();
  console_.tick();
  return {};
}

Failure Engine::on_closed(const Session::Event& ev) {
  if (!ev.ok) {
    console_.warn(
        fmt::format("{}: the server answered QUIT with \"{}\"; its deletions stay "
                    "pending for the next run",
                    account_.name, ev.data));
  } else {
    if (db_.forget(deleted_)) return db_error("forgetting deleted messages");
    stats_.deleted = deleted_.size();
  }
  if (after_quit_) return after_quit_;
  if (stats_.retr_failed > 0) {
    return fail(fetch_errc::temporary,
                fmt::format("{} message{} could not be retrieved", stats_.retr_failed,
                            stats_.retr_failed == 1 ? "" : "s"));
  }
  return {};
}

Failure Engine::finish() {
  delivery_.reset();  // a message cut short is abandoned
  Failure f = flush(nullptr);
  deliverer_.finish();
  return f;
}

}  // namespace popbox::client
