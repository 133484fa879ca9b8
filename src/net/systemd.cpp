#include "net/systemd.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace popbox::net::sd {
namespace {

void notify(const std::string& state) {
  if (std::getenv("NOTIFY_SOCKET") == nullptr) return;
  (void)::sd_notify(0, state.c_str());
}

// STATUS= ends at the newline: the free text may not start another line.
std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

}  // namespace

void notify_ready(std::string_view status) {
  notify(fmt::format("READY=1\nSTATUS={}", one_line(status)));
}

void notify_reloading() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  auto now = std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  notify(fmt::format("RELOADING=1\nSTATUS=Reloading\n{}",
                     monotonic_line(std::chrono::duration_cast<std::chrono::microseconds>(now))));
}

void notify_stopping(std::string_view status) {
  notify(fmt::format("STOPPING=1\nSTATUS={}", one_line(status)));
}

std::string monotonic_line(std::chrono::microseconds since_boot) {
  return fmt::format("MONOTONIC_USEC={}", since_boot.count());
}

std::optional<SocketRole> role_for_name(std::string_view name) {
  if (name == "pop3") return SocketRole::pop3;
  if (name == "pop3s") return SocketRole::pop3s;
  if (name == "lmtp") return SocketRole::lmtp;
  return std::nullopt;
}

std::string check_listening_stream(int fd, int& family) {
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    return fmt::format("not a socket ({})", std::strerror(errno));
  }
  if (type != SOCK_STREAM) return "not a stream socket (ListenStream= is needed)";
  int listening = 0;
  len = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) {
    return "not listening (Accept=no is needed)";
  }
  sockaddr_storage addr{};
  len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return fmt::format("getsockname failed ({})", std::strerror(errno));
  }
  if (addr.ss_family != AF_INET && addr.ss_family != AF_INET6 && addr.ss_family != AF_UNIX) {
    return fmt::format("address family {} is not IPv4, IPv6 or unix", addr.ss_family);
  }
  family = addr.ss_family;
  return "";
}

std::vector<InheritedSocket> take_listen_fds() {
  char** raw_names = nullptr;
  int n = ::sd_listen_fds_with_names(1, &raw_names);
  // The array and each name are malloc'ed by libsystemd.
  auto free_names = [n](char** names) {
    if (!names) return;
    for (int i = 0; i < n; ++i) std::free(names[i]);
    std::free(names);
  };
  std::unique_ptr<char*, decltype(free_names)> names(raw_names, free_names);
  if (n < 0) {
    throw std::runtime_error(
        fmt::format("cannot take the sockets systemd passed: {}", std::strerror(-n)));
  }
  std::vector<InheritedSocket> out;
  for (int i = 0; i < n; ++i) {
    InheritedSocket s;
    s.fd = SD_LISTEN_FDS_START + i;
    s.name = names && names.get()[i] ? names.get()[i] : "";
    auto role = role_for_name(s.name);
    if (!role) {
      throw std::runtime_error(fmt::format(
          "systemd passed socket fd {} named '{}': FileDescriptorName= must be pop3, pop3s or "
          "lmtp",
          s.fd, s.name));
    }
    s.role = *role;
    if (auto why = check_listening_stream(s.fd, s.family); !why.empty()) {
      throw std::runtime_error(
          fmt::format("systemd passed socket fd {} named '{}': {}", s.fd, s.name, why));
    }
    if (s.family == AF_UNIX && s.role != SocketRole::lmtp) {
      throw std::runtime_error(fmt::format(
          "systemd passed socket fd {} named '{}': a unix socket serves only lmtp", s.fd, s.name));
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace popbox::net::sd
