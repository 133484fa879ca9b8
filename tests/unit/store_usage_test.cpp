// The Maildir backend's kept usage (popbox-usage) and the failure classes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/maildir_store.hpp"
#include "store/maildir_usage.hpp"
#include "store/maildir_writer.hpp"
#include "store/quota.hpp"
#include "store_test_util.hpp"

namespace popbox::store::test {
namespace {

class MaildirUsage : public ::testing::Test {
 protected:
  void deliver(const std::string& body) {
    std::vector<DeliveryTarget> t(1);
    t[0].mailbox.user = "alice";
    auto d = store_.begin_delivery(t);
    ASSERT_FALSE(d->write(body));
    auto r = d->commit();
    ASSERT_FALSE(r.at(0)) << r[0].message();
  }
  Usage usage(std::error_code* out = nullptr) {
    Usage u;
    std::error_code ec = store_.usage(OpenRequest{"alice", std::nullopt}, u);
    if (out) {
      *out = ec;
    } else {
      EXPECT_FALSE(ec) << ec.message();
    }
    return u;
  }
  Usage scanned() {
    Usage u;
    EXPECT_FALSE(maildir_usage(maildir(), u));
    return u;
  }
  std::string maildir() const { return dir_ / "alice/Maildir"; }
  std::string counter() const { return maildir() + "/" + detail::usage_file_name; }

  TempDir dir_;
  MaildirStore store_{dir_.path() + "/%n/Maildir"};
};

TEST_F(MaildirUsage, MissingMaildirHoldsNothingAndIsNotCreated) {
  EXPECT_EQ(usage(), Usage{});
  EXPECT_FALSE(std::filesystem::exists(maildir()));
}

TEST_F(MaildirUsage, KeptCountMatchesAScanAndLFBytesAreStored) {
  deliver("Subject: a\r\n\r\nbody\r\n");  // stored as LF: 17 bytes
  deliver("Subject: b\r\n\r\n");
  EXPECT_EQ(usage(), (Usage{17 + 12, 2}));
  EXPECT_EQ(usage(), scanned());
  EXPECT_NE(read_file(counter()).find("pending=0 bytes=29 messages=2"), std::string::npos);
}

TEST_F(MaildirUsage, ItIsReadNotScanned) {
  deliver("Subject: a\r\n\r\n");
  // A file put behind popbox's back is not seen until the next rebuild.
  write_file(maildir() + "/new/1700000000.M1P1.x", "Subject: x\n\n");
  EXPECT_EQ(usage().messages, 1u);
  ::unlink(counter().c_str());
  EXPECT_EQ(usage().messages, 2u);
}

TEST_F(MaildirUsage, AMessageWrittenOutsideTheStoreIsCountedNextTime) {
  deliver("Subject: a\r\n\r\n");
  std::error_code ec;
  MaildirWriter w(maildir(), ec);  // as popbox fetch writes
  ASSERT_FALSE(ec);
  ASSERT_FALSE(w.write("Subject: fetched\n\n"));
  ASSERT_FALSE(w.commit());
  EXPECT_EQ(usage(), scanned());
  EXPECT_EQ(usage().messages, 2u);
}

TEST_F(MaildirUsage, DamagedOrPendingCountsAreRebuilt) {
  deliver("Subject: a\r\n\r\n");
  deliver("Subject: b\r\n\r\n");
  const Usage right = scanned();
  std::string text = read_file(counter());
  for (std::string bad :
       {std::string("garbage\n"), std::string(""), text.substr(0, text.size() / 2)}) {
    write_file(counter(), bad);
    EXPECT_EQ(usage(), right) << bad;
  }
  // An edited number fails the checksum.
  std::string edited = read_file(counter());
  edited.replace(edited.find("messages=2"), 10, "messages=9");
  write_file(counter(), edited);
  EXPECT_EQ(usage(), right);
  // Pending: a crash between the mark and the new total.
  std::string pending = read_file(counter());
  pending.replace(pending.find("pending=0"), 9, "pending=1");
  write_file(counter(), pending);
  EXPECT_EQ(usage(), right);
  // A count from another boot may have lost writes.
  std::string old_boot = read_file(counter());
  old_boot.replace(old_boot.find("boot=") + 5, 4, "0000");
  write_file(counter(), old_boot);
  EXPECT_EQ(usage(), right);
}

TEST_F(MaildirUsage, SessionDeletesAreSubtracted) {
  deliver("Subject: a\r\n\r\nlong body line\r\n");
  deliver("Subject: b\r\n\r\n");
  {
    std::error_code ec;
    auto box = store_.open("alice", ec);
    ASSERT_TRUE(box) << ec.message();
    const std::size_t del[] = {0};
    ASSERT_FALSE(box->commit(del, {}));
  }
  EXPECT_EQ(usage(), (Usage{12, 1}));
  EXPECT_EQ(usage(), scanned());
}

TEST_F(MaildirUsage, ASymlinkedCounterIsRefused) {
  deliver("Subject: a\r\n\r\n");
  write_file(dir_ / "elsewhere", "x");
  ::unlink(counter().c_str());
  ASSERT_EQ(::symlink((dir_ / "elsewhere").c_str(), counter().c_str()), 0);
  std::error_code ec;
  usage(&ec);
  EXPECT_EQ(ec, store_errc::unsafe_path);
  EXPECT_EQ(ec, failure::permanent);
  EXPECT_EQ(read_file(dir_ / "elsewhere"), "x");
}

TEST(StoreFailure, EveryErrorHasOneClass) {
  using std::errc;
  EXPECT_EQ(make_error_code(store_errc::in_use), failure::in_use);
  EXPECT_EQ(make_error_code(store_errc::message_gone), failure::gone);
  for (auto e : {store_errc::bad_path, store_errc::unsafe_path, store_errc::owner_refused,
                 store_errc::unsupported}) {
    EXPECT_EQ(make_error_code(e), failure::permanent);
    EXPECT_NE(make_error_code(e), failure::temporary);
  }
  for (auto e : {store_errc::io, store_errc::unavailable, store_errc::damaged}) {
    EXPECT_EQ(make_error_code(e), failure::temporary);
  }
  for (auto e : {errc::permission_denied, errc::operation_not_permitted, errc::not_a_directory,
                 errc::too_many_symbolic_link_levels, errc::read_only_file_system}) {
    EXPECT_EQ(std::make_error_code(e), failure::permanent);
  }
  for (auto e : {errc::no_space_on_device, errc::io_error, errc::no_such_file_or_directory}) {
    EXPECT_EQ(std::make_error_code(e), failure::temporary);
  }
  EXPECT_EQ(std::error_code(EACCES, std::system_category()), failure::permanent);
  EXPECT_NE(std::error_code(), failure::temporary);  // no error has no class
  // unsafe_path still compares equal to EPERM, as before.
  EXPECT_EQ(make_error_code(store_errc::unsafe_path), errc::operation_not_permitted);
}

}  // namespace
}  // namespace popbox::store::test
