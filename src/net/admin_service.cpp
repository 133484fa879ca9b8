#include "net/admin_service.hpp"

#include <fmt/format.h>

#include <asio.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "admin/mail_ops.hpp"
#include "auth/passwd_file.hpp"
#include "core/log.hpp"
#include "net/blocking.hpp"
#include "net/server_state.hpp"
#include "net/session_registry.hpp"
#include "store/owned_mailbox.hpp"

namespace popbox::net {

using nlohmann::json;

namespace {

admin::Reply ok_reply(json j) {
  j["ok"] = true;
  return {true, j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
}

admin::Reply fail_reply(std::string_view why) {
  return {false, admin::error_reply(why)};
}

json to_json(const SessionInfo& s) {
  return {{"id", s.id},       {"user", s.user},         {"peer", s.peer},
          {"proto", s.proto}, {"tls", s.tls},           {"state", s.state},
          {"since", s.since}, {"bytes_in", s.bytes_in}, {"bytes_out", s.bytes_out}};
}

// Runs `fn` on the event thread of `context` and returns its result here.
template <class Fn>
auto on_context(asio::io_context& context, Fn fn) -> asio::awaitable<std::invoke_result_t<Fn&>> {
  using R = std::invoke_result_t<Fn&>;
  auto task = [fn = std::move(fn)]() mutable -> asio::awaitable<R> { co_return fn(); };
  auto op = asio::co_spawn(context.get_executor(), std::move(task), asio::use_awaitable);
  co_return co_await std::move(op);
}

// Where `user`'s maildrop is and whose; nullopt (and `why`) when it has none.
std::optional<admin::MaildropRef> maildrop_of(ServerState& st, const store::MaildirPaths* store,
                                              const std::string& user, std::string& why) {
  if (!store) {
    why = "not available with this [store] backend";
    return std::nullopt;
  }
  const store::MaildirPaths& paths = *store;
  std::error_code ec;
  auto info = st.auth.lookup(user, ec);
  if (!info) {
    why = ec ? "cannot look up the user: " + ec.message() : "unknown user";
    return std::nullopt;
  }
  admin::MaildropRef ref;
  ref.user = user;
  ref.path = paths.maildir_path(user, ec);
  if (ec) {
    why = ec.message();
    return std::nullopt;
  }
  ref.owner = store::entry_owner(info->uid, info->gid, st.cfg.auth.first_valid_uid, ec);
  if (ec) {
    why = ec.message();
    return std::nullopt;
  }
  ref.uidl_format = paths.uidl_format();
  ref.adopt_x_uidl = paths.adopt_x_uidl();
  return ref;
}

json to_json(const admin::ExpungeResult& r) {
  json messages = json::array();
  for (const auto& m : r.messages) {
    messages.push_back({{"uidl", m.uidl}, {"octets", m.octets}, {"delivered", m.delivered}});
  }
  json j = {{"user", r.user},
            {"removed", r.removed},
            {"octets", r.octets},
            {"messages", messages},
            {"truncated", r.truncated}};
  if (!r.skipped.empty()) j["skipped"] = r.skipped;
  return j;
}

}  // namespace

AdminService::AdminService(ServerState& state, const store::MaildirPaths* paths,
                           std::vector<asio::io_context*> contexts,
                           std::function<ReloadReport()> reload)
    : state_(state), paths_(paths), contexts_(std::move(contexts)), reload_(std::move(reload)) {}

asio::awaitable<admin::Reply> AdminService::handle(const admin::Request& request,
                                                   const admin::Peer& peer) {
  (void)peer;  // logged by the socket; its permissions decide who gets here
  switch (request.verb) {
    case admin::Verb::who:
      co_return co_await who();
    case admin::Verb::kick:
      co_return co_await kick(request);
    case admin::Verb::mailbox_stat:
      co_return co_await mailbox_stat(request);
    case admin::Verb::expunge:
      co_return co_await expunge(request);
    case admin::Verb::reload:
      co_return co_await reload();
  }
  co_return fail_reply("unknown verb");
}

asio::awaitable<admin::Reply> AdminService::who() {
  std::vector<SessionInfo> all;
  for (auto* context : contexts_) {
    auto part = co_await on_context(*context, [] { return SessionRegistry::this_thread().list(); });
    all.insert(all.end(), std::make_move_iterator(part.begin()),
               std::make_move_iterator(part.end()));
  }
  std::sort(all.begin(), all.end(),
            [](const SessionInfo& a, const SessionInfo& b) { return a.id < b.id; });
  json sessions = json::array();
  for (const auto& s : all) sessions.push_back(to_json(s));
  co_return ok_reply({{"sessions", std::move(sessions)}});
}

asio::awaitable<admin::Reply> AdminService::kick(const admin::Request& request) {
  const auto& cfg = state_.cfg;
  const std::string user = request.session ? "" : cfg.auth.canonical_user(request.user);
  const std::uint64_t id = request.session.value_or(0);
  std::size_t kicked = 0;
  for (auto* context : contexts_) {
    kicked += co_await on_context(*context, [&cfg, &user, id] {
      return SessionRegistry::this_thread().kick_if([&](const SessionRecord& r) {
        if (user.empty()) return r.id() == id;
        return !r.user().empty() && cfg.auth.canonical_user(r.user()) == user;
      });
    });
  }
  core::log_info(
      fmt::format("event=admin_kick {}={} sessions={}", request.session ? "session" : "user",
                  request.session ? std::to_string(id) : core::log_escape(user), kicked));
  co_return ok_reply({{"kicked", kicked}});
}

asio::awaitable<admin::Reply> AdminService::mailbox_stat(const admin::Request& request) {
  std::string why;
  const std::string user = state_.cfg.auth.canonical_user(request.user);
  auto ref = maildrop_of(state_, paths_, user, why);
  if (!ref) co_return fail_reply(why);
  std::error_code ec;
  std::error_code* ecp = &ec;
  const admin::MaildropRef* r = &*ref;
  admin::MailboxStat stat =
      co_await run_blocking(state_.pool, [r, ecp] { return admin::mailbox_stat(*r, *ecp); });
  if (ec) co_return fail_reply(ec.message());
  json j = {{"user", user},
            {"exists", stat.exists},
            {"locked", stat.locked},
            {"index", stat.index},
            {"from_snapshot", stat.from_snapshot}};
  if (stat.counted) {
    j["messages"] = stat.messages;
    j["octets"] = stat.octets;
  } else {
    j["messages"] = nullptr;
    j["octets"] = nullptr;
  }
  if (stat.oldest) {
    j["oldest"] = *stat.oldest;
  } else {
    j["oldest"] = nullptr;
  }
  co_return ok_reply(std::move(j));
}

asio::awaitable<admin::Reply> AdminService::expunge(const admin::Request& request) {
  ServerState& st = state_;
  const store::MaildirPaths* paths = paths_;
  const std::int64_t cutoff = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count() -
                              request.older_than;
  const admin::Request* req = &request;
  // Every user's maildrop in turn, on one pool thread: the pool is shared
  // with the sessions, which must not wait behind a long retention run.
  auto work = [&st, paths, req, cutoff]() -> std::pair<std::string, json> {
    std::vector<std::string> users;
    if (req->all) {
      try {
        const auto file = auth::PasswdFile::load(st.cfg.auth.passwd_file);
        for (const auto& e : file.entries()) users.push_back(e.user);
      } catch (const std::exception& e) {
        return {e.what(), json()};
      }
    } else {
      users.push_back(st.cfg.auth.canonical_user(req->user));
    }
    json results = json::array();
    for (const auto& user : users) {
      std::string why;
      admin::ExpungeResult r;
      if (auto ref = maildrop_of(st, paths, user, why)) {
        r = admin::expunge(*ref, cutoff, req->dry_run);
      } else {
        r.user = user;
        r.skipped = why;
      }
      core::log_info(fmt::format(
          "event=expunge user={} removed={} octets={} dry_run={}{}", core::log_escape(user),
          r.removed, r.octets, req->dry_run ? "yes" : "no",
          r.skipped.empty() ? "" : fmt::format(" skipped=\"{}\"", core::log_escape(r.skipped))));
      results.push_back(to_json(r));
    }
    return {"", std::move(results)};
  };
  auto [error, results] = co_await run_blocking(st.pool, std::move(work));
  if (!error.empty()) co_return fail_reply(error);
  co_return ok_reply({{"dry_run", request.dry_run},
                      {"older_than", request.older_than},
                      {"cutoff", cutoff},
                      {"users", std::move(results)}});
}

asio::awaitable<admin::Reply> AdminService::reload() {
  auto* fn = &reload_;
  ReloadReport report = co_await run_blocking(state_.pool, [fn] { return (*fn)(); });
  json items = json::array();
  for (const auto& i : report.items) {
    json item = {{"what", i.what}, {"ok", i.ok}};
    if (!i.ok) item["error"] = i.error;
    items.push_back(std::move(item));
  }
  co_return ok_reply({{"reloaded", std::move(items)}, {"all_ok", report.ok()}});
}

}  // namespace popbox::net
