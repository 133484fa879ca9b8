// mbox delivery, batched like Maildir's.
//
// The messages of a batch are encoded into memory. At sync() the file is
// locked, the intents naming each message's offset are committed (the
// engine's one commit of the batch, which also records the batch before),
// the messages are written, and the file is fsynced once and unlocked. A
// batch (or one message) over mbox_batch_bytes goes to the file early the
// same way, intents first, and keeps the lock until sync(). A message
// resumed after an interrupted run goes through MboxWriter, which
// compares with what the file holds at its recorded offset.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "client/delivery.hpp"
#include "client/mbox_writer.hpp"
#include "core/limits.hpp"

namespace popbox::client {
namespace {

// A message resumed after an interrupted run: written and compared
// directly, durable at commit().
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

class MboxDeliverer;

// A message of the current batch; its token is named at sync().
class MboxBatchDelivery final : public Delivery {
 public:
  MboxBatchDelivery(MboxDeliverer& owner, std::int64_t from_time)
      : owner_(owner), encoder_(from_time) {}
  ~MboxBatchDelivery() override;
  std::string token() const override { return {}; }
  Failure write(std::string_view data) override;
  Failure commit() override;

 private:
  MboxDeliverer& owner_;
  MboxEncoder encoder_;
  std::string out_;
  bool committed_ = false;
};

class MboxDeliverer final : public Deliverer {
 public:
  explicit MboxDeliverer(std::string path) : path_(std::move(path)) {}
  // Messages never synced are not recorded; those already in the file
  // have intents, and the next run resumes them.
  ~MboxDeliverer() override { unlock_mbox(fd_); }

  std::vector<Recovered> recover(const std::vector<Intent>& intents) override {
    return std::vector<Recovered>(intents.size(), Recovered::resume);
  }
  std::size_t batch() const override { return limits::mbox_batch; }
  bool names_intents() const override { return true; }
  void set_intent_sink(IntentSink sink) override { sink_ = std::move(sink); }

  std::unique_ptr<Delivery> begin(const std::string& uidl, const std::string&, const Intent* resume,
                                  std::int64_t now, Failure& failure) override {
    std::optional<std::uint64_t> offset;
    if (resume) {
      std::uint64_t v = 0;
      const std::string& t = resume->token;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (ec == std::errc() && p == t.data() + t.size()) offset = v;
    }
    if (offset) {
      // The batch so far goes first, and the lock is released for the
      // writer, which takes it itself.
      if (auto f = write_out(true)) {
        failure = f;
        return nullptr;
      }
      // The same "From " line as before.
      auto d = std::make_unique<MboxDelivery>(path_, resume->started_at, offset, failure);
      if (failure) return nullptr;
      return d;
    }
    pending_.push_back({uidl, now, buf_.size()});
    return std::make_unique<MboxBatchDelivery>(*this, now);
  }

  Failure sync() override { return write_out(true); }

  // Bytes of the current message, in stored form.
  Failure append(std::string_view bytes) {
    buf_.append(bytes);
    if (buf_.size() >= limits::mbox_batch_bytes) return write_out(false);
    return {};
  }

  // The current message will not be committed: nothing of it stays.
  void drop_current() noexcept {
    if (pending_.empty()) return;
    Pending p = pending_.back();
    pending_.pop_back();
    if (!p.named) {
      buf_.resize(p.at);
      return;
    }
    // Part of it is in the file, at its end (the lock is still ours).
    buf_.clear();
    if (fd_ && ::ftruncate(fd_.get(), static_cast<off_t>(p.offset)) == 0) end_ = p.offset;
  }

 private:
  struct Pending {
    std::string uidl;
    std::int64_t started_at = 0;
    std::size_t at = 0;  // where it starts in buf_, until it is named
    bool named = false;  // its intent is durable, its offset fixed
    std::uint64_t offset = 0;
  };

  Failure io_failure(std::string_view what) const {
    return fail(fetch_errc::io, fmt::format("mbox {}: {}: {}", path_, what, std::strerror(errno)));
  }

  // Writes what waits in memory, intents first; with `done`, fsyncs and
  // unlocks: every message of the batch is durable on return.
  Failure write_out(bool done) {
    if (buf_.empty() && !fd_) return {};
    if (!fd_) {
      if (auto f = open_locked_mbox(path_, fd_)) return f;
      struct stat st {};
      if (::fstat(fd_.get(), &st) != 0) return io_failure("stat");
      end_ = static_cast<std::uint64_t>(st.st_size);
    }
    std::vector<Intent> intents;
    for (Pending& p : pending_) {
      if (p.named) continue;
      p.named = true;
      p.offset = end_ + p.at;
      intents.push_back({p.uidl, {}, std::to_string(p.offset), p.started_at});
    }
    if (!intents.empty() && sink_) {
      if (auto f = sink_(intents)) return f;
    }
    std::string_view bytes = buf_;
    while (!bytes.empty()) {
      ssize_t n = ::pwrite(fd_.get(), bytes.data(), bytes.size(), static_cast<off_t>(end_));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_failure("write");
      end_ += static_cast<std::uint64_t>(n);
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    buf_.clear();
    if (!done) return {};
    if (::fsync(fd_.get()) != 0) return io_failure("fsync");
    unlock_mbox(fd_);
    pending_.clear();
    return {};
  }

  std::string path_;
  IntentSink sink_;
  store::detail::UniqueFd fd_;  // open and locked from the first write of a batch to sync()
  std::uint64_t end_ = 0;       // the file's end while fd_ is open
  std::string buf_;             // the batch's messages not yet written
  std::vector<Pending> pending_;
};

MboxBatchDelivery::~MboxBatchDelivery() {
  if (!committed_) owner_.drop_current();
}

Failure MboxBatchDelivery::write(std::string_view data) {
  out_.clear();
  encoder_.encode(data, out_);
  return owner_.append(out_);
}

Failure MboxBatchDelivery::commit() {
  out_.clear();
  encoder_.finish(out_);
  committed_ = true;
  return owner_.append(out_);
}

}  // namespace

std::unique_ptr<Deliverer> make_mbox_deliverer(const Target& target) {
  return std::make_unique<MboxDeliverer>(target.path);
}

}  // namespace popbox::client
