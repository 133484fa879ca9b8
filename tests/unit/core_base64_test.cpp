// Strict base64 (RFC 4648 section 4, padded): every SASL response goes
// through core::base64_decode, so anything but the canonical spelling is
// refused. Table-driven cases and every byte value as a one-byte pollution.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

#include "core/base64.hpp"

using popbox::core::base64_decode;
using popbox::core::base64_encode;

namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool in_alphabet(unsigned char c) {
  return alphabet.find(static_cast<char>(c)) != std::string_view::npos;
}

struct Case {
  std::string_view in;
  std::optional<std::string_view> out;
};

TEST(Base64, Table) {
  const Case cases[] = {
      {"", ""},
      {"QQ==", "A"},
      {"QUI=", "AB"},
      {"QUJD", "ABC"},
      {"AHVzZXIAcGFzcw==", std::string_view("\0user\0pass", 10)},
      {"+/+/", "\xfb\xff\xbf"},
      // Length not a multiple of four, missing or extra padding.
      {"QQ", std::nullopt},
      {"QQ=", std::nullopt},
      {"QQ===", std::nullopt},
      {"QUI", std::nullopt},
      {"Q", std::nullopt},
      {"=", std::nullopt},
      {"====", std::nullopt},
      {"Q===", std::nullopt},
      // Padding anywhere but at the end.
      {"QQ==QQ==", std::nullopt},
      {"Q=Q=", std::nullopt},
      {"=QQQ", std::nullopt},
      {"QQ=Q", std::nullopt},
      // Unused bits before the padding must be zero (one spelling only).
      {"QR==", std::nullopt},
      {"QUJ=", std::nullopt},
      // Whitespace and line breaks.
      {"QU JD", std::nullopt},
      {"QUJD\r\n", std::nullopt},
      {" QUJD", std::nullopt},
      {"QUJD ", std::nullopt},
      {"QU\tJ", std::nullopt},
      // The URL-safe alphabet is another encoding.
      {"-_-_", std::nullopt},
      {std::string_view("QU\0D", 4), std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::PrintToString(std::string(c.in)));
    auto got = base64_decode(c.in);
    ASSERT_EQ(got.has_value(), c.out.has_value());
    if (got) {
      EXPECT_EQ(*got, *c.out);
    }
  }
}

TEST(Base64, RoundTripsEveryLength) {
  std::string raw;
  for (int i = 0; i < 64; ++i) {
    raw.push_back(static_cast<char>(i * 37 + 11));
    auto back = base64_decode(base64_encode(raw));
    ASSERT_TRUE(back) << i;
    EXPECT_EQ(*back, raw);
  }
}

// Every byte value replacing each character of a valid unpadded string
// (every position carries all six bits, so any alphabet character decodes):
// accepted exactly when the byte is in the alphabet.
TEST(Base64, EveryByteReplacingACharacter) {
  const std::string valid = "aGVsbG8gd29y";  // "hello wor"
  ASSERT_TRUE(base64_decode(valid));
  for (int b = 0; b < 256; ++b) {
    for (std::size_t pos = 0; pos < valid.size(); ++pos) {
      std::string polluted = valid;
      polluted[pos] = static_cast<char>(b);
      EXPECT_EQ(base64_decode(polluted).has_value(), in_alphabet(static_cast<unsigned char>(b)))
          << "byte " << b << " at " << pos;
    }
  }
}

// Every byte value inserted anywhere in a valid string (padded or not) makes
// a length that is not a multiple of four: always refused, whatever the byte.
TEST(Base64, EveryByteInsertedIsRefused) {
  for (const std::string valid : {"aGVsbG8=", "aGk=", "aGVsbG8gd29y"}) {
    ASSERT_TRUE(base64_decode(valid));
    for (int b = 0; b < 256; ++b) {
      for (std::size_t pos = 0; pos <= valid.size(); ++pos) {
        std::string polluted = valid;
        polluted.insert(pos, 1, static_cast<char>(b));
        EXPECT_FALSE(base64_decode(polluted)) << valid << ": byte " << b << " at " << pos;
      }
    }
  }
}

// Every byte value in place of the padding: only '=' is padding, and an
// alphabet character there changes the length of the data, never refused
// silently into something else.
TEST(Base64, EveryByteInPlaceOfThePadding) {
  const std::string valid = "aGk=";  // "hi"
  for (int b = 0; b < 256; ++b) {
    std::string polluted = valid;
    polluted[3] = static_cast<char>(b);
    auto got = base64_decode(polluted);
    if (b == '=') {
      ASSERT_TRUE(got);
      EXPECT_EQ(*got, "hi");
    } else if (in_alphabet(static_cast<unsigned char>(b))) {
      ASSERT_TRUE(got) << b;
      EXPECT_EQ(got->size(), 3u);
      EXPECT_EQ(got->substr(0, 2), "hi");
    } else {
      EXPECT_FALSE(got) << "byte " << b;
    }
  }
}

}  // namespace
