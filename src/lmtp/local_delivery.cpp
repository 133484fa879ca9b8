#include "lmtp/local_delivery.hpp"

#include <fmt/format.h>

#include "auth/authenticator.hpp"
#include "store/owned_mailbox.hpp"

namespace popbox::lmtp {
namespace {

// Converts bare LFs to CRLF across block boundaries (the Unix form an MTA
// pipes to the wire form the Store takes); CRLF stays as it is.
class LfToCrlf {
 public:
  std::string_view convert(std::string_view in) {
    out_.clear();
    for (char c : in) {
      if (c == '\n' && !prev_cr_) out_.push_back('\r');
      out_.push_back(c);
      prev_cr_ = c == '\r';
    }
    return out_;
  }

 private:
  std::string out_;
  bool prev_cr_ = false;
};

// A header value must not let a crafted address start a new header line.
bool safe_header_value(std::string_view v) {
  return v.find_first_of("\r\n") == std::string_view::npos;
}

}  // namespace

std::string_view strip_path(std::string_view path) noexcept {
  while (!path.empty() && path.front() == ' ') path.remove_prefix(1);
  while (!path.empty() && path.back() == ' ') path.remove_suffix(1);
  if (path.size() >= 2 && path.front() == '<' && path.back() == '>') {
    path = path.substr(1, path.size() - 2);
  }
  return path;
}

RcptStatus status_of(const std::error_code& ec) noexcept {
  if (!ec) return RcptStatus::ok;
  if (ec == store::failure::permanent) return RcptStatus::unsafe_mailbox;
  return RcptStatus::temp_failure;
}

LocalDelivery::LocalDelivery(const config::Config& cfg, auth::Authenticator& users,
                             store::Store& store)
    : cfg_(cfg), users_(users), store_(store) {}

RcptStatus LocalDelivery::check_quota(const Recipient& rcpt, std::uint64_t size, bool known_size,
                                      std::string& detail) {
  store::Usage usage;
  // Asked even without limits: it also finds a mailbox that cannot take
  // mail (a symlinked Maildir directory) before any data comes.
  if (auto ec = store_.usage(rcpt.request(), usage)) {
    detail = "cannot measure mailbox: " + ec.message();
    return status_of(ec);
  }
  if (rcpt.limits.unlimited()) return RcptStatus::ok;
  // Without an announced size, refuse only a mailbox that is already full.
  bool full = !known_size && rcpt.limits.storage && usage.bytes >= rcpt.limits.storage;
  if (full || store::over_quota(rcpt.limits, usage, size)) {
    detail = "mailbox full";
    return RcptStatus::over_quota;
  }
  return RcptStatus::ok;
}

RcptStatus LocalDelivery::resolve(std::string_view address, std::uint64_t size_hint, Recipient& out,
                                  std::string& detail) {
  const std::string name = cfg_.auth.canonical_user(address);
  std::error_code lookup_ec;
  std::optional<auth::UserInfo> info = users_.lookup(name, lookup_ec);
  if (!info && !lookup_ec) {
    std::size_t at = name.find('@');
    if (at != std::string::npos) {
      info = users_.lookup(std::string_view(name).substr(0, at), lookup_ec);
    }
  }
  if (lookup_ec) {
    // The user source is down: the MTA retries later (451), it must not bounce.
    detail = "cannot look up the user: " + lookup_ec.message();
    return RcptStatus::temp_failure;
  }
  if (!info) {
    detail = "no such user";
    return RcptStatus::no_such_user;
  }
  out.address = std::string(address);
  out.user = info->name;
  std::error_code ec;
  out.owner = store::entry_owner(info->uid, info->gid, cfg_.auth.first_valid_uid, ec);
  if (ec) {
    detail = fmt::format("uid/gid of the entry refused (0 or below first_valid_uid {})",
                         cfg_.auth.first_valid_uid);
    return status_of(ec);
  }
  std::string quota_error;
  auto limits =
      store::quota_from_extra(info->extra, {cfg_.quota.storage, cfg_.quota.messages}, &quota_error);
  if (!limits) {
    detail = quota_error;
    return RcptStatus::temp_failure;
  }
  out.limits = *limits;
  return check_quota(out, size_hint, size_hint != 0, detail);
}

std::string LocalDelivery::header_prefix(const Recipient& rcpt, std::string_view sender) const {
  std::string headers;
  if (cfg_.deliver.return_path && safe_header_value(sender)) {
    headers += fmt::format("Return-Path: <{}>\r\n", sender);
  }
  if (cfg_.deliver.delivered_to && safe_header_value(rcpt.address)) {
    headers += fmt::format("Delivered-To: {}\r\n", rcpt.address);
  }
  return headers;
}

std::vector<DeliveryResult> LocalDelivery::deliver(std::span<const Recipient> rcpts,
                                                   std::string_view sender,
                                                   const core::Spool& message, LineEnds line_ends) {
  std::vector<DeliveryResult> results(rcpts.size());
  std::vector<store::DeliveryTarget> targets;
  std::vector<std::size_t> target_of;  // index into rcpts
  for (std::size_t i = 0; i < rcpts.size(); ++i) {
    std::string prefix = header_prefix(rcpts[i], sender);
    // Checked again with the real size: other deliveries may have landed
    // since RCPT, and the size may not have been known then.
    results[i].status =
        check_quota(rcpts[i], message.size() + prefix.size(), true, results[i].detail);
    if (results[i].status != RcptStatus::ok) continue;
    targets.push_back({rcpts[i].request(), std::move(prefix)});
    target_of.push_back(i);
  }
  if (targets.empty()) return results;
  auto delivery = store_.begin_delivery(targets);
  LfToCrlf to_crlf;
  std::error_code ec = message.for_each_block([&](std::string_view block) {
    return delivery->write(line_ends == LineEnds::lf ? to_crlf.convert(block) : block);
  });
  std::vector<std::error_code> done;
  if (ec) {
    delivery->abort();
    done.assign(targets.size(), ec);
  } else {
    done = delivery->commit();
  }
  for (std::size_t t = 0; t < targets.size(); ++t) {
    DeliveryResult& r = results[target_of[t]];
    std::error_code e = t < done.size() ? done[t] : make_error_code(store::store_errc::io);
    r.status = status_of(e);
    if (e) r.detail = "cannot store message: " + e.message();
  }
  return results;
}

}  // namespace popbox::lmtp
