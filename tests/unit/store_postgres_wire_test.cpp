// The storage-independent parts of the PostgreSQL backend: wire form and
// chunking (split at every offset), and the SQLSTATE classes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/dot_codec.hpp"
#include "store/failure.hpp"
#include "store/postgres/pg_error.hpp"
#include "store/postgres/wire_form.hpp"

namespace popbox::store::pg {
namespace {

struct Case {
  std::string in, want;
};

const std::vector<Case> cases = {
    {"", ""},
    {"a", "a\r\n"},
    {"a\n", "a\r\n"},
    {"a\r\n", "a\r\n"},
    {"a\nb", "a\r\nb\r\n"},
    {"\n\n", "\r\n\r\n"},
    {"a\r", "a\r\r\n"},  // a lone CR at the end is content (core::CrlfSizer agrees)
    {"a\rb\n", "a\rb\r\n"},
    {"\r\r\n", "\r\r\n"},
    {".\n..\n", ".\r\n..\r\n"},  // stored unstuffed: the DotEncoder stuffs on the way out
};

/// Runs the chunker with `chunk` bytes per chunk over `in` cut at `cut`.
std::vector<std::string> chunks_of(const std::string& in, std::size_t chunk, std::size_t cut,
                                   std::uint64_t* size = nullptr) {
  std::vector<std::string> out;
  WireChunker c(chunk, [&](std::string_view s) {
    out.emplace_back(s);
    return std::error_code{};
  });
  EXPECT_FALSE(c.write(std::string_view(in).substr(0, cut)));
  EXPECT_FALSE(c.write(std::string_view(in).substr(cut)));
  EXPECT_FALSE(c.finish());
  if (size != nullptr) *size = c.size();
  return out;
}

TEST(PgWireForm, TableAtEveryCutAndChunkSize) {
  for (const Case& t : cases) {
    core::CrlfSizer sizer;
    sizer.add(t.in);
    EXPECT_EQ(sizer.total(), t.want.size()) << t.in;
    for (std::size_t chunk = 1; chunk <= 5; ++chunk) {
      for (std::size_t cut = 0; cut <= t.in.size(); ++cut) {
        std::uint64_t size = 0;
        const auto got = chunks_of(t.in, chunk, cut, &size);
        std::string joined;
        for (std::size_t i = 0; i < got.size(); ++i) {
          joined += got[i];
          if (i + 1 < got.size()) {
            EXPECT_EQ(got[i].size(), chunk);
          }
          EXPECT_FALSE(got[i].empty());
        }
        EXPECT_EQ(joined, t.want) << "in=" << t.in << " chunk=" << chunk << " cut=" << cut;
        EXPECT_EQ(size, t.want.size());
      }
    }
    EXPECT_EQ(to_wire_form(t.in), t.want);
  }
}

TEST(PgWireForm, LongMixedMessageMatchesTheSizer) {
  std::string in;
  for (int i = 0; i < 5000; ++i) in += (i % 3 == 0) ? "line\r\n" : (i % 3 == 1 ? "x\n" : "\r");
  core::CrlfSizer sizer;
  sizer.add(in);
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, in.size() / 2, in.size()}) {
    std::uint64_t size = 0;
    const auto got = chunks_of(in, 4096, cut, &size);
    EXPECT_EQ(size, sizer.total());
    std::string joined;
    for (const auto& g : got) joined += g;
    EXPECT_EQ(joined, to_wire_form(in));
  }
}

TEST(PgWireForm, SinkErrorStopsTheChunker) {
  WireChunker c(2, [](std::string_view) { return make_error_code(pg_errc::connection_lost); });
  EXPECT_EQ(c.write("abcd"), make_error_code(pg_errc::connection_lost));
}

TEST(PgErrors, SqlstateClasses) {
  EXPECT_EQ(classify_sqlstate("08006"), pg_errc::connection_lost);
  EXPECT_EQ(classify_sqlstate("57P01"), pg_errc::shutting_down);
  EXPECT_EQ(classify_sqlstate("57P03"), pg_errc::shutting_down);
  EXPECT_EQ(classify_sqlstate("40001"), pg_errc::retry);
  EXPECT_EQ(classify_sqlstate("40P01"), pg_errc::retry);
  EXPECT_EQ(classify_sqlstate("23505"), pg_errc::query_failed);
  EXPECT_EQ(classify_sqlstate("57014"), pg_errc::query_failed);  // query_canceled: not 57P
  EXPECT_EQ(classify_sqlstate(nullptr), pg_errc::query_failed);
  EXPECT_EQ(classify_sqlstate("080"), pg_errc::query_failed);
  EXPECT_TRUE(is_temporary(pg_errc::connection_lost));
  EXPECT_TRUE(is_temporary(pg_errc::pool_exhausted));
  EXPECT_FALSE(is_temporary(pg_errc::schema_mismatch));
  EXPECT_EQ(std::error_code(pg_errc::retry), std::errc::resource_unavailable_try_again);
  EXPECT_EQ(std::error_code(pg_errc::query_failed), std::errc::io_error);
}

// What POP3 and LMTP see: the store's failure classes.
TEST(PgErrors, MapToTheStoreFailureClasses) {
  for (auto e : {pg_errc::connection_lost, pg_errc::shutting_down, pg_errc::retry,
                 pg_errc::pool_exhausted}) {
    EXPECT_EQ(std::error_code(e), failure::temporary) << std::error_code(e).message();
    EXPECT_EQ(store::classify(std::error_code(e)), failure::temporary);
  }
  for (auto e : {pg_errc::query_failed, pg_errc::schema_mismatch, pg_errc::bad_data}) {
    EXPECT_EQ(std::error_code(e), failure::permanent) << std::error_code(e).message();
    EXPECT_NE(std::error_code(e), failure::temporary);
    EXPECT_NE(std::error_code(e), failure::in_use);
  }
}

}  // namespace
}  // namespace popbox::store::pg
