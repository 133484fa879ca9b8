#include "lmtp/local_delivery.hpp"

#include <fmt/format.h>

#include "auth/authenticator.hpp"
#include "core/privileges.hpp"
#include "store/maildir_layout.hpp"
#include "store/maildir_store.hpp"
#include "store/maildir_writer.hpp"
#include "store/owned_mailbox.hpp"

namespace popbox::lmtp {
namespace {

// Converts CRLF to LF across block boundaries (a CR at the end of a block is
// held until the next block shows whether an LF follows).
class CrlfToLf {
 public:
  std::string_view convert(std::string_view in) {
    out_.clear();
    for (char c : in) {
      if (held_cr_) {
        held_cr_ = false;
        if (c != '\n') out_.push_back('\r');
      }
      if (c == '\r') {
        held_cr_ = true;
        continue;
      }
      out_.push_back(c);
    }
    return out_;
  }
  std::string_view finish() const { return held_cr_ ? "\r" : ""; }

 private:
  std::string out_;
  bool held_cr_ = false;
};

// A header value must not let a crafted address start a new header line.
bool safe_header_value(std::string_view v) {
  return v.find_first_of("\r\n") == std::string_view::npos;
}

// True when the message's first line ends in CRLF.
bool first_line_is_crlf(const core::Spool& message) {
  bool crlf = false;
  message.for_each_block([&](std::string_view b) {
    auto lf = b.find('\n');
    crlf = lf != std::string_view::npos && lf > 0 && b[lf - 1] == '\r';
    return std::make_error_code(std::errc::interrupted);  // the first block is enough
  });
  return crlf;
}

// Makes the calling thread's file-system access that of `owner` (if any)
// while alive; detail and failed() say when that was impossible.
class AsOwner {
 public:
  AsOwner(const std::optional<store::Owner>& owner, std::string& detail) {
    if (!owner) return;
    guard_.emplace(owner->uid, owner->gid, ec_);
    if (!ec_) return;
    detail = fmt::format("cannot act as uid {} gid {}", owner->uid, owner->gid);
    store::log_owner_switch_failed(*owner);
  }
  bool failed() const noexcept { return static_cast<bool>(ec_); }

 private:
  std::error_code ec_;
  std::optional<core::FsIdGuard> guard_;
};

}  // namespace

std::string_view strip_path(std::string_view path) noexcept {
  while (!path.empty() && path.front() == ' ') path.remove_prefix(1);
  while (!path.empty() && path.back() == ' ') path.remove_suffix(1);
  if (path.size() >= 2 && path.front() == '<' && path.back() == '>') {
    path = path.substr(1, path.size() - 2);
  }
  return path;
}

LocalDelivery::LocalDelivery(const config::Config& cfg, auth::Authenticator& users,
                             const store::MaildirStore& store)
    : cfg_(cfg), users_(users), store_(store) {}

RcptStatus LocalDelivery::resolve(std::string_view address, std::uint64_t size_hint, Recipient& out,
                                  std::string& detail) {
  const std::string name = cfg_.auth.canonical_user(address);
  std::optional<auth::UserInfo> info = users_.lookup(name);
  if (!info) {
    std::size_t at = name.find('@');
    if (at != std::string::npos) info = users_.lookup(std::string_view(name).substr(0, at));
  }
  if (!info) {
    detail = "no such user";
    return RcptStatus::no_such_user;
  }
  out.address = std::string(address);
  out.user = info->name;
  std::error_code ec;
  out.maildir = store_.maildir_path(out.user, ec);
  if (ec) {
    detail = "user name gives no usable mail path";
    return RcptStatus::temp_failure;
  }
  out.owner = store::entry_owner(info->uid, info->gid, cfg_.auth.first_valid_uid, ec);
  if (ec) {
    detail = fmt::format("uid/gid of the entry refused (0 or below first_valid_uid {})",
                         cfg_.auth.first_valid_uid);
    return RcptStatus::unsafe_mailbox;
  }
  AsOwner as_owner(out.owner, detail);
  if (as_owner.failed()) return RcptStatus::unsafe_mailbox;
  // Refuse a Maildir whose directories are symlinks before any data comes
  // (open_maildir logs which one); deliver() checks again when it writes.
  store::detail::MaildirDirs dirs;
  if (auto dec = store::detail::open_maildir(out.maildir, dirs, store::detail::Create::no)) {
    detail = "cannot open mailbox: " + dec.message();
    return dec == store::store_errc::unsafe_path ? RcptStatus::unsafe_mailbox
                                                 : RcptStatus::temp_failure;
  }
  std::string quota_error;
  auto limits =
      store::quota_from_extra(info->extra, {cfg_.quota.storage, cfg_.quota.messages}, &quota_error);
  if (!limits) {
    detail = quota_error;
    return RcptStatus::temp_failure;
  }
  out.limits = *limits;
  if (out.limits.unlimited()) return RcptStatus::ok;
  store::QuotaUsage usage;
  if (auto uec = store::maildir_usage(out.maildir, usage)) {
    detail = "cannot measure mailbox: " + uec.message();
    return uec == store::store_errc::unsafe_path ? RcptStatus::unsafe_mailbox
                                                 : RcptStatus::temp_failure;
  }
  // Without an announced size, refuse only a mailbox that is already full.
  bool full = out.limits.storage && usage.bytes >= out.limits.storage;
  if (full || store::over_quota(out.limits, usage, size_hint)) {
    detail = "mailbox full";
    return RcptStatus::over_quota;
  }
  return RcptStatus::ok;
}

RcptStatus LocalDelivery::deliver(const Recipient& rcpt, std::string_view sender,
                                  const core::Spool& message, bool crlf_to_lf,
                                  std::string& detail) {
  std::string headers;
  if (cfg_.deliver.return_path && safe_header_value(sender)) {
    headers += fmt::format("Return-Path: <{}>\n", sender);
  }
  if (cfg_.deliver.delivered_to && safe_header_value(rcpt.address)) {
    headers += fmt::format("Delivered-To: {}\n", rcpt.address);
  }
  if (!crlf_to_lf && !headers.empty() && first_line_is_crlf(message)) {
    // Keep the message's own line-end style for the added headers.
    std::string crlf;
    for (char c : headers) {
      if (c == '\n') crlf += '\r';
      crlf += c;
    }
    headers = std::move(crlf);
  }
  AsOwner as_owner(rcpt.owner, detail);
  if (as_owner.failed()) return RcptStatus::unsafe_mailbox;
  if (!rcpt.limits.unlimited()) {
    // Checked again with the real size: other deliveries may have landed
    // since RCPT, and the size may not have been known then.
    store::QuotaUsage usage;
    if (auto ec = store::maildir_usage(rcpt.maildir, usage)) {
      detail = "cannot measure mailbox: " + ec.message();
      return ec == store::store_errc::unsafe_path ? RcptStatus::unsafe_mailbox
                                                  : RcptStatus::temp_failure;
    }
    if (store::over_quota(rcpt.limits, usage, message.size() + headers.size())) {
      detail = "mailbox full";
      return RcptStatus::over_quota;
    }
  }
  std::error_code ec;
  store::MaildirWriter writer(rcpt.maildir, ec);
  if (!ec) ec = writer.write(headers);
  CrlfToLf converter;
  if (!ec) {
    ec = message.for_each_block([&](std::string_view block) {
      return writer.write(crlf_to_lf ? converter.convert(block) : block);
    });
  }
  if (!ec && crlf_to_lf) ec = writer.write(converter.finish());
  if (!ec) ec = writer.commit();
  if (ec) {
    detail = "cannot store message: " + ec.message();
    return ec == store::store_errc::unsafe_path ? RcptStatus::unsafe_mailbox
                                                : RcptStatus::temp_failure;
  }
  return RcptStatus::ok;
}

}  // namespace popbox::lmtp
