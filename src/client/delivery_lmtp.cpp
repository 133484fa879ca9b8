// Delivery over LMTP (RFC 2033) to one recipient: delivered when the
// server answers 250 for that recipient after the data. Blocking socket
// with timeouts: it runs on the account's own thread.
#include <fmt/format.h>
#include <netdb.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "client/delivery.hpp"
#include "core/dot_codec.hpp"
#include "core/limits.hpp"
#include "core/line_reader.hpp"
#include "store/unique_fd.hpp"

namespace popbox::client {
namespace {

std::string local_user() {
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_name) return pw->pw_name;
  return "root";
}

class LmtpConnection {
 public:
  LmtpConnection(const Target& target, std::chrono::milliseconds timeout)
      : target_(target), timeout_(timeout) {}

  bool connected() const { return static_cast<bool>(fd_); }
  void drop() { fd_.reset(); }

  Failure connect() {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string port = std::to_string(target_.port);
    if (int rc = getaddrinfo(target_.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
      return fail(fetch_errc::cant_create,
                  fmt::format("lmtp {}: {}", target_.spec, gai_strerror(rc)));
    }
    int err = 0;
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      store::detail::UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0));
      if (!fd) continue;
      timeval tv{static_cast<time_t>(timeout_.count() / 1000),
                 static_cast<suseconds_t>(timeout_.count() % 1000 * 1000)};
      setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) {
        fd_ = std::move(fd);
        break;
      }
      err = errno;
    }
    freeaddrinfo(res);
    if (!fd_) {
      return fail(fetch_errc::cant_create,
                  fmt::format("lmtp {}: {}", target_.spec, std::strerror(err)));
    }
    reader_.discard();
    if (auto f = expect(220, "greeting")) return f;
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    return command(fmt::format("LHLO {}\r\n", host[0] ? host : "localhost"), 250, "LHLO");
  }

  Failure send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        drop();
        return fail(fetch_errc::io, fmt::format("lmtp {}: {}", target_.spec, std::strerror(errno)));
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  Failure command(const std::string& line, int want, std::string_view what) {
    if (auto f = send(line)) return f;
    return expect(want, what);
  }

  // Reads one (possibly multi-line) reply and checks its code.
  Failure expect(int want, std::string_view what) {
    for (;;) {
      std::string_view line;
      auto r = reader_.next(line);
      if (r == core::LineReader::Result::too_long) {
        drop();
        return fail(fetch_errc::io, fmt::format("lmtp {}: reply too long", target_.spec));
      }
      if (r == core::LineReader::Result::line) {
        if (line.size() >= 4 && line[3] == '-') continue;
        int code = line.size() >= 3 ? std::atoi(std::string(line.substr(0, 3)).c_str()) : 0;
        if (code == want) return {};
        std::string text(line);
        if (code >= 400 && code < 500) {
          return fail(fetch_errc::temporary,
                      fmt::format("lmtp {}: {}: \"{}\"", target_.spec, what, text));
        }
        drop();
        return fail(fetch_errc::io, fmt::format("lmtp {}: {}: \"{}\"", target_.spec, what, text));
      }
      char buf[4096];
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n <= 0) {
        int e = n < 0 ? errno : ECONNRESET;
        drop();
        return fail(fetch_errc::io, fmt::format("lmtp {}: {}: {}", target_.spec, what,
                                                e == EAGAIN ? "timed out" : std::strerror(e)));
      }
      reader_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
  }

 private:
  const Target& target_;
  std::chrono::milliseconds timeout_;
  store::detail::UniqueFd fd_;
  core::LineReader reader_{limits::max_line};
};

class LmtpDelivery final : public Delivery {
 public:
  LmtpDelivery(LmtpConnection& conn, std::string recipient)
      : conn_(conn), recipient_(std::move(recipient)) {}
  ~LmtpDelivery() override {
    // A transaction cut short leaves the connection in DATA: never reuse it.
    if (!done_) conn_.drop();
  }

  Failure start() {
    if (auto f = conn_.command("MAIL FROM:<>\r\n", 250, "MAIL FROM")) return f;
    if (auto f = conn_.command(fmt::format("RCPT TO:<{}>\r\n", recipient_), 250, "RCPT TO")) {
      return f;
    }
    return conn_.command("DATA\r\n", 354, "DATA");
  }
  std::string token() const override { return {}; }
  Failure write(std::string_view data) override {
    buf_.clear();
    encoder_.encode(data, buf_);
    return conn_.send(buf_);
  }
  Failure commit() override {
    buf_.clear();
    encoder_.finish(buf_);
    if (auto f = conn_.send(buf_)) return f;
    auto f = conn_.expect(250, "delivery");
    done_ = !f;
    return f;
  }

 private:
  LmtpConnection& conn_;
  std::string recipient_;
  core::DotEncoder encoder_;
  std::string buf_;
  bool done_ = false;
};

class LmtpDeliverer final : public Deliverer {
 public:
  LmtpDeliverer(const Target& target, std::chrono::milliseconds timeout)
      : target_(target),
        conn_(target_, timeout),
        recipient_(target.recipient.empty() ? local_user() : target.recipient) {}
  std::vector<Recovered> recover(const std::vector<Intent>& intents) override {
    return std::vector<Recovered>(intents.size(), Recovered::unknown);
  }
  std::unique_ptr<Delivery> begin(const std::string&, const std::string&, const Intent*,
                                  std::int64_t, Failure& failure) override {
    if (!conn_.connected()) {
      failure = conn_.connect();
      if (failure) return nullptr;
    }
    auto d = std::make_unique<LmtpDelivery>(conn_, recipient_);
    failure = d->start();
    if (failure) return nullptr;
    return d;
  }
  void finish() override {
    if (conn_.connected()) conn_.command("QUIT\r\n", 221, "QUIT");
    conn_.drop();
  }

 private:
  Target target_;
  LmtpConnection conn_;
  std::string recipient_;
};

}  // namespace

std::unique_ptr<Deliverer> make_lmtp_deliverer(const Target& target,
                                               std::chrono::milliseconds timeout) {
  return std::make_unique<LmtpDeliverer>(target, timeout);
}

}  // namespace popbox::client
