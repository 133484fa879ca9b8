// Maildir and mbox delivery.
#include <dirent.h>
#include <fmt/format.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "client/delivery.hpp"
#include "client/line_ends.hpp"
#include "client/mbox_writer.hpp"
#include "store/maildir_writer.hpp"

namespace popbox::client {
namespace {

class MaildirDelivery final : public Delivery {
 public:
  MaildirDelivery(const std::string& maildir, Failure& failure) : writer_(maildir, ec_) {
    if (ec_) {
      failure =
          fail(fetch_errc::cant_create, fmt::format("maildir {}: {}", maildir, ec_.message()));
    }
  }
  std::string token() const override { return writer_.base_name(); }
  Failure write(std::string_view data) override {
    buf_.clear();
    crlf_.convert(data, buf_);
    return check(writer_.write(buf_));
  }
  Failure commit() override {
    buf_.clear();
    crlf_.finish(buf_);
    if (auto f = check(writer_.write(buf_))) return f;
    return check(writer_.commit());
  }

 private:
  Failure check(std::error_code ec) {
    if (!ec) return {};
    return fail(fetch_errc::io, fmt::format("maildir: {}", ec.message()));
  }
  std::error_code ec_;
  store::MaildirWriter writer_;
  CrlfToLf crlf_;
  std::string buf_;
};

// True when `dir` holds `base` itself or `base` followed by ",S=..." or
// ":2,FLAGS" (a reader may have moved it to cur/ and added flags).
bool dir_has_base(const std::string& dir, const std::string& base) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name.starts_with(base) &&
        (name.size() == base.size() || name[base.size()] == ',' || name[base.size()] == ':')) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

class MaildirDeliverer final : public Deliverer {
 public:
  explicit MaildirDeliverer(std::string path) : path_(std::move(path)) {}

  Recovered recover(const Intent& intent) override {
    if (intent.token.empty() || intent.token.find('/') != std::string::npos) {
      return Recovered::not_delivered;
    }
    // A committed message is linked into new/ before its tmp/ name is
    // removed; the tmp/ file of an uncommitted one is garbage.
    if (dir_has_base(path_ + "/new", intent.token) || dir_has_base(path_ + "/cur", intent.token)) {
      ::unlink((path_ + "/tmp/" + intent.token).c_str());
      return Recovered::delivered;
    }
    ::unlink((path_ + "/tmp/" + intent.token).c_str());
    return Recovered::not_delivered;
  }

  std::unique_ptr<Delivery> begin(const std::string&, const Intent*, std::int64_t,
                                  Failure& failure) override {
    auto d = std::make_unique<MaildirDelivery>(path_, failure);
    if (failure) return nullptr;
    return d;
  }

 private:
  std::string path_;
};

class MboxDelivery final : public Delivery {
 public:
  MboxDelivery(const std::string& path, std::int64_t from_time, std::optional<std::uint64_t> resume,
               Failure& failure)
      : writer_(path, from_time, resume, failure) {}
  std::string token() const override { return std::to_string(writer_.offset()); }
  Failure write(std::string_view data) override { return writer_.write(data); }
  Failure commit() override { return writer_.commit(); }
  std::string note() const override { return writer_.note(); }

 private:
  MboxWriter writer_;
};

class MboxDeliverer final : public Deliverer {
 public:
  explicit MboxDeliverer(std::string path) : path_(std::move(path)) {}

  Recovered recover(const Intent&) override { return Recovered::resume; }

  std::unique_ptr<Delivery> begin(const std::string&, const Intent* resume, std::int64_t now,
                                  Failure& failure) override {
    std::optional<std::uint64_t> offset;
    std::int64_t from_time = now;
    if (resume) {
      std::uint64_t v = 0;
      const std::string& t = resume->token;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (ec == std::errc() && p == t.data() + t.size()) {
        offset = v;
        from_time = resume->started_at;  // the same "From " line as before
      }
    }
    auto d = std::make_unique<MboxDelivery>(path_, from_time, offset, failure);
    if (failure) return nullptr;
    return d;
  }

 private:
  std::string path_;
};

}  // namespace

std::unique_ptr<Deliverer> make_maildir_deliverer(const Target& target) {
  return std::make_unique<MaildirDeliverer>(target.path);
}

std::unique_ptr<Deliverer> make_mbox_deliverer(const Target& target) {
  return std::make_unique<MboxDeliverer>(target.path);
}

std::unique_ptr<Deliverer> make_deliverer(const Target& target, std::chrono::milliseconds timeout) {
  switch (target.kind) {
    case Target::Kind::maildir:
      return make_maildir_deliverer(target);
    case Target::Kind::mbox:
      return make_mbox_deliverer(target);
    case Target::Kind::mda:
      return make_mda_deliverer(target);
    case Target::Kind::lmtp:
      return make_lmtp_deliverer(target, timeout);
  }
  return nullptr;
}

}  // namespace popbox::client
