// The admin socket's request parsing and reply shape (admin/protocol.hpp):
// what the verbs send parses back to the same request, and everything else
// is refused with a reason, never an exception.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "admin/mail_ops.hpp"
#include "admin/protocol.hpp"
#include "core/limits.hpp"

using popbox::admin::parse_age;
using popbox::admin::parse_request;
using popbox::admin::Request;
using popbox::admin::Verb;

namespace {

Request make(Verb v) {
  Request r;
  r.verb = v;
  return r;
}

}  // namespace

TEST(AdminProtocol, WhatTheVerbsSendParsesBack) {
  std::vector<Request> requests;
  requests.push_back(make(Verb::who));
  requests.push_back(make(Verb::reload));
  Request kick_user = make(Verb::kick);
  kick_user.user = "alice@example.com";
  requests.push_back(kick_user);
  Request kick_id = make(Verb::kick);
  kick_id.session = 42;
  requests.push_back(kick_id);
  Request stat = make(Verb::mailbox_stat);
  stat.user = "bob";
  requests.push_back(stat);
  Request one = make(Verb::expunge);
  one.user = "bob";
  one.older_than = 90 * 86400;
  one.dry_run = true;
  requests.push_back(one);
  Request all = make(Verb::expunge);
  all.all = true;
  all.older_than = 1;
  requests.push_back(all);
  for (const auto& r : requests) {
    const std::string line = popbox::admin::format_request(r);
    ASSERT_EQ(line.back(), '\n');
    std::string error;
    auto parsed = parse_request(std::string_view(line).substr(0, line.size() - 1), error);
    ASSERT_TRUE(parsed) << line << error;
    EXPECT_EQ(*parsed, r) << line;
  }
}

TEST(AdminProtocol, ExactWireForm) {
  Request r = make(Verb::expunge);
  r.user = "bob";
  r.older_than = 60;
  EXPECT_EQ(popbox::admin::format_request(r),
            "{\"dry_run\":false,\"older_than\":60,\"user\":\"bob\",\"verb\":\"expunge\"}\n");
  EXPECT_EQ(popbox::admin::error_reply("no \"verb\""),
            "{\"error\":\"no \\\"verb\\\"\",\"ok\":false}\n");
}

TEST(AdminProtocol, BadRequestsAreRefusedWithAReason) {
  const struct {
    std::string text;
    std::string error;
  } cases[] = {
      {"", "request is not JSON"},
      {"hello", "request is not JSON"},
      {"{\"verb\":\"who\"", "request is not JSON"},
      {"[\"who\"]", "request is not a JSON object"},
      {"\"who\"", "request is not a JSON object"},
      {"{}", "no verb"},
      {"{\"verb\":1}", "\"verb\" must be a string"},
      {"{\"verb\":\"shutdown\"}", "unknown verb"},
      {"{\"verb\":\"who\",\"extra\":1}", "unknown member \"extra\""},
      {"{\"verb\":\"who\",\"user\":\"a\"}", "who takes no arguments"},
      {"{\"verb\":\"reload\",\"dry_run\":true}", "reload takes no arguments"},
      {"{\"verb\":\"kick\"}", "kick needs a user or a session"},
      {"{\"verb\":\"kick\",\"user\":\"a\",\"session\":1}", "kick needs a user or a session"},
      {"{\"verb\":\"kick\",\"session\":0}", "\"session\" must be a positive integer"},
      {"{\"verb\":\"kick\",\"session\":-3}", "\"session\" must be a positive integer"},
      {"{\"verb\":\"kick\",\"session\":1.5}", "\"session\" must be a positive integer"},
      {"{\"verb\":\"kick\",\"session\":\"7\"}", "\"session\" must be a positive integer"},
      {"{\"verb\":\"kick\",\"user\":\"\"}", "invalid user name"},
      {"{\"verb\":\"kick\",\"user\":\"a b\"}", "invalid user name"},
      {"{\"verb\":\"kick\",\"user\":\"a:b\"}", "invalid user name"},
      {"{\"verb\":\"kick\",\"user\":\"a\\nb\"}", "invalid user name"},
      {"{\"verb\":\"kick\",\"user\":[\"a\"]}", "\"user\" must be a string"},
      {"{\"verb\":\"mailbox_stat\"}", "mailbox_stat needs a user"},
      {"{\"verb\":\"mailbox_stat\",\"user\":\"a\",\"all\":true}", "mailbox_stat takes a user only"},
      {"{\"verb\":\"expunge\",\"older_than\":5}", "expunge needs a user or all"},
      {"{\"verb\":\"expunge\",\"user\":\"a\",\"all\":true,\"older_than\":5}",
       "expunge needs a user or all"},
      {"{\"verb\":\"expunge\",\"user\":\"a\"}", "expunge needs older_than"},
      {"{\"verb\":\"expunge\",\"user\":\"a\",\"older_than\":0}",
       "\"older_than\" must be a positive number of seconds"},
      {"{\"verb\":\"expunge\",\"user\":\"a\",\"older_than\":1e9}",
       "\"older_than\" must be a positive number of seconds"},
      {"{\"verb\":\"expunge\",\"user\":\"a\",\"older_than\":18446744073709551615}",
       "\"older_than\" must be a positive number of seconds"},
      {"{\"verb\":\"expunge\",\"all\":\"yes\",\"older_than\":5}", "\"all\" must be true or false"},
      {"{\"verb\":\"expunge\",\"all\":true,\"older_than\":5,\"session\":2}",
       "expunge takes no session"},
      {std::string(popbox::limits::admin_max_request + 1, ' '), "request too long"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(parse_request(c.text, error)) << c.text;
    EXPECT_EQ(error, c.error) << c.text;
  }
}

TEST(AdminProtocol, InvalidUtf8AndNulBytesDoNotThrow) {
  std::string error;
  EXPECT_FALSE(parse_request("{\"verb\":\"kick\",\"user\":\"\xff\"}", error));
  EXPECT_FALSE(parse_request(std::string("{\"verb\":\"who\"}\0x", 16), error));
  // An error reply quoting invalid bytes is still one JSON line.
  auto reply = popbox::admin::error_reply("bad \xff byte");
  EXPECT_TRUE(nlohmann::json::accept(reply));
}

TEST(AdminProtocol, Ages) {
  EXPECT_EQ(parse_age("90d"), 90 * 86400);
  EXPECT_EQ(parse_age("1s"), 1);
  EXPECT_EQ(parse_age("30m"), 1800);
  EXPECT_EQ(parse_age("12h"), 12 * 3600);
  EXPECT_EQ(parse_age("2w"), 14 * 86400);
  for (const char* bad : {"", "d", "90", "0d", "-1d", "+1d", "1.5d", "1 d", "1D", "1y", "d1",
                          "99999999999999999999d", "9223372036854775807w"}) {
    EXPECT_FALSE(parse_age(bad)) << bad;
  }
}

TEST(AdminMailOps, DeliveryTimeIsTheNamesTimestampElseTheMtime) {
  using popbox::admin::delivery_time;
  const std::int64_t mtime = 1'700'000'123'456'789'000;
  EXPECT_EQ(delivery_time("1600000000.M1P2.host,S=5:2,S", mtime), 1'600'000'000);
  EXPECT_EQ(delivery_time("1600000000.M1P2.host", 0), 1'600'000'000);
  EXPECT_EQ(delivery_time("no-stamp", mtime), 1'700'000'123);
  EXPECT_EQ(delivery_time("12ab.M1", mtime), 1'700'000'123);
  EXPECT_EQ(delivery_time(".hidden", mtime), 1'700'000'123);
  EXPECT_EQ(delivery_time("0.M1", mtime), 1'700'000'123);
  EXPECT_EQ(delivery_time("1234567890123.M1", mtime), 1'700'000'123);  // 13 digits: not a time
}
