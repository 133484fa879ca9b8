// Maildir delivery, and the choice of deliverer.
#include <dirent.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <unordered_set>

#include "core/limits.hpp"

#include "client/delivery.hpp"
#include "client/line_ends.hpp"
#include "store/maildir_writer.hpp"

namespace popbox::client {
namespace {

// Maildir commits (fsync, link into new/) run in the background: many
// fsyncs in flight at once let the file system write one journal commit
// for all of them, instead of one per message. sync() waits for them.
class Completions {
 public:
  ~Completions() { wait_all(); }
  void add(std::unique_ptr<store::MaildirWriter> writer) {
    auto commit = [w = std::move(writer)] { return w->commit_deferred(); };
    try {
      pending_.push_back(std::async(std::launch::async, std::move(commit)));
    } catch (const std::system_error&) {
      errors_.push_back(commit());  // no thread to spare: commit here
    }
  }
  std::error_code wait_all() {
    for (auto& f : pending_) errors_.push_back(f.get());
    pending_.clear();
    std::error_code first;
    for (const auto& ec : errors_) {
      if (ec && !first) first = ec;
    }
    errors_.clear();
    return first;
  }

 private:
  std::vector<std::future<std::error_code>> pending_;
  std::vector<std::error_code> errors_;
};

class MaildirDelivery final : public Delivery {
 public:
  MaildirDelivery(const std::string& maildir, const std::string& base, Completions& completions,
                  Failure& failure)
      : writer_(std::make_unique<store::MaildirWriter>(maildir, base, ec_)),
        completions_(completions) {
    if (ec_) {
      failure =
          fail(fetch_errc::cant_create, fmt::format("maildir {}: {}", maildir, ec_.message()));
    }
  }
  std::string token() const override { return writer_ ? writer_->base_name() : token_; }
  Failure write(std::string_view data) override {
    buf_.clear();
    crlf_.convert(data, buf_);
    return check(writer_->write(buf_));
  }
  Failure commit() override {
    buf_.clear();
    crlf_.finish(buf_);
    if (auto f = check(writer_->write(buf_))) return f;
    token_ = writer_->base_name();
    completions_.add(std::move(writer_));
    return {};
  }

 private:
  Failure check(std::error_code ec) {
    if (!ec) return {};
    return fail(fetch_errc::io, fmt::format("maildir: {}", ec.message()));
  }
  std::error_code ec_;
  std::unique_ptr<store::MaildirWriter> writer_;
  Completions& completions_;
  std::string token_;
  CrlfToLf crlf_;
  std::string buf_;
};

// The base names in `dir` (without ",S=..." or ":2,FLAGS": a reader may
// have moved a message to cur/ and added flags).
void add_bases(const std::string& dir, std::unordered_set<std::string>& out) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    out.emplace(name.substr(0, name.find_first_of(",:")));
  }
  ::closedir(d);
}

class MaildirDeliverer final : public Deliverer {
 public:
  explicit MaildirDeliverer(std::string path) : path_(std::move(path)) {}

  std::vector<Recovered> recover(const std::vector<Intent>& intents) override {
    std::unordered_set<std::string> bases;
    add_bases(path_ + "/new", bases);
    add_bases(path_ + "/cur", bases);
    std::vector<Recovered> out;
    for (const Intent& intent : intents) {
      const std::string& base = intent.token;
      if (base.empty() || base.find_first_of("/,:") != std::string::npos) {
        out.push_back(Recovered::not_delivered);
        continue;
      }
      // A committed message is linked into new/ before its tmp/ name is
      // removed; the tmp/ file of an uncommitted one is garbage.
      ::unlink((path_ + "/tmp/" + base).c_str());
      out.push_back(bases.contains(base) ? Recovered::delivered : Recovered::not_delivered);
    }
    return out;
  }

  ~MaildirDeliverer() override { completions_.wait_all(); }
  std::size_t batch() const override { return limits::maildir_batch; }
  std::string reserve() override { return store::new_maildir_base(); }

  std::unique_ptr<Delivery> begin(const std::string&, const std::string& token, const Intent*,
                                  std::int64_t, Failure& failure) override {
    std::string base = token.empty() ? store::new_maildir_base() : token;
    auto d = std::make_unique<MaildirDelivery>(path_, base, completions_, failure);
    if (failure) return nullptr;
    return d;
  }

  Failure sync() override {
    if (auto ec = completions_.wait_all()) {
      return fail(fetch_errc::io, fmt::format("maildir {}: {}", path_, ec.message()));
    }
    if (auto ec = store::sync_new_dir(path_)) {
      return fail(fetch_errc::io, fmt::format("maildir {}: fsync: {}", path_, ec.message()));
    }
    return {};
  }

 private:
  std::string path_;
  Completions completions_;
};

}  // namespace

std::unique_ptr<Deliverer> make_maildir_deliverer(const Target& target) {
  return std::make_unique<MaildirDeliverer>(target.path);
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
