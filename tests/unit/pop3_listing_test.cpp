// LIST and UIDL of big maildrops come out of pop3::Session in bounded pieces
// (Action::more); the pieces together must be the very bytes the one-shot
// listing had.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/limits.hpp"
#include "pop3/session.hpp"

using popbox::pop3::LoginOutcome;
using popbox::pop3::Session;
using popbox::pop3::Step;
using popbox::store::MessageInfo;
using Action = Step::Action;

namespace {

constexpr std::size_t big_box = 10'000;

std::vector<MessageInfo> make_box(std::size_t n) {
  std::vector<MessageInfo> box;
  for (std::size_t i = 0; i < n; ++i) {
    // UIDLs from 1 to the RFC's 70 octets, sizes of many digit counts.
    std::string uidl = "u" + std::to_string(i * 7919) + std::string(i % 60, 'x');
    box.push_back({uidl.substr(0, popbox::limits::max_uidl), (i * 104'729) % 50'000'000 + 1});
  }
  return box;
}

// The listings as the session wrote them in one go before they were split.
std::string want_list(const std::vector<MessageInfo>& box, const std::vector<bool>& deleted) {
  std::uint64_t count = 0, octets = 0;
  std::string body;
  for (std::size_t i = 0; i < box.size(); ++i) {
    if (deleted[i]) continue;
    ++count;
    octets += box[i].size;
    body += std::to_string(i + 1) + " " + std::to_string(box[i].size) + "\r\n";
  }
  return "+OK " + std::to_string(count) + " messages (" + std::to_string(octets) + " octets)\r\n" +
         body + ".\r\n";
}

std::string want_uidl(const std::vector<MessageInfo>& box, const std::vector<bool>& deleted) {
  std::string out = "+OK Unique-ID listing follows\r\n";
  for (std::size_t i = 0; i < box.size(); ++i) {
    if (!deleted[i]) out += std::to_string(i + 1) + " " + box[i].uidl + "\r\n";
  }
  return out + ".\r\n";
}

struct Box {
  explicit Box(std::size_t n) : messages(make_box(n)), deleted(n, false) {
    std::string out;
    session.on_line("USER alice", out);
    EXPECT_EQ(session.on_line("PASS pw", out).action, Action::login);
    session.login_done(LoginOutcome::ok, &messages, out);
  }

  // Sends `command` and drives Action::more to the end the way the
  // connection does; returns the pieces.
  std::vector<std::string> pieces(std::string_view command) {
    std::vector<std::string> got(1);
    Step step = session.on_line(command, got.back());
    while (step.action == Action::more) {
      got.emplace_back();
      step = session.more(got.back());
    }
    EXPECT_EQ(step.action, Action::none);
    return got;
  }

  std::vector<MessageInfo> messages;
  std::vector<bool> deleted;
  Session session{popbox::pop3::SessionOptions{}};
};

std::string joined(const std::vector<std::string>& pieces) {
  std::string all;
  for (const auto& p : pieces) all += p;
  return all;
}

void expect_bounded(const std::vector<std::string>& pieces) {
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    EXPECT_LE(pieces[i].size(), popbox::limits::listing_piece) << "piece " << i;
    EXPECT_LE(pieces[i].size(), popbox::limits::max_pending_output) << "piece " << i;
    EXPECT_FALSE(pieces[i].empty()) << "piece " << i;
  }
}

}  // namespace

TEST(Listing, ListOfTenThousandIsByteIdenticalInBoundedPieces) {
  Box b(big_box);
  auto pieces = b.pieces("LIST");
  EXPECT_GT(pieces.size(), 2u);
  expect_bounded(pieces);
  EXPECT_EQ(joined(pieces), want_list(b.messages, b.deleted));
}

TEST(Listing, UidlOfTenThousandIsByteIdenticalInBoundedPieces) {
  Box b(big_box);
  auto pieces = b.pieces("UIDL");
  EXPECT_GT(pieces.size(), 5u);
  expect_bounded(pieces);
  EXPECT_EQ(joined(pieces), want_uidl(b.messages, b.deleted));
}

TEST(Listing, DeletedMessagesAreSkippedAcrossPieces) {
  Box b(big_box);
  std::string out;
  for (std::size_t i = 0; i < big_box; i += 3) {
    out.clear();
    b.session.on_line("DELE " + std::to_string(i + 1), out);
    ASSERT_EQ(out, "+OK Marked to be deleted.\r\n");
    b.deleted[i] = true;
  }
  auto list = b.pieces("LIST");
  expect_bounded(list);
  EXPECT_EQ(joined(list), want_list(b.messages, b.deleted));
  auto uidl = b.pieces("UIDL");
  expect_bounded(uidl);
  EXPECT_EQ(joined(uidl), want_uidl(b.messages, b.deleted));
  // Commands after a finished listing are answered normally.
  out.clear();
  EXPECT_EQ(b.session.on_line("STAT", out).action, Action::none);
  EXPECT_EQ(
      out, "+OK " + std::to_string(big_box - (big_box + 2) / 3) + " " + [&] {
        std::uint64_t octets = 0;
        for (std::size_t i = 0; i < big_box; ++i) octets += b.deleted[i] ? 0 : b.messages[i].size;
        return std::to_string(octets);
      }() + "\r\n");
}

TEST(Listing, SmallListingsStayOneReplyAndMoreWritesNothingAfterwards) {
  Box b(3);
  auto pieces = b.pieces("UIDL");
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0], want_uidl(b.messages, b.deleted));
  std::string out;
  EXPECT_EQ(b.session.more(out).action, Action::none);
  EXPECT_EQ(out, "");
}

TEST(Listing, EveryBoxSizeAroundThePieceBoundEndsOnce) {
  // Box sizes whose listing ends just before, at and after a piece bound,
  // so the terminator lands in every position.
  for (std::size_t n = 4000; n < 4200; n += 7) {
    Box b(n);
    auto pieces = b.pieces("LIST");
    expect_bounded(pieces);
    EXPECT_EQ(joined(pieces), want_list(b.messages, b.deleted)) << n;
  }
}

TEST(Listing, ALineFedMidListingIsAnsweredAfterTheWholeListing) {
  Box b(big_box);
  std::string out;
  ASSERT_EQ(b.session.on_line("UIDL", out).action, Action::more);
  // A driver that skipped more(): the listing is finished first, in order.
  EXPECT_EQ(b.session.on_line("NOOP", out).action, Action::none);
  EXPECT_EQ(out, want_uidl(b.messages, b.deleted) + "+OK\r\n");
}
