#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "net/systemd.hpp"

namespace sd = popbox::net::sd;

namespace {

// A loopback IPv4 stream socket on an ephemeral port, listening or not.
int tcp_socket(bool listening) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  if (listening) {
    EXPECT_EQ(::listen(fd, 4), 0);
  }
  return fd;
}

// Puts `fd` at SD_LISTEN_FDS_START for one test and gives the old one back.
class AtListenFdsStart {
 public:
  explicit AtListenFdsStart(int fd) : saved_(::dup(SD_START)) { ::dup2(fd, SD_START); }
  ~AtListenFdsStart() {
    if (saved_ >= 0) {
      ::dup2(saved_, SD_START);
      ::close(saved_);
    } else {
      ::close(SD_START);
    }
  }

 private:
  static constexpr int SD_START = 3;  // SD_LISTEN_FDS_START
  int saved_;
};

void set_listen_env(const char* names) {
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("LISTEN_FDS", "1", 1);
  ::setenv("LISTEN_FDNAMES", names, 1);
}

}  // namespace

TEST(SystemdNames, OnlyTheThreeProtocolNames) {
  EXPECT_EQ(sd::role_for_name("pop3"), sd::SocketRole::pop3);
  EXPECT_EQ(sd::role_for_name("pop3s"), sd::SocketRole::pop3s);
  EXPECT_EQ(sd::role_for_name("lmtp"), sd::SocketRole::lmtp);
  for (const char* bad : {"", "POP3", "pop3 ", "imap", "popbox.socket", "unknown", "lmtps"}) {
    EXPECT_EQ(sd::role_for_name(bad), std::nullopt) << bad;
  }
}

TEST(SystemdNotify, MonotonicLineIsMicroseconds) {
  EXPECT_EQ(sd::monotonic_line(std::chrono::microseconds(1234567)), "MONOTONIC_USEC=1234567");
}

TEST(SystemdSockets, AcceptsOnlyListeningStreamSockets) {
  int family = 0;
  int listening = tcp_socket(true);
  EXPECT_EQ(sd::check_listening_stream(listening, family), "");
  EXPECT_EQ(family, AF_INET);
  int idle = tcp_socket(false);
  EXPECT_NE(sd::check_listening_stream(idle, family).find("not listening"), std::string::npos);
  int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
  EXPECT_NE(sd::check_listening_stream(udp, family).find("not a stream socket"), std::string::npos);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  EXPECT_NE(sd::check_listening_stream(pipe_fds[0], family).find("not a socket"),
            std::string::npos);
  int unix_fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un u{};
  u.sun_family = AF_UNIX;
  std::string path = "/tmp/popbox-unit-sd-" + std::to_string(::getpid());
  std::snprintf(u.sun_path, sizeof u.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(unix_fd, reinterpret_cast<sockaddr*>(&u), sizeof u), 0);
  ASSERT_EQ(::listen(unix_fd, 4), 0);
  EXPECT_EQ(sd::check_listening_stream(unix_fd, family), "");
  EXPECT_EQ(family, AF_UNIX);
  ::unlink(path.c_str());
  for (int fd : {listening, idle, udp, pipe_fds[0], pipe_fds[1], unix_fd}) ::close(fd);
}

TEST(SystemdSockets, NothingPassedIsEmpty) {
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  EXPECT_TRUE(sd::take_listen_fds().empty());
}

TEST(SystemdSockets, TakesANamedSocketAndUnsetsTheEnvironment) {
  int fd = tcp_socket(true);
  AtListenFdsStart at(fd);
  set_listen_env("pop3s");
  auto got = sd::take_listen_fds();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].fd, 3);
  EXPECT_EQ(got[0].name, "pop3s");
  EXPECT_EQ(got[0].role, sd::SocketRole::pop3s);
  EXPECT_EQ(got[0].family, AF_INET);
  EXPECT_EQ(std::getenv("LISTEN_FDS"), nullptr);
  EXPECT_EQ(std::getenv("LISTEN_PID"), nullptr);
  ::close(fd);
}

TEST(SystemdSockets, AnotherProcessesSocketsAreIgnored) {
  int fd = tcp_socket(true);
  AtListenFdsStart at(fd);
  set_listen_env("pop3");
  ::setenv("LISTEN_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_TRUE(sd::take_listen_fds().empty());
  ::close(fd);
}

TEST(SystemdSockets, UnknownNameIsAnErrorNamingIt) {
  int fd = tcp_socket(true);
  AtListenFdsStart at(fd);
  set_listen_env("imap");
  try {
    sd::take_listen_fds();
    FAIL() << "an unknown name was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("fd 3 named 'imap'"), std::string::npos) << e.what();
  }
  ::close(fd);
}

TEST(SystemdSockets, NonListeningSocketIsAnError) {
  int fd = tcp_socket(false);
  AtListenFdsStart at(fd);
  set_listen_env("pop3");
  EXPECT_THROW(sd::take_listen_fds(), std::runtime_error);
  ::close(fd);
}

TEST(SystemdSockets, UnixSocketOnlyForLmtp) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un u{};
  u.sun_family = AF_UNIX;
  std::string path = "/tmp/popbox-unit-sd2-" + std::to_string(::getpid());
  std::snprintf(u.sun_path, sizeof u.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&u), sizeof u), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  {
    AtListenFdsStart at(fd);
    set_listen_env("pop3");
    EXPECT_THROW(sd::take_listen_fds(), std::runtime_error);
  }
  {
    AtListenFdsStart at(fd);
    set_listen_env("lmtp");
    auto got = sd::take_listen_fds();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].family, AF_UNIX);
  }
  ::unlink(path.c_str());
  ::close(fd);
}
