// Wire form -> Maildir form: the Maildir store's RETR (the CRLF rule of
// core::CrlfSizer, which to_wire_form applies) must give back the octets
// PostgreSQL kept, for any message and any cut into blocks.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "store/migrate/maildir_form.hpp"
#include "store/postgres/wire_form.hpp"

namespace popbox::store::migrate {
namespace {

TEST(WireToMaildir, Cases) {
  struct Case {
    std::string wire, maildir;
  };
  const Case cases[] = {
      {"", ""},
      {"a\r\n", "a\n"},
      {"a\r\nb\r\n", "a\nb\n"},
      {"\r\n\r\n", "\n\n"},
      {"a\rb\r\n", "a\rb\n"},
      {"a\r\r\n", "a\r\r\n"},  // plain CRLF -> LF would lose a CR here
      {"a\r\r\r\n", "a\r\r\r\n"},
      {".\r\n..\r\n", ".\n..\n"},  // dots are not stuffed in either form
  };
  for (const auto& c : cases) {
    EXPECT_EQ(to_maildir_form(c.wire), c.maildir) << c.wire;
    EXPECT_EQ(pg::to_wire_form(c.maildir), c.wire) << c.wire;
  }
}

TEST(WireToMaildir, RetrGivesTheWireFormBackAtEveryCut) {
  std::mt19937 rng(11);
  const char alphabet[] = {'a', '\r', '\n', '.', ' '};
  for (int round = 0; round < 400; ++round) {
    std::string raw(rng() % 24, 'a');
    for (char& c : raw) c = alphabet[rng() % sizeof alphabet];
    const std::string wire = pg::to_wire_form(raw);
    const std::string whole = to_maildir_form(wire);
    ASSERT_EQ(pg::to_wire_form(whole), wire) << testing::PrintToString(raw);
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
      WireToMaildir w;
      std::string out;
      w.convert(std::string_view(wire).substr(0, cut), out);
      w.convert(std::string_view(wire).substr(cut), out);
      w.finish(out);
      ASSERT_EQ(out, whole) << "cut at " << cut << " of " << testing::PrintToString(wire);
    }
  }
}

}  // namespace
}  // namespace popbox::store::migrate
