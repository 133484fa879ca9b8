#include "net/session_registry.hpp"

#include <openssl/ssl.h>

#include <algorithm>

#include "pop3/session.hpp"

namespace popbox::net {

namespace {

const char* state_name(pop3::Session::State s) {
  switch (s) {
    case pop3::Session::State::authorization:
      return "authorization";
    case pop3::Session::State::transaction:
      return "transaction";
    case pop3::Session::State::update:
      return "update";
    case pop3::Session::State::closed:
      break;
  }
  return "closed";
}

const std::string empty_user;

}  // namespace

SessionRecord::~SessionRecord() {
  if (registry_) registry_->live_.erase(id_);
}

void SessionRecord::start(std::uint64_t id, const std::string& peer, bool implicit_tls,
                          const pop3::Session& session, WatchedSocket<asio::ip::tcp::socket>& conn,
                          const std::uint64_t& bytes_in, const std::uint64_t& bytes_out) {
  id_ = id;
  peer_ = &peer;
  implicit_tls_ = implicit_tls;
  session_ = &session;
  conn_ = &conn;
  bytes_in_ = &bytes_in;
  bytes_out_ = &bytes_out;
  since_ = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  auto& registry = SessionRegistry::this_thread();
  if (registry.live_.emplace(id, this).second) registry_ = &registry;
}

void SessionRecord::tls_started(SSL* ssl) {
  tls_ = ::SSL_get_version(ssl);
}

void SessionRecord::kick() {
  if (kicked_ || conn_ == nullptr) return;
  kicked_ = true;
  if (conn_->idle) {
    // The wait for the next command ends now; kicked_goodbye() says why.
    std::error_code ignored;
    conn_->socket.cancel(ignored);
  } else {
    // Busy: the current command is answered first (a QUIT in progress still
    // commits, as the client asked), then the connection ends.
    conn_->stop_requested = true;
  }
}

const std::string& SessionRecord::user() const {
  if (session_ == nullptr || session_->state() == pop3::Session::State::authorization) {
    return empty_user;
  }
  return session_->user();
}

SessionInfo SessionRecord::info() const {
  SessionInfo i;
  i.id = id_;
  i.user = user();
  i.peer = peer_ ? *peer_ : std::string();
  i.proto = implicit_tls_ ? "pop3s" : "pop3";
  i.tls = tls_ ? tls_ : "";
  i.state = session_ ? state_name(session_->state()) : "authorization";
  i.since = since_;
  i.bytes_in = bytes_in_ ? *bytes_in_ : 0;
  i.bytes_out = bytes_out_ ? *bytes_out_ : 0;
  return i;
}

SessionRegistry& SessionRegistry::this_thread() {
  static thread_local SessionRegistry registry;
  return registry;
}

std::vector<SessionInfo> SessionRegistry::list() const {
  std::vector<SessionInfo> out;
  out.reserve(live_.size());
  for (const auto& [id, record] : live_) out.push_back(record->info());
  std::sort(out.begin(), out.end(),
            [](const SessionInfo& a, const SessionInfo& b) { return a.id < b.id; });
  return out;
}

std::size_t SessionRegistry::kick_if(const std::function<bool(const SessionRecord&)>& match) {
  // kick() never deregisters (the session ends later, on this thread), so
  // walking the map while kicking is safe.
  std::size_t n = 0;
  for (auto& [id, record] : live_) {
    if (!record->kicked() && match(*record)) {
      record->kick();
      ++n;
    }
  }
  return n;
}

}  // namespace popbox::net
