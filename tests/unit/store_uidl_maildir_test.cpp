// UIDLs that survive anything: adoption from Dovecot, Courier and X-UIDL at
// the first open, the popbox-uidls record, and what may never change after.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "store/maildir_index.hpp"
#include "store/maildir_mailbox.hpp"
#include "store/maildir_store.hpp"
#include "store/uidl_record.hpp"
#include "store_test_util.hpp"

namespace popbox::store {
namespace {

using Mode = MaildirOptions::Mode;
using test::read_file;
using test::write_file;

class UidlMaildirTest : public ::testing::Test {
 protected:
  void SetUp() override { test::make_maildir(root_); }

  std::string file(std::string_view rel) const { return root_ + "/" + std::string(rel); }

  void deliver(std::string_view rel, std::string_view body, long mtime) {
    write_file(file(rel), body);
    test::set_mtime(file(rel), mtime);
  }

  bool adopt_x_uidl_ = false;  // [mail] uidl_adopt_x_uidl

  std::unique_ptr<MaildirMailbox> open_box(Mode mode = Mode::serve, const char* format = nullptr,
                                           const std::string& root = "") {
    MaildirOptions options;
    options.mode = mode;
    options.adopt_x_uidl = adopt_x_uidl_;
    if (format != nullptr) options.uidl_format = std::make_shared<const UidlFormat>(format);
    std::error_code ec;
    auto box = MaildirMailbox::load(root.empty() ? root_ : root, ec, options);
    EXPECT_FALSE(ec) << ec.message();
    return box;
  }

  static std::vector<std::string> uidls(const Mailbox& box) {
    std::vector<std::string> out;
    for (const auto& m : box.messages()) out.push_back(m.uidl);
    return out;
  }

  void remove(std::string_view rel) { std::filesystem::remove(file(rel)); }

  // Three messages as Dovecot left them: two it listed (one moved to cur/
  // with flags), one delivered after Dovecot last looked.
  void dovecot_maildir() {
    deliver("cur/1700000001.M1P1.host,S=6:2,S", "hello\n", 100);
    deliver("new/1700000002.M2P1.host,S=6", "world\n", 200);
    deliver("new/1700000003.M3P1.host,S=4", "new\n", 300);
    write_file(file("dovecot-uidlist"),
               "3 V1795447793 N3 G7e3fa312f15b046b9206000083ecc375\n"
               "1 W7 :1700000001.M1P1.host,S=6\n"
               "2 W7 :1700000002.M2P1.host,S=6\n");
  }

  test::TempDir tmp_;
  std::string root_ = tmp_ / "Maildir";
};

const std::vector<std::string> dovecot_uidls = {"000000016b045bf1", "000000026b045bf1",
                                                "1700000003.M3P1.host"};

TEST_F(UidlMaildirTest, AdoptsDovecotUidlsAtTheFirstOpen) {
  dovecot_maildir();
  auto box = open_box();
  EXPECT_EQ(uidls(*box), dovecot_uidls);
  EXPECT_TRUE(box->stats().adoption_open);
  EXPECT_EQ(box->stats().uidls_adopted, 2u);
  EXPECT_EQ(box->stats().uidls_written, 2u);
  EXPECT_FALSE(box->stats().uidls_write_error);
  auto rec = detail::parse_recorded_uidls(read_file(file(detail::uidls_file_name)));
  EXPECT_TRUE(rec.closed);
  ASSERT_EQ(rec.entries.size(), 2u);
  EXPECT_EQ(rec.entries[0].uidl, "000000016b045bf1");
  box.reset();
  auto again = open_box();
  EXPECT_EQ(uidls(*again), dovecot_uidls);
  EXPECT_FALSE(again->stats().adoption_open);
  EXPECT_EQ(again->stats().uidls_recorded, 2u);
  EXPECT_EQ(again->stats().uidls_written, 0u);
}

TEST_F(UidlMaildirTest, RecordedUidlsSurviveIndexAndUidlistLoss) {
  dovecot_maildir();
  open_box();
  remove(detail::index_file_name);
  EXPECT_EQ(uidls(*open_box()), dovecot_uidls);
  remove("dovecot-uidlist");
  remove(detail::index_file_name);
  EXPECT_EQ(uidls(*open_box()), dovecot_uidls);
  // Dovecot (say, for IMAP) writing a different list changes nothing either.
  write_file(file("dovecot-uidlist"),
             "3 V5 N4\n1 :1700000001.M1P1.host\n2 :1700000002.M2P1.host\n"
             "3 :1700000003.M3P1.host\n");
  EXPECT_EQ(uidls(*open_box()), dovecot_uidls);
}

TEST_F(UidlMaildirTest, CopiedMaildirKeepsItsUidls) {
  dovecot_maildir();
  auto first = uidls(*open_box());
  std::string copy = tmp_ / "elsewhere/Maildir";
  std::filesystem::create_directories(tmp_ / "elsewhere");
  std::filesystem::copy(root_, copy, std::filesystem::copy_options::recursive);
  std::filesystem::remove(copy + "/" + detail::index_file_name);
  std::filesystem::remove(copy + "/dovecot-uidlist");
  auto copied = uidls(*open_box(Mode::serve, nullptr, copy));
  std::sort(first.begin(), first.end());
  std::sort(copied.begin(), copied.end());
  EXPECT_EQ(copied, first);
}

TEST_F(UidlMaildirTest, AUidlShownOnceNeverChanges) {
  deliver("new/a.host", "a\n", 100);
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"a.host"}));
  // Dovecot lists it (and a newcomer) after popbox showed it: adoption is
  // over, both keep their popbox UIDL.
  deliver("new/b.host", "b\n", 200);
  deliver("new/c.host", "X-UIDL: c-from-header\n\n", 300);
  write_file(file("dovecot-uidlist"), "3 V7 N3\n1 :a.host\n2 :b.host\n");
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"a.host", "b.host", "c.host"}));
}

TEST_F(UidlMaildirTest, EmptyMaildirKeepsAdoptionOpen) {
  // A user logs in before the old server's Maildir is copied in.
  EXPECT_TRUE(open_box()->messages().empty());
  EXPECT_FALSE(test::exists(file(detail::uidls_file_name)));
  dovecot_maildir();
  EXPECT_EQ(uidls(*open_box()), dovecot_uidls);
  EXPECT_TRUE(detail::parse_recorded_uidls(read_file(file(detail::uidls_file_name))).closed);
}

TEST_F(UidlMaildirTest, SourcePrecedence) {
  adopt_x_uidl_ = true;
  deliver("new/m1", "X-UIDL: x1\n\n", 1);
  deliver("new/m2", "X-UIDL: x2\n\n", 2);
  deliver("new/m3", "X-UIDL: x3\n\n", 3);
  deliver("new/m4", "Subject: none\n\nX-UIDL: in-body\n", 4);
  deliver("new/m5", "X-UIDL: x5\n\n", 5);
  write_file(file("dovecot-uidlist"), "3 V16 N9\n1 PSaved-1 :m1\n8 :m5\n");
  write_file(file("courierpop3dsizelist"), "/3 9 100\nm1 12 1:100:0\nm2 12 2:100:0\n");
  auto box = open_box();
  EXPECT_EQ(uidls(*box),
            (std::vector<std::string>{"Saved-1", "UID2-100", "x3", "m4", "0000000800000010"}));
}

// Any sender can write "X-UIDL:": by default it never becomes the UIDL,
// in a session or an import, though a report still shows it.
TEST_F(UidlMaildirTest, XUidlHeaderIsNotAdoptedByDefault) {
  deliver("new/m1", "X-UIDL: chosen-by-a-stranger\n\n", 1);
  deliver("new/m2", "X-UIDL: m3\nSubject: collide\n\n", 2);
  deliver("new/m3", "x\n", 3);
  {
    auto report = open_box(Mode::dry_run);
    EXPECT_EQ(uidls(*report), (std::vector<std::string>{"m1", "m2", "m3"}));
    ASSERT_EQ(report->uidl_report().size(), 3u);
    EXPECT_EQ(report->uidl_report()[0].x_uidl, "chosen-by-a-stranger");
    EXPECT_EQ(report->uidl_report()[0].previous_source, UidlSource::name);
    EXPECT_EQ(report->uidl_report()[0].source, UidlSource::name);
  }
  EXPECT_EQ(uidls(*open_box(Mode::import)), (std::vector<std::string>{"m1", "m2", "m3"}));
  auto box = open_box();
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"m1", "m2", "m3"}));
  EXPECT_EQ(box->stats().uidls_adopted, 0u);
  EXPECT_EQ(box->stats().uidls_written, 0u);
  box.reset();
  // The same Maildir with the key on, while adoption is open, adopts them.
  std::filesystem::remove(file(detail::uidls_file_name));
  adopt_x_uidl_ = true;
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"chosen-by-a-stranger", "m3", "m3-2"}));
}

TEST_F(UidlMaildirTest, ConfiguredDovecotFormat) {
  dovecot_maildir();
  auto box = open_box(Mode::serve, "%u-%v");
  EXPECT_EQ(uidls(*box),
            (std::vector<std::string>{"1-1795447793", "2-1795447793", "1700000003.M3P1.host"}));
}

TEST_F(UidlMaildirTest, StoreHonoursUidlFormat) {
  std::filesystem::create_directories(tmp_ / "u/Maildir/new");
  write_file(tmp_ / "u/Maildir/new/m,S=2", "x\n");
  write_file(tmp_ / "u/Maildir/dovecot-uidlist", "3 V1 N2\n1 :m,S=2\n");
  MaildirStore store(tmp_.path() + "/%n/Maildir", "%f");
  std::error_code ec;
  auto box = store.open("u", ec);
  ASSERT_TRUE(box) << ec.message();
  EXPECT_EQ(box->messages()[0].uidl, "m,S=2");  // %f keeps the size hint, as Dovecot did
  EXPECT_THROW(MaildirStore(tmp_.path() + "/%n", "%m"), std::invalid_argument);
}

TEST_F(UidlMaildirTest, InvalidAdoptedValuesAreReplacedAndCounted) {
  adopt_x_uidl_ = true;
  deliver("new/m1", "X-UIDL: has space\n\n", 1);
  deliver("new/m2", "X-UIDL: " + std::string(71, 'x') + "\n\n", 2);
  deliver("new/m3", "X-UIDL: caf\xc3\xa9\n\n", 3);
  auto box = open_box();
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"m1", "m2", "m3"}));
  EXPECT_EQ(box->stats().uidls_rejected, 3u);
  EXPECT_EQ(box->stats().uidls_written, 0u);
}

TEST_F(UidlMaildirTest, DuplicatesAreMadeUniqueAndStayThatWay) {
  adopt_x_uidl_ = true;
  deliver("new/m1", "X-UIDL: same\n\n", 1);
  deliver("new/m2", "X-UIDL: same\n\n", 2);
  deliver("new/m3", "x\n", 3);
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"same", "same-2", "m3"}));
  // The first one goes; the second keeps its suffix, and a newcomer whose
  // name gives "same" does not get it: a UIDL is never reused.
  remove("new/m1");
  deliver("new/same,S=2", "x\n", 4);
  remove(detail::index_file_name);
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"same-2", "m3", "same-3"}));
  // Nor may a newcomer take a UIDL a present message has.
  deliver("new/same-2", "x\n", 5);
  auto box = open_box();
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"same-2", "m3", "same-3", "same-2-2"}));
  EXPECT_EQ(box->stats().uidls_written, 1u);
  box.reset();
  remove(detail::index_file_name);
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"same-2", "m3", "same-3", "same-2-2"}));
}

TEST_F(UidlMaildirTest, UnreadableSourceFailsOpenOnlyWhileAdopting) {
  deliver("new/m1", "x\n", 1);
  std::filesystem::create_symlink("/etc/passwd", file("dovecot-uidlist"));
  std::error_code ec;
  EXPECT_FALSE(MaildirMailbox::load(root_, ec));
  EXPECT_EQ(ec, store_errc::unsafe_path);
  remove("dovecot-uidlist");
  open_box();  // adoption closes
  std::filesystem::create_symlink("/etc/passwd", file("dovecot-uidlist"));
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"m1"}));
  // The record itself must be readable: without it UIDLs could change.
  std::filesystem::remove(file(detail::uidls_file_name));
  std::filesystem::create_directory(file(detail::uidls_file_name));
  EXPECT_FALSE(MaildirMailbox::load(root_, ec));
}

TEST_F(UidlMaildirTest, TornAppendIsRepaired) {
  adopt_x_uidl_ = true;
  deliver("new/m1", "X-UIDL: a\n\n", 1);
  deliver("new/m2", "X-UIDL: a\n\n", 2);
  open_box();
  std::string text = read_file(file(detail::uidls_file_name));
  write_file(file(detail::uidls_file_name), text + "u half-writ");
  deliver("new/m3", "X-UIDL: a\n\n", 3);  // adoption is over: "m3"
  deliver("new/a,S=9", "x\n", 4);         // its name gives "a": taken
  auto box = open_box();
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"a", "a-2", "m3", "a-3"}));
  auto rec = detail::parse_recorded_uidls(read_file(file(detail::uidls_file_name)));
  EXPECT_EQ(rec.bad_lines, 0u);  // the torn line is gone, not ended
  EXPECT_EQ(rec.entries.back().uidl, "a-3");
}

// A crash mid-append can leave a torn line that would be a valid record
// once ended ("u X-3 c"). The next append must not end it: the fragment is
// dropped (the file rewritten atomically), so no later session reads it.
TEST_F(UidlMaildirTest, TornRecordIsNeverCompletedByTheNextAppend) {
  adopt_x_uidl_ = true;
  deliver("new/m1", "X-UIDL: a\n\n", 1);
  deliver("new/m2", "X-UIDL: a\n\n", 2);
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"a", "a-2"}));  // adoption closes
  const std::string before = read_file(file(detail::uidls_file_name));
  ASSERT_EQ(before.back(), '\n');
  write_file(file(detail::uidls_file_name), before + "u X-3 c");
  deliver("new/a,S=9", "x\n", 3);  // its name gives "a": taken, so "a-3" is recorded
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"a", "a-2", "a-3"}));

  const std::string after = read_file(file(detail::uidls_file_name));
  EXPECT_EQ(after, before + detail::format_recorded_uidl("a,S=9", "a-3"));
  EXPECT_FALSE(std::filesystem::exists(file(detail::uidls_tmp_name)));
  auto rec = detail::parse_recorded_uidls(after);
  EXPECT_TRUE(rec.closed);
  EXPECT_EQ(rec.bad_lines, 0u);
  ASSERT_EQ(rec.entries.size(), 3u);
  EXPECT_EQ(rec.entries[0].uidl, "a");
  EXPECT_EQ(rec.entries[0].base, "m1");
  EXPECT_EQ(rec.entries[1].uidl, "a-2");
  EXPECT_EQ(rec.entries[2].uidl, "a-3");
  EXPECT_EQ(rec.entries[2].base, "a,S=9");

  // A message named "c" gets its own name, never the fragment's "X-3".
  deliver("new/c", "x\n", 4);
  remove(detail::index_file_name);
  EXPECT_EQ(uidls(*open_box()), (std::vector<std::string>{"a", "a-2", "a-3", "c"}));
  EXPECT_EQ(read_file(file(detail::uidls_file_name)), after);  // nothing new to record
}

TEST_F(UidlMaildirTest, DryRunWritesNothingAndReports) {
  dovecot_maildir();
  write_file(file("dovecot-uidlist"),
             "3 V1795447793 N4\n1 :1700000001.M1P1.host,S=6\n2 P :1700000002.M2P1.host,S=6\n"
             "3 Pbad\x01value :1700000003.M3P1.host,S=4\n");
  auto box = open_box(Mode::dry_run);
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"000000016b045bf1", "1700000002.M2P1.host,S=6",
                                                   "1700000003.M3P1.host"}));
  EXPECT_FALSE(test::exists(file(detail::uidls_file_name)));
  EXPECT_FALSE(test::exists(file(detail::index_file_name)));
  const auto& report = box->uidl_report();
  ASSERT_EQ(report.size(), 3u);
  EXPECT_EQ(report[0].previous, "000000016b045bf1");
  EXPECT_EQ(report[0].previous_source, UidlSource::dovecot);
  EXPECT_EQ(report[0].source, UidlSource::dovecot);
  EXPECT_TRUE(report[2].rejected);
  EXPECT_EQ(report[2].source, UidlSource::name);
}

TEST_F(UidlMaildirTest, ImportRecordsButLeavesAdoptionOpen) {
  adopt_x_uidl_ = true;
  dovecot_maildir();
  {
    auto box = open_box(Mode::import);
    EXPECT_EQ(uidls(*box), dovecot_uidls);
    EXPECT_EQ(box->stats().uidls_written, 2u);
  }
  auto rec = detail::parse_recorded_uidls(read_file(file(detail::uidls_file_name)));
  EXPECT_FALSE(rec.closed);
  // Dovecot kept serving and listed the third message; a message with an
  // X-UIDL came too. The first session adopts both and closes adoption.
  write_file(file("dovecot-uidlist"),
             read_file(file("dovecot-uidlist")) + "3 :1700000003.M3P1.host,S=4\n");
  deliver("new/1700000004.M4P1.host", "X-UIDL: xu4\n\n", 400);
  auto box = open_box();
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"000000016b045bf1", "000000026b045bf1",
                                                   "000000036b045bf1", "xu4"}));
  EXPECT_EQ(box->stats().uidls_recorded, 2u);
  EXPECT_EQ(box->stats().uidls_adopted, 2u);
  EXPECT_TRUE(detail::parse_recorded_uidls(read_file(file(detail::uidls_file_name))).closed);
}

TEST_F(UidlMaildirTest, RecordWriteFailureAdoptsAgainNextTime) {
  adopt_x_uidl_ = true;
  deliver("new/m1", "X-UIDL: xu1\n\n", 1);
  deliver("new/m2", "x\n", 2);
  std::filesystem::create_directory(file(detail::uidls_tmp_name));
  {
    auto box = open_box();
    EXPECT_EQ(uidls(*box), (std::vector<std::string>{"xu1", "m2"}));
    EXPECT_TRUE(box->stats().uidls_write_error);
    EXPECT_TRUE(box->stats().index_written);
  }
  std::filesystem::remove(file(detail::uidls_tmp_name));
  // Sizes come from the index now, so the header is read on its own.
  auto box = open_box();
  EXPECT_EQ(box->stats().sizes_from_index, 2u);
  EXPECT_TRUE(box->stats().adoption_open);
  EXPECT_EQ(uidls(*box), (std::vector<std::string>{"xu1", "m2"}));
  EXPECT_EQ(box->stats().uidls_written, 1u);
}

TEST_F(UidlMaildirTest, ReportAfterAdoptionComparesWithTheOldServer) {
  deliver("new/a", "x\n", 1);
  open_box();  // closed with the name rule
  write_file(file("dovecot-uidlist"), "3 V2 N2\n1 :a\n");
  auto box = open_box(Mode::dry_run);
  ASSERT_EQ(box->uidl_report().size(), 1u);
  EXPECT_EQ(box->uidl_report()[0].previous, "0000000100000002");
  EXPECT_EQ(box->messages()[0].uidl, "a");
}

}  // namespace
}  // namespace popbox::store
