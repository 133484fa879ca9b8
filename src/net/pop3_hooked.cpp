#include "net/pop3_hooked.hpp"

#include <algorithm>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cstring>

#include "pop3/command.hpp"

namespace popbox::net::detail {
namespace {

// Gives the first `left` octets of the message, then fails: the driver
// treats that like a disk error mid-message and drops the connection.
class CutReader final : public store::MessageReader {
 public:
  CutReader(std::unique_ptr<store::MessageReader> inner, std::uint64_t left)
      : inner_(std::move(inner)), left_(left) {}

  std::size_t read(std::span<char> buf, std::error_code& ec) override {
    if (left_ == 0) return cut(ec);
    std::size_t n = inner_->read(clip(buf), ec);
    left_ -= n;
    return n;
  }
  std::optional<std::size_t> read_nowait(std::span<char> buf, std::error_code& ec) override {
    if (left_ == 0) return cut(ec);
    auto n = inner_->read_nowait(clip(buf), ec);
    if (n) left_ -= *n;
    return n;
  }

 private:
  std::span<char> clip(std::span<char> buf) const {
    return buf.first(static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), left_)));
  }
  static std::size_t cut(std::error_code& ec) {
    ec = std::make_error_code(std::errc::connection_aborted);
    return 0;
  }

  std::unique_ptr<store::MessageReader> inner_;
  std::uint64_t left_;
};

}  // namespace

pop3::LoginOutcome hooked_login(Pop3Hooks* hooks, const std::string& user,
                                pop3::LoginOutcome outcome) {
  if (hooks == nullptr || outcome != pop3::LoginOutcome::ok) return outcome;
  switch (hooks->on_login(user)) {
    case Pop3Hooks::Login::temp_failure:
      return pop3::LoginOutcome::temp_failure;
    case Pop3Hooks::Login::in_use:
      return pop3::LoginOutcome::in_use;
    case Pop3Hooks::Login::go_on:
      break;
  }
  return outcome;
}

asio::awaitable<void> hooked_delay(Pop3Hooks* hooks, const std::string& user) {
  if (hooks == nullptr) co_return;
  const auto wait = hooks->reply_delay(user);
  if (wait.count() <= 0) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor, wait);
  co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

pop3::Step hooked_line(Pop3Hooks* hooks, pop3::Session& session, std::string_view line,
                       std::string& out) {
  if (hooks != nullptr && session.state() == pop3::Session::State::transaction &&
      std::strcmp(pop3::parse_command(line).keyword, "DELE") == 0 &&
      hooks->refuse_dele(session.user())) {
    out += "-ERR [SYS/TEMP] The message cannot be deleted now.\r\n";
    return {};
  }
  return session.on_line(line, out);
}

void hooked_retr(Pop3Hooks* hooks, const std::string& user,
                 std::unique_ptr<store::MessageReader>& reader, std::size_t& first_n) {
  if (hooks == nullptr || !reader) return;
  auto cut = hooks->retr_cut(user);
  if (!cut) return;
  first_n = static_cast<std::size_t>(std::min<std::uint64_t>(first_n, *cut));
  reader = std::make_unique<CutReader>(std::move(reader), *cut - first_n);
}

}  // namespace popbox::net::detail
