// Delivery targets: Maildir names chosen ahead, batched sync, recovery by
// base name; the MDA's exit status.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "client/delivery.hpp"
#include "temp_dir.hpp"

using namespace popbox::client;
namespace fs = std::filesystem;

namespace {

using popbox::test::TempDir;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Target target(std::string_view spec, const std::string& home = "/") {
  std::string err;
  auto t = parse_target(spec, home, err);
  EXPECT_TRUE(t) << err;
  return *t;
}

}  // namespace

TEST(MaildirDeliverer, ReservedNameBatchedSyncAndRecovery) {
  TempDir dir;
  std::string md = dir.path + "/a/Maildir";  // created on the first message
  auto d = make_deliverer(target("maildir:" + md), std::chrono::seconds(5));
  EXPECT_GT(d->batch(), 1u);
  std::string t1 = d->reserve(), t2 = d->reserve();
  EXPECT_NE(t1, t2);
  Failure f;
  for (const auto& token : {t1, t2}) {
    auto m = d->begin("u", token, nullptr, 0, f);
    ASSERT_FALSE(f) << f.message;
    EXPECT_EQ(m->token(), token);
    ASSERT_FALSE(m->write("Subject: x\r\n\r\nbo"));
    ASSERT_FALSE(m->write("dy\r\n"));
    ASSERT_FALSE(m->commit());
  }
  ASSERT_FALSE(d->sync());
  EXPECT_EQ(slurp(md + "/new/" + t1 + ",S=17"), "Subject: x\n\nbody\n");
  EXPECT_TRUE(fs::is_empty(md + "/tmp"));
  // A reader moved t2 to cur/ and flagged it; t3 never got committed.
  fs::rename(md + "/new/" + t2 + ",S=17", md + "/cur/" + t2 + ",S=17:2,S");
  std::string t3 = d->reserve();
  {
    auto m = d->begin("u3", t3, nullptr, 0, f);
    ASSERT_FALSE(m->write("partial"));
  }  // abandoned: its tmp/ file is gone again; a kill would have left it:
  std::ofstream(md + "/tmp/" + t3) << "left by a crash";
  std::vector<Intent> intents = {
      {"u1", "", t1, 0}, {"u2", "", t2, 0}, {"u3", "", t3, 0}, {"u4", "", "../../etc", 0}};
  auto r = d->recover(intents);
  EXPECT_EQ(r, (std::vector<Recovered>{Recovered::delivered, Recovered::delivered,
                                       Recovered::not_delivered, Recovered::not_delivered}));
  EXPECT_FALSE(fs::exists(md + "/tmp/" + t3));
}

TEST(MaildirDeliverer, UncreatableMaildirIsCantCreate) {
  auto d = make_deliverer(target("maildir:/proc/no/such"), std::chrono::seconds(5));
  Failure f;
  EXPECT_FALSE(d->begin("u", d->reserve(), nullptr, 0, f));
  EXPECT_EQ(f.code, make_error_code(fetch_errc::cant_create));
}

TEST(MdaDeliverer, ExitStatusDecides) {
  TempDir dir;
  auto ok = make_deliverer(target("mda:cat > " + dir.path + "/out"), std::chrono::seconds(5));
  Failure f;
  auto m = ok->begin("u", "", nullptr, 0, f);
  ASSERT_FALSE(f);
  ASSERT_FALSE(m->write("a\r\nb\r\n"));
  ASSERT_FALSE(m->commit());
  EXPECT_EQ(slurp(dir.path + "/out"), "a\nb\n");
  struct Case {
    std::string command;
    fetch_errc want;
  };
  for (const Case& c :
       {Case{"cat >/dev/null; exit 3", fetch_errc::io}, Case{"exit 75", fetch_errc::temporary},
        Case{"exit 0", fetch_errc::io}, Case{"kill -9 $$", fetch_errc::io}}) {
    auto d = make_deliverer(target("mda:" + c.command), std::chrono::seconds(5));
    auto msg = d->begin("u", "", nullptr, 0, f);
    ASSERT_FALSE(f);
    std::string big(1 << 20, 'x');  // more than a pipe holds: "exit 0" cannot take it
    Failure w = msg->write(big);
    Failure result = w ? w : msg->commit();
    EXPECT_EQ(result.code, make_error_code(c.want)) << c.command << ": " << result.message;
  }
}
