// mbox append: From_ line, mboxrd quoting, LF line ends, locking, resume;
// and the streaming line-end transforms, split at every offset.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "client/line_ends.hpp"
#include "client/mbox_writer.hpp"
#include "temp_dir.hpp"

using namespace popbox::client;
namespace fs = std::filesystem;

namespace {

using popbox::test::TempDir;

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string quote_all(std::string_view in, std::vector<std::size_t> cuts = {}) {
  FromQuoter q;
  std::string out;
  std::size_t start = 0;
  cuts.push_back(in.size());
  for (std::size_t c : cuts) {
    q.quote(in.substr(start, c - start), out);
    start = c;
  }
  q.finish(out);
  return out;
}

std::string to_lf(std::string_view in, std::size_t cut) {
  CrlfToLf c;
  std::string out;
  c.convert(in.substr(0, cut), out);
  c.convert(in.substr(cut), out);
  c.finish(out);
  return out;
}

const std::string wire = "From: a@b\r\nSubject: x\r\n\r\nFrom here\r\n>From there\r\nbody\r\n";
const std::string stored =
    "From MAILER-DAEMON Tue Nov 14 22:13:20 2023\n"
    "From: a@b\nSubject: x\n\n>From here\n>>From there\nbody\n\n";

}  // namespace

TEST(FromQuoter, TableOfLines) {
  struct Case {
    std::string in, want;
  };
  std::vector<Case> cases = {
      {"From x\n", ">From x\n"},
      {">From x\n", ">>From x\n"},
      {">>>From x\n", ">>>>From x\n"},
      {"From:x\n", "From:x\n"},
      {"Fro\n", "Fro\n"},
      {">Fr", ">Fr"},
      {"a From x\nFrom y", "a From x\n>From y"},
      {">\n>>\n", ">\n>>\n"},
      {"\nFrom \n", "\n>From \n"},
      {"", ""},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(quote_all(c.in), c.want) << c.in;
    for (std::size_t cut = 0; cut <= c.in.size(); ++cut) {
      EXPECT_EQ(quote_all(c.in, {cut}), c.want) << c.in << " cut " << cut;
    }
  }
}

TEST(CrlfToLf, SplitInvariant) {
  std::string in = "a\r\nb\rc\r\n\r\r\n\r";
  std::string want = "a\nb\rc\n\r\n\r";
  for (std::size_t cut = 0; cut <= in.size(); ++cut) EXPECT_EQ(to_lf(in, cut), want) << cut;
}

TEST(MboxWriter, AppendsFromLineQuotedBodyAndBlankLine) {
  TempDir dir;
  std::string path = dir.path + "/mbox";
  for (int i = 0; i < 2; ++i) {
    Failure f;
    MboxWriter w(path, 1700000000, std::nullopt, f);
    ASSERT_FALSE(f) << f.message;
    EXPECT_EQ(w.offset(), i * stored.size());
    // Fed in awkward pieces: quoting and CRLF state cross the cuts.
    for (std::size_t p = 0; p < wire.size(); p += 5) ASSERT_FALSE(w.write(wire.substr(p, 5)));
    ASSERT_FALSE(w.commit());
    EXPECT_TRUE(w.note().empty());
  }
  EXPECT_EQ(slurp(path), stored + stored);
}

TEST(MboxWriter, FromLineFormat) {
  EXPECT_EQ(mbox_from_line(0), "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n");
}

TEST(MboxWriter, WaitsForTheLockOfAnotherProcessOrThread) {
  TempDir dir;
  std::string path = dir.path + "/mbox";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  auto started = std::chrono::steady_clock::now();
  std::thread release([fd] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::flock(fd, LOCK_UN);
  });
  Failure f;
  {
    MboxWriter w(path, 1700000000, std::nullopt, f);
    ASSERT_FALSE(f);
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(250));
    ASSERT_FALSE(w.write(wire));
    ASSERT_FALSE(w.commit());
  }
  release.join();
  ::close(fd);
  EXPECT_EQ(slurp(path), stored);
}

TEST(MboxWriter, AbandonedMessageIsCutOff) {
  TempDir dir;
  std::string path = dir.path + "/mbox";
  Failure f;
  {
    MboxWriter w(path, 1700000000, std::nullopt, f);
    ASSERT_FALSE(w.commit());
  }
  std::string before = slurp(path);
  {
    MboxWriter w(path, 1700000000, std::nullopt, f);
    ASSERT_FALSE(w.write("partial\r\n"));
  }
  EXPECT_EQ(slurp(path), before);
}

TEST(MboxWriter, ResumeFindsACompleteMessageAndWritesNothing) {
  TempDir dir;
  std::string path = dir.path + "/mbox";
  std::ofstream(path, std::ios::binary) << "earlier\n\n" << stored;
  Failure f;
  MboxWriter w(path, 1700000000, std::uint64_t{9}, f);
  ASSERT_FALSE(f);
  ASSERT_FALSE(w.write(wire));
  ASSERT_FALSE(w.commit());
  EXPECT_EQ(slurp(path), "earlier\n\n" + stored);
  EXPECT_EQ(w.note(), "the message was already complete in the mbox");
}

TEST(MboxWriter, ResumeCompletesACutShortMessageAtEveryCut) {
  for (std::size_t cut = 1; cut < stored.size(); ++cut) {
    TempDir dir;
    std::string path = dir.path + "/mbox";
    std::ofstream(path, std::ios::binary) << stored.substr(0, cut);
    Failure f;
    {
      MboxWriter w(path, 1700000000, std::uint64_t{0}, f);
      ASSERT_FALSE(f);
      ASSERT_FALSE(w.write(wire));
      ASSERT_FALSE(w.commit());
    }
    ASSERT_EQ(slurp(path), stored) << "cut " << cut;
  }
}

TEST(MboxWriter, ResumeAfterForeignMailAppendsACompleteCopy) {
  TempDir dir;
  std::string path = dir.path + "/mbox";
  std::string partial = stored.substr(0, 60);
  std::string foreign = "From someone Mon Jan  1 00:00:00 2024\nSubject: other\n\nhi\n\n";
  std::ofstream(path, std::ios::binary) << partial << foreign;
  Failure f;
  MboxWriter w(path, 1700000000, std::uint64_t{0}, f);
  ASSERT_FALSE(f);
  ASSERT_FALSE(w.write(wire));
  ASSERT_FALSE(w.commit());
  EXPECT_EQ(slurp(path), partial + foreign + stored);
  EXPECT_NE(w.note().find("partial copy"), std::string::npos);
}

TEST(MboxWriter, UnwritablePathIsCantCreate) {
  Failure f;
  MboxWriter w("/nonexistent-dir/mbox", 1, std::nullopt, f);
  EXPECT_EQ(f.code, make_error_code(fetch_errc::cant_create));
}
