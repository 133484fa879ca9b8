// Per-IP counting used for connection caps and password-check concurrency.
#include <gtest/gtest.h>

#include "net/server_state.hpp"

using popbox::net::IpSlot;
using popbox::net::PerIpCounter;

TEST(PerIpCounter, CapsEachKeyAndGivesSlotsBack) {
  PerIpCounter c;
  {
    IpSlot a(c, "k1", 2), b(c, "k1", 2);
    EXPECT_TRUE(a);
    EXPECT_TRUE(b);
    IpSlot refused(c, "k1", 2);
    EXPECT_FALSE(refused);
    IpSlot other(c, "k2", 2);
    EXPECT_TRUE(other);  // another key is not affected
    IpSlot moved(std::move(a));
    EXPECT_TRUE(moved);
    EXPECT_FALSE(IpSlot(c, "k1", 2));  // moving does not free the slot
  }
  // Every slot was given back, the refused one was never counted.
  IpSlot a(c, "k1", 2), b(c, "k1", 2);
  EXPECT_TRUE(a);
  EXPECT_TRUE(b);
}
