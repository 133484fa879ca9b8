#include "admin/client.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "store/unique_fd.hpp"

namespace popbox::admin {

namespace {

// Waits until `fd` is ready for `events` or the deadline passes.
bool wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 60'000)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

}  // namespace

std::optional<nlohmann::json> call(const std::string& path, const Request& request,
                                   std::chrono::seconds wait, CallError& error) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    error = {EX_USAGE, fmt::format("unusable admin socket path '{}'", path)};
    return std::nullopt;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  store::detail::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    error = {EX_OSERR, fmt::format("socket: {}", std::strerror(errno))};
    return std::nullopt;
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    const bool denied = e == EACCES || e == EPERM;
    error = {
        denied ? EX_NOPERM : EX_UNAVAILABLE,
        fmt::format("cannot connect to the admin socket {} ([admin] socket): {}{}", path,
                    std::strerror(e),
                    denied ? " (the socket's group may use it)" : " (is popbox serve running?)")};
    return std::nullopt;
  }
  const std::string line = format_request(request);
  std::size_t sent = 0;
  while (sent < line.size()) {
    if (!wait_for(fd.get(), POLLOUT, deadline)) {
      error = {EX_TEMPFAIL, fmt::format("timed out sending to {}", path)};
      return std::nullopt;
    }
    ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = {EX_IOERR, fmt::format("cannot send to {}: {}", path, std::strerror(errno))};
      return std::nullopt;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  char buf[16 * 1024];
  for (;;) {
    if (!wait_for(fd.get(), POLLIN, deadline)) {
      error = {EX_TEMPFAIL, fmt::format("no reply from {} in {} s", path, wait.count())};
      return std::nullopt;
    }
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = {EX_IOERR, fmt::format("cannot read from {}: {}", path, std::strerror(errno))};
      return std::nullopt;
    }
    if (n == 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  auto j = nlohmann::json::parse(reply, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) {
    error = {EX_PROTOCOL, fmt::format("the server at {} sent no valid reply", path)};
    return std::nullopt;
  }
  return j;
}

}  // namespace popbox::admin
