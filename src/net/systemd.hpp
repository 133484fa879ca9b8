#pragma once
// The systemd service-manager protocols popbox speaks (sd_notify(3),
// sd_listen_fds(3)), through libsystemd. Without NOTIFY_SOCKET and
// LISTEN_FDS in the environment nothing here does anything, so the same
// binary runs unchanged outside systemd.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace popbox::net::sd {

/// Tells the service manager the service is up: `READY=1` and `STATUS=status`.
/// Sends nothing when NOTIFY_SOCKET is unset; errors are ignored (a missing
/// manager must not stop the server).
void notify_ready(std::string_view status);

/// `RELOADING=1` with `MONOTONIC_USEC=` (CLOCK_MONOTONIC now, as systemd
/// 253's Type=notify-reload wants); follow it with notify_ready.
void notify_reloading();

/// `STOPPING=1` with `STATUS=status`: the service is shutting down.
void notify_stopping(std::string_view status);

/// The `MONOTONIC_USEC=` line for a CLOCK_MONOTONIC time of `since_boot`.
std::string monotonic_line(std::chrono::microseconds since_boot);

/// What an inherited socket is for, from its FileDescriptorName=.
enum class SocketRole { pop3, pop3s, lmtp };

/// The role of the FileDescriptorName `name` ("pop3", "pop3s", "lmtp");
/// nullopt for any other name.
std::optional<SocketRole> role_for_name(std::string_view name);

/// A listening socket received from the service manager.
struct InheritedSocket {
  int fd = -1;
  std::string name;  ///< its FileDescriptorName=
  SocketRole role = SocketRole::pop3;
  int family = 0;  ///< AF_INET, AF_INET6 or AF_UNIX
};

/// Checks that `fd` is a listening SOCK_STREAM socket of AF_INET, AF_INET6
/// or AF_UNIX (stored in `family`); "" when it is, else why not (for an
/// error message).
std::string check_listening_stream(int fd, int& family);

/// Takes the sockets passed with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES (and
/// unsets those variables, so children do not see them); empty when none
/// were passed. Throws std::runtime_error naming the descriptor for a name
/// popbox does not know or a socket that is not a listening stream socket.
std::vector<InheritedSocket> take_listen_fds();

}  // namespace popbox::net::sd
