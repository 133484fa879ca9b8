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

#include "client/delivery.hpp"
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

TEST(MboxEnvelopeSender, TableOfHeaders) {
  struct Case {
    const char* head;
    const char* sender;
  };
  const Case cases[] = {
      {"Return-Path: <bob@example.org>\nFrom: x\n\n", "bob@example.org"},
      {"return-path:bob@example.org\n\n", "bob@example.org"},
      {"RETURN-PATH: \t<bob@example.org> \t\n\n", "bob@example.org"},
      {"Return-Path: <>\n\n", "MAILER-DAEMON"},
      {"From: a\nReturn-Path: <first@x>\nReturn-Path: <second@x>\n\n", "first@x"},
      {"From: a\n\nReturn-Path: <in-the-body@x>\n", ""},
      {"\nReturn-Path: <body@x>\n", ""},
      {"Return-Path: <two words@x>\n\n", ""},
      {"Return-Path: <b\x01@x>\n\n", ""},
      {"Return-Path: <\xc3\xa9@x>\n\n", ""},
      {"X-Return-Path: <no@x>\n\n", ""},
      {"Return-Path <no@x>\n\n", ""},
      {"Subject: none\n\n", ""},
      {"Return-Path: <no-line-end@x>", ""},
      {"", ""},
  };
  for (const Case& c : cases) EXPECT_EQ(mbox_envelope_sender(c.head), c.sender) << c.head;
  std::string longest(popbox::client::limits::mbox_max_sender, 'a');
  EXPECT_EQ(mbox_envelope_sender("Return-Path: <" + longest + ">\n\n"), longest);
  EXPECT_EQ(mbox_envelope_sender("Return-Path: <" + longest + "a>\n\n"), "");
}

TEST(MboxEncoder, FromLineNamesTheReturnPathWhereverTheInputIsCut) {
  const std::string in =
      "Received: by x\r\nReturn-Path: <bounce@list.example>\r\nSubject: s\r\n\r\nFrom me\r\n";
  const std::string want =
      "From bounce@list.example Tue Nov 14 22:13:20 2023\n"
      "Received: by x\nReturn-Path: <bounce@list.example>\nSubject: s\n\n>From me\n\n";
  for (std::size_t cut = 0; cut <= in.size(); ++cut) {
    MboxEncoder e(1700000000);
    std::string out;
    e.encode(in.substr(0, cut), out);
    e.encode(in.substr(cut), out);
    e.finish(out);
    ASSERT_EQ(out, want) << "cut " << cut;
  }
  // Without a Return-Path, or past the header, MAILER-DAEMON as before.
  MboxEncoder e(1700000000);
  std::string out;
  e.encode(wire, out);
  e.finish(out);
  EXPECT_EQ(out, stored);
  // A header that never ends is not held past mbox_header_scan.
  MboxEncoder big(1700000000);
  out.clear();
  std::string line = "X-Long: " + std::string(1000, 'x') + "\r\n";
  for (std::size_t n = 0; n < 100; ++n) big.encode(line, out);
  EXPECT_TRUE(out.starts_with("From MAILER-DAEMON ")) << out.substr(0, 40);
  EXPECT_GE(out.size(), popbox::client::limits::mbox_header_scan);
  // A Return-Path: just past mbox_header_scan never counts, whatever the
  // blocks (a resumed delivery must write the same "From " line).
  std::string late = std::string(popbox::client::limits::mbox_header_scan - 20, 'h');
  late = "X-Pad: " + late + "\r\nReturn-Path: <late@x>\r\n\r\nbody\r\n";
  for (std::size_t block : {std::size_t{1000}, std::size_t{65536}, late.size()}) {
    MboxEncoder e(1700000000);
    out.clear();
    for (std::size_t p = 0; p < late.size(); p += block) e.encode(late.substr(p, block), out);
    e.finish(out);
    EXPECT_TRUE(out.starts_with("From MAILER-DAEMON ")) << block;
  }
}

namespace {

struct MboxRig {
  MboxRig() {
    target.kind = Target::Kind::mbox;
    target.path = dir.path + "/mbox";
    target.spec = "mbox:" + target.path;
    d = make_mbox_deliverer(target);
    d->set_intent_sink([this](const std::vector<Intent>& in) {
      // Intents are durable before the bytes they name reach the file.
      std::string file = fs::exists(target.path) ? slurp(target.path) : std::string();
      for (const Intent& i : in) {
        log += "intent " + i.uidl + "@" + i.token + " ";
        EXPECT_LE(file.size(), std::stoull(i.token)) << i.uidl;
      }
      return Failure{};
    });
  }
  void deliver(const std::string& uidl, std::string_view body, bool commit = true) {
    Failure f;
    auto m = d->begin(uidl, "", nullptr, 1700000000, f);
    ASSERT_FALSE(f) << f.message;
    ASSERT_FALSE(m->write(body));
    if (commit) {
      ASSERT_FALSE(m->commit());
    }
  }
  TempDir dir;
  Target target;
  std::unique_ptr<Deliverer> d;
  std::string log;
};

}  // namespace

TEST(MboxDeliverer, ABatchIsNamedThenWrittenOnceAtSync) {
  MboxRig rig;
  EXPECT_TRUE(rig.d->names_intents());
  EXPECT_EQ(rig.d->batch(), popbox::client::limits::mbox_batch);
  rig.deliver("a", wire);
  rig.deliver("x", "Subject: cut\r\n\r\npartial\r\n", /*commit=*/false);  // abandoned
  rig.deliver("b", wire);
  EXPECT_FALSE(fs::exists(rig.target.path));  // nothing written before sync()
  ASSERT_FALSE(rig.d->sync());
  EXPECT_EQ(rig.log, "intent a@0 intent b@" + std::to_string(stored.size()) + " ");
  EXPECT_EQ(slurp(rig.target.path), stored + stored);
  ASSERT_FALSE(rig.d->sync());  // nothing new: no intents, no writes
  rig.log.clear();
  rig.deliver("c", wire);
  ASSERT_FALSE(rig.d->sync());
  EXPECT_EQ(rig.log, "intent c@" + std::to_string(2 * stored.size()) + " ");
  EXPECT_EQ(slurp(rig.target.path), stored + stored + stored);
}

TEST(MboxDeliverer, ABigMessageGoesToTheFileEarlyIntentFirstAndIsCutOffIfAbandoned) {
  MboxRig rig;
  rig.deliver("a", wire);
  std::string line(1022, 'z');
  line += "\r\n";
  std::string block;
  while (block.size() < popbox::client::limits::mbox_batch_bytes + 65536) block += line;
  {
    Failure f;
    auto m = rig.d->begin("big", "", nullptr, 1700000000, f);
    ASSERT_FALSE(m->write("Subject: big\r\n\r\n"));
    ASSERT_FALSE(m->write(block));
    // Past the bound: a and the start of big are in the file, named.
    EXPECT_EQ(rig.log, "intent a@0 intent big@" + std::to_string(stored.size()) + " ");
    EXPECT_GT(fs::file_size(rig.target.path), popbox::client::limits::mbox_batch_bytes);
  }  // abandoned: cut off again
  EXPECT_EQ(slurp(rig.target.path), stored);
  rig.deliver("b", wire);
  ASSERT_FALSE(rig.d->sync());
  EXPECT_EQ(slurp(rig.target.path), stored + stored);
}

TEST(MboxDeliverer, AResumedMessageIsComparedAndTheBatchBeforeItWrittenFirst) {
  MboxRig rig;
  std::ofstream(rig.target.path, std::ios::binary) << stored.substr(0, 50);
  rig.deliver("a", wire);
  Intent resume{"r", rig.target.spec, "0", 1700000000};
  Failure f;
  // "a" is written (at 50) and the lock released before the writer for
  // "r" opens; "r" finds its first 50 bytes at 0, then foreign data
  // ("a"): it appends a complete copy.
  auto m = rig.d->begin("r", "0", &resume, 1700000000, f);
  ASSERT_FALSE(f) << f.message;
  ASSERT_FALSE(m->write(wire));
  ASSERT_FALSE(m->commit());
  EXPECT_EQ(rig.log, "intent a@50 ");
  EXPECT_EQ(slurp(rig.target.path), stored.substr(0, 50) + stored + stored);
  EXPECT_NE(m->note().find("partial copy"), std::string::npos);
}
