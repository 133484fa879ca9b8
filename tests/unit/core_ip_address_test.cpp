#include <gtest/gtest.h>

#include "core/ip_address.hpp"

using popbox::core::client_key;
using popbox::core::parse_cidr;
using popbox::core::parse_ip;

TEST(IpAddress, ParsesAndPrints) {
  struct Case {
    const char* text;
    bool ok;
    bool v6;
  };
  for (const Case& c :
       {Case{"192.0.2.1", true, false}, Case{"::1", true, true}, Case{"2001:db8::1", true, true},
        Case{"::ffff:10.1.2.3", true, true}, Case{"1.2.3", false, false}, Case{"", false, false},
        Case{"1.2.3.4 ", false, false}, Case{"01.2.3.4", false, false},
        Case{"example.com", false, false}}) {
    auto a = parse_ip(c.text);
    EXPECT_EQ(a.has_value(), c.ok) << c.text;
    if (a && c.ok) {
      EXPECT_EQ(a->v6, c.v6) << c.text;
      EXPECT_EQ(a->to_string(), c.text);
    }
  }
  EXPECT_FALSE(parse_ip(std::string_view("1.2.3.4\0x", 9)));
}

TEST(IpAddress, MappedAndLoopback) {
  EXPECT_EQ(parse_ip("::ffff:10.1.2.3")->unmapped(), *parse_ip("10.1.2.3"));
  EXPECT_TRUE(parse_ip("127.0.0.2")->is_loopback());
  EXPECT_TRUE(parse_ip("::ffff:127.0.0.1")->is_loopback());
  EXPECT_TRUE(parse_ip("::1")->is_loopback());
  EXPECT_FALSE(parse_ip("::2")->is_loopback());
  EXPECT_FALSE(parse_ip("10.0.0.1")->is_loopback());
}

TEST(Cidr, ParsesAndMatches) {
  auto net = parse_cidr("10.0.0.0/8");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->contains(*parse_ip("10.255.1.2")));
  EXPECT_TRUE(net->contains(*parse_ip("::ffff:10.9.9.9")));
  EXPECT_FALSE(net->contains(*parse_ip("11.0.0.1")));
  EXPECT_FALSE(net->contains(*parse_ip("::1")));
  auto host = parse_cidr("127.0.0.2");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->prefix, 32);
  EXPECT_TRUE(host->contains(*parse_ip("127.0.0.2")));
  EXPECT_FALSE(host->contains(*parse_ip("127.0.0.1")));
  auto v6 = parse_cidr("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*parse_ip("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->contains(*parse_ip("2001:db9::1")));
  auto all = parse_cidr("0.0.0.0/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(*parse_ip("203.0.113.9")));
  for (const char* bad : {"10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "::/129", "/8",
                          "10.0.0.0/08x", "10.0.0.0/-1"}) {
    EXPECT_FALSE(parse_cidr(bad)) << bad;
  }
}

TEST(ClientKey, GroupsIpv6By64AndMappedAsIpv4) {
  EXPECT_EQ(client_key(*parse_ip("2001:db8:1:2:aaaa::1")),
            client_key(*parse_ip("2001:db8:1:2:bbbb::9")));
  EXPECT_NE(client_key(*parse_ip("2001:db8:1:2::1")), client_key(*parse_ip("2001:db8:1:3::1")));
  EXPECT_EQ(client_key(*parse_ip("::ffff:192.0.2.7")), client_key(*parse_ip("192.0.2.7")));
  EXPECT_NE(client_key(*parse_ip("192.0.2.7")), client_key(*parse_ip("192.0.2.8")));
}
