// What the POP3 connection does at the Pop3Hooks occasions
// (net/pop3_hooked.hpp), without a socket.
#include <gtest/gtest.h>

#include <cstring>

#include "net/pop3_hooked.hpp"

using namespace popbox;

namespace {

struct Hooks final : net::Pop3Hooks {
  Login login = Login::go_on;
  std::optional<std::uint64_t> cut;
  bool dele = false;
  std::string asked;  // the user of the last call
  Login on_login(std::string_view user) override {
    asked = user;
    return login;
  }
  std::chrono::milliseconds reply_delay(std::string_view) override { return {}; }
  std::optional<std::uint64_t> retr_cut(std::string_view user) override {
    asked = user;
    return cut;
  }
  bool refuse_dele(std::string_view user) override {
    asked = user;
    return dele;
  }
};

class Reader final : public store::MessageReader {
 public:
  explicit Reader(std::string s) : s_(std::move(s)) {}
  std::size_t read(std::span<char> buf, std::error_code& ec) override {
    ec.clear();
    std::size_t n = std::min(buf.size(), s_.size() - at_);
    std::memcpy(buf.data(), s_.data() + at_, n);
    at_ += n;
    return n;
  }

 private:
  std::string s_;
  std::size_t at_ = 0;
};

// Reads `reader` to its end or error: (octets, error).
std::pair<std::string, std::error_code> drain(store::MessageReader& reader) {
  std::string out;
  char buf[3];
  std::error_code ec;
  while (std::size_t n = reader.read(buf, ec)) out.append(buf, n);
  return {out, ec};
}

}  // namespace

TEST(NetPop3Hooks, LoginRefusalsReplaceOnlyASuccess) {
  Hooks h;
  using pop3::LoginOutcome;
  EXPECT_EQ(net::detail::hooked_login(nullptr, "u", LoginOutcome::ok), LoginOutcome::ok);
  EXPECT_EQ(net::detail::hooked_login(&h, "u", LoginOutcome::ok), LoginOutcome::ok);
  EXPECT_EQ(h.asked, "u");
  h.login = net::Pop3Hooks::Login::in_use;
  EXPECT_EQ(net::detail::hooked_login(&h, "u", LoginOutcome::ok), LoginOutcome::in_use);
  h.login = net::Pop3Hooks::Login::temp_failure;
  EXPECT_EQ(net::detail::hooked_login(&h, "u", LoginOutcome::ok), LoginOutcome::temp_failure);
  EXPECT_EQ(net::detail::hooked_login(&h, "u", LoginOutcome::bad_credentials),
            LoginOutcome::bad_credentials);
}

TEST(NetPop3Hooks, RetrCutKeepsThePrefixThenFails) {
  struct Case {
    std::uint64_t cut;
    std::size_t first;  // octets the driver read before asking
    std::string sent;
  };
  for (const Case& c :
       {Case{4, 2, "abcd"}, Case{4, 6, "abcd"}, Case{0, 5, ""}, Case{9, 3, "abcdefghi"}}) {
    Hooks h;
    h.cut = c.cut;
    std::unique_ptr<store::MessageReader> reader = std::make_unique<Reader>("abcdefghij");
    char first[16];
    std::error_code ec;
    std::size_t n = reader->read(std::span<char>(first, c.first), ec);
    net::detail::hooked_retr(&h, "u", reader, n);
    auto [rest, err] = drain(*reader);
    EXPECT_EQ(std::string(first, n) + rest, c.sent) << c.cut << "/" << c.first;
    EXPECT_EQ(err, std::errc::connection_aborted);
  }
  // No cut, or no hooks: the reader is left alone and ends normally.
  Hooks none;
  std::unique_ptr<store::MessageReader> reader = std::make_unique<Reader>("abc");
  store::MessageReader* before = reader.get();
  std::size_t n = 0;
  net::detail::hooked_retr(&none, "u", reader, n);
  net::detail::hooked_retr(nullptr, "u", reader, n);
  EXPECT_EQ(reader.get(), before);
  EXPECT_EQ(drain(*reader).first, "abc");
  // A message shorter than the cut goes out whole.
  none.cut = 100;
  net::detail::hooked_retr(&none, "u", reader = std::make_unique<Reader>("abc"), n);
  auto [all, err] = drain(*reader);
  EXPECT_EQ(all, "abc");
  EXPECT_FALSE(err);
}

TEST(NetPop3Hooks, DeleIsRefusedOnlyInTheTransactionState) {
  Hooks h;
  h.dele = true;
  pop3::Session session{pop3::SessionOptions{}};
  std::string out;
  // Before login the session answers DELE itself (-ERR, wrong state).
  net::detail::hooked_line(&h, session, "DELE 1", out);
  EXPECT_TRUE(h.asked.empty());
  EXPECT_TRUE(out.starts_with("-ERR")) << out;
  EXPECT_EQ(out.find("cannot be deleted"), std::string::npos);
  std::vector<store::MessageInfo> messages{{"u1", 5}};
  session.on_line("USER ann", out);
  ASSERT_EQ(session.on_line("PASS x", out).action, pop3::Step::Action::login);
  session.login_done(pop3::LoginOutcome::ok, &messages, out);
  out.clear();
  net::detail::hooked_line(&h, session, "dele 1", out);
  EXPECT_EQ(out, "-ERR [SYS/TEMP] The message cannot be deleted now.\r\n");
  EXPECT_EQ(h.asked, "ann");
  EXPECT_TRUE(session.commit_deleted().empty());
  h.dele = false;
  out.clear();
  net::detail::hooked_line(&h, session, "DELE 1", out);
  EXPECT_TRUE(out.starts_with("+OK")) << out;
  EXPECT_EQ(session.commit_deleted(), std::vector<std::size_t>{0});
  net::detail::hooked_line(nullptr, session, "NOOP", out);
}
