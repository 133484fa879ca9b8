// Delivery to an MDA command: the message (LF line ends) on its stdin,
// delivered when the command exits 0.
#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "client/delivery.hpp"
#include "client/line_ends.hpp"
#include "core/limits.hpp"
#include "store/unique_fd.hpp"

extern char** environ;

namespace popbox::client {
namespace {

class MdaDelivery final : public Delivery {
 public:
  MdaDelivery(const std::string& command, Failure& failure) : command_(command) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      failure = fail(fetch_errc::cant_create, fmt::format("mda: pipe: {}", std::strerror(errno)));
      return;
    }
    store::detail::UniqueFd read_end(fds[0]);
    pipe_.reset(fds[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, read_end.get(), STDIN_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Its own process group: an aborted delivery kills the whole command
    // (a shell and its children) before it can see a cut-short message.
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
    const char* argv[] = {"/bin/sh", "-c", command_.c_str(), nullptr};
    int rc = posix_spawn(&pid_, "/bin/sh", &actions, &attr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      pid_ = -1;
      failure = fail(fetch_errc::cant_create,
                     fmt::format("mda: cannot start /bin/sh: {}", std::strerror(rc)));
    }
  }

  ~MdaDelivery() override {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      pipe_.reset();
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }

  std::string token() const override { return {}; }

  Failure write(std::string_view data) override {
    buf_.clear();
    crlf_.convert(data, buf_);
    return write_all(buf_);
  }

  Failure commit() override {
    buf_.clear();
    crlf_.finish(buf_);
    if (auto f = write_all(buf_)) return f;
    return reap(false);
  }

 private:
  // Closes the pipe and waits for the command: its exit status decides.
  Failure reap(bool cut_short) {
    pipe_.reset();
    int status = 0;
    pid_t pid = pid_;
    // Most commands exit right after EOF: poll quickly at first, then back off.
    for (useconds_t pause = 100;; pause = std::min<useconds_t>(pause * 2, 50'000)) {
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0 && errno != EINTR) return fail(fetch_errc::io, "mda: waitpid failed");
      if (expired()) return timed_out();  // the destructor kills and reaps it
      ::usleep(pause);
    }
    pid_ = -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL) {
      return fail(fetch_errc::temporary,
                  fmt::format("mda \"{}\" exited with EX_TEMPFAIL", command_));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
      return fail(fetch_errc::io,
                  fmt::format("mda \"{}\" exited with status {}", command_, WEXITSTATUS(status)));
    }
    if (WIFSIGNALED(status)) {
      return fail(fetch_errc::io,
                  fmt::format("mda \"{}\" was killed by signal {}", command_, WTERMSIG(status)));
    }
    if (cut_short) {
      return fail(fetch_errc::io,
                  fmt::format("mda \"{}\" exited before reading the whole message", command_));
    }
    return {};
  }

  Failure write_all(std::string_view data) {
    // A command that exits early must show up as EPIPE, not kill popbox:
    // SIGPIPE is blocked for this thread while writing, and a pending one
    // is taken back before unblocking.
    sigset_t pipe_signal, old;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, &old);
    int error = 0;
    while (!data.empty()) {
      // Wait for room in the pipe, but not past the deadline: an MDA that
      // stops reading must not hang the account.
      pollfd pfd{pipe_.get(), POLLOUT, 0};
      int ready = ::poll(&pfd, 1, remaining_ms());
      if (ready == 0 || expired()) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        return timed_out();
      }
      if (ready < 0) {
        if (errno == EINTR) continue;
        error = errno;
        break;
      }
      ssize_t n = ::write(pipe_.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        error = errno;
        break;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    if (error == EPIPE) {
      timespec none{};
      sigtimedwait(&pipe_signal, nullptr, &none);
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (error == EPIPE) return reap(true);  // the exit status says why
    if (error) {
      return fail(fetch_errc::io, fmt::format("mda \"{}\": {}", command_, std::strerror(error)));
    }
    return {};
  }

  bool expired() const { return std::chrono::steady_clock::now() >= deadline_; }
  int remaining_ms() const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline_ - std::chrono::steady_clock::now());
    return static_cast<int>(
        std::max<std::int64_t>(0, std::min<std::int64_t>(left.count(), 60'000)));
  }
  Failure timed_out() const {
    return fail(fetch_errc::temporary, fmt::format("mda \"{}\" did not finish within {} s; killed",
                                                   command_, limits::mda_timeout.count()));
  }

  std::string command_;
  std::chrono::steady_clock::time_point deadline_ =
      std::chrono::steady_clock::now() + limits::mda_timeout;
  store::detail::UniqueFd pipe_;
  pid_t pid_ = -1;
  CrlfToLf crlf_;
  std::string buf_;
};

class MdaDeliverer final : public Deliverer {
 public:
  explicit MdaDeliverer(std::string command) : command_(std::move(command)) {}
  std::vector<Recovered> recover(const std::vector<Intent>& intents) override {
    return std::vector<Recovered>(intents.size(), Recovered::unknown);
  }
  std::unique_ptr<Delivery> begin(const std::string&, const std::string&, const Intent*,
                                  std::int64_t, Failure& failure) override {
    auto d = std::make_unique<MdaDelivery>(command_, failure);
    if (failure) return nullptr;
    return d;
  }

 private:
  std::string command_;
};

}  // namespace

std::unique_ptr<Deliverer> make_mda_deliverer(const Target& target) {
  return std::make_unique<MdaDeliverer>(target.command);
}

}  // namespace popbox::client
