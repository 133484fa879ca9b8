// LocalDelivery through the Store seam (here the memory backend): one
// delivery for all recipients, per-recipient headers and results, quota
// from the kept usage, the wire form whatever the input's line ends.
#include <gtest/gtest.h>

#include <fstream>

#include "auth/authenticator.hpp"
#include "auth_fake_user_source.hpp"
#include "lmtp/local_delivery.hpp"
#include "store/memory_store.hpp"
#include "temp_dir.hpp"

namespace popbox::lmtp {
namespace {

class LocalDeliveryTest : public ::testing::Test {
 protected:
  LocalDeliveryTest() {
    std::ofstream(dir_.path + "/users") << "alice:{PLAIN}a::::::\n"
                                        << "bob:{PLAIN}b::::::userdb_quota_rule=*:storage=100B\n";
    cfg_.auth.passwd_file = dir_.path + "/users";
    users_.load();
  }
  Recipient resolve(const std::string& address, RcptStatus want = RcptStatus::ok,
                    std::uint64_t size_hint = 0) {
    Recipient r;
    std::string detail;
    EXPECT_EQ(delivery_.resolve(address, size_hint, r, detail), want) << detail;
    return r;
  }
  std::string retr(const std::string& user, std::size_t i) {
    std::error_code ec;
    auto box = store_.open(user, ec);
    EXPECT_TRUE(box) << ec.message();
    if (!box || i >= box->messages().size()) return "<none>";
    auto reader = box->open(i, ec);
    std::string out;
    char buf[64];
    while (std::size_t n = reader->read(buf, ec)) out.append(buf, n);
    return out;
  }
  const core::Spool& spool(std::string_view text) {
    spool_.clear();
    EXPECT_FALSE(spool_.append(text));
    return spool_;
  }

  test::TempDir dir_;
  config::Config cfg_;
  auth::Authenticator users_{dir_.path + "/users"};
  store::MemoryStore store_;
  core::Spool spool_;
  LocalDelivery delivery_{cfg_, users_, store_};
};

TEST_F(LocalDeliveryTest, OneDeliveryForEveryRecipientEachWithItsHeaders) {
  std::vector<Recipient> rcpts{resolve("alice@example.org"), resolve("bob")};
  auto results =
      delivery_.deliver(rcpts, "s@example.org", spool("Subject: x\r\n\r\nhi\r\n"), LineEnds::crlf);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status, RcptStatus::ok);
  EXPECT_EQ(results[1].status, RcptStatus::ok);
  EXPECT_EQ(retr("alice", 0),
            "Return-Path: <s@example.org>\r\nDelivered-To: alice@example.org\r\n"
            "Subject: x\r\n\r\nhi\r\n");
  EXPECT_EQ(retr("bob", 0),
            "Return-Path: <s@example.org>\r\nDelivered-To: bob\r\nSubject: x\r\n\r\nhi\r\n");
}

TEST(LocalDeliverySource, ASourceThatIsDownIsTemporaryAnUnknownUserIsNot) {
  auto src = std::make_shared<test::FakeUserSource>();
  src->put("carol", "{PLAIN}c");
  auth::Authenticator users(src);
  users.load();
  config::Config cfg;
  store::MemoryStore store;
  LocalDelivery delivery(cfg, users, store);
  Recipient r;
  std::string detail;
  EXPECT_EQ(delivery.resolve("carol@example.org", 0, r, detail), RcptStatus::ok) << detail;
  EXPECT_EQ(delivery.resolve("nobody", 0, r, detail), RcptStatus::no_such_user);
  src->down = true;  // 451 4.3.0, not 550: the MTA keeps the mail and retries
  EXPECT_EQ(delivery.resolve("carol", 0, r, detail), RcptStatus::temp_failure);
  EXPECT_NE(detail.find("cannot look up"), std::string::npos) << detail;
  EXPECT_EQ(delivery.resolve("nobody", 0, r, detail), RcptStatus::temp_failure);
}

TEST_F(LocalDeliveryTest, UnixInputReachesTheStoreInWireForm) {
  cfg_.deliver.return_path = false;
  cfg_.deliver.delivered_to = false;
  std::vector<Recipient> rcpts{resolve("alice")};
  delivery_.deliver(rcpts, "", spool("Subject: x\n\nline\r\nlf\n"), LineEnds::lf);
  EXPECT_EQ(retr("alice", 0), "Subject: x\r\n\r\nline\r\nlf\r\n");
}

TEST_F(LocalDeliveryTest, QuotaComesFromUsageAndCountsOnlyThatRecipient) {
  cfg_.deliver.return_path = false;
  std::vector<Recipient> rcpts{resolve("alice"), resolve("bob")};
  const std::string big(120, 'x');
  auto results =
      delivery_.deliver(rcpts, "", spool("Subject: big\r\n\r\n" + big + "\r\n"), LineEnds::crlf);
  EXPECT_EQ(results[0].status, RcptStatus::ok);
  EXPECT_EQ(results[1].status, RcptStatus::over_quota);
  EXPECT_EQ(retr("bob", 0), "<none>");
  store::Usage u;
  ASSERT_FALSE(store_.usage({"alice", std::nullopt}, u));
  EXPECT_EQ(u.messages, 1u);
  // A message announced too big (SIZE=) is refused at RCPT already.
  auto small = delivery_.deliver(std::vector<Recipient>{resolve("bob")}, "",
                                 spool("Subject: s\r\n\r\n" + std::string(60, 'y') + "\r\n"),
                                 LineEnds::crlf);
  EXPECT_EQ(small[0].status, RcptStatus::ok);
  resolve("bob", RcptStatus::ok, 5);  // 95 of 100 bytes used
  resolve("bob", RcptStatus::over_quota, 10);
}

TEST_F(LocalDeliveryTest, AStoreFailureIsThatRecipientsAlone) {
  store_.fail_deliveries_to("bob", make_error_code(store::store_errc::unavailable));
  std::vector<Recipient> rcpts{resolve("alice"), resolve("bob")};
  auto results = delivery_.deliver(rcpts, "", spool("Subject: x\r\n\r\n"), LineEnds::crlf);
  EXPECT_EQ(results[0].status, RcptStatus::ok);
  EXPECT_EQ(results[1].status, RcptStatus::temp_failure);
  store_.fail_deliveries_to("bob", make_error_code(store::store_errc::unsafe_path));
  results = delivery_.deliver(rcpts, "", spool("Subject: x\r\n\r\n"), LineEnds::crlf);
  EXPECT_EQ(results[1].status, RcptStatus::unsafe_mailbox);
  EXPECT_EQ(status_of(std::make_error_code(std::errc::permission_denied)),
            RcptStatus::unsafe_mailbox);
  EXPECT_EQ(status_of(std::make_error_code(std::errc::no_space_on_device)),
            RcptStatus::temp_failure);
}

}  // namespace
}  // namespace popbox::lmtp
