#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "metrics/registry.hpp"

using popbox::metrics::escape_help;
using popbox::metrics::escape_label_value;
using popbox::metrics::format_value;
using popbox::metrics::Registry;
using popbox::metrics::Type;
using popbox::metrics::valid_label_name;
using popbox::metrics::valid_metric_name;

TEST(MetricsRender, CounterAndGaugeByteExact) {
  Registry r;
  auto& f = r.add(Type::counter, "popbox_logins_total", "Login attempts.", {"mechanism", "result"});
  auto& ok = f.counter({"USER", "ok"});
  auto& bad = f.counter({"PLAIN", "bad_credentials"});
  ok.inc();
  ok.inc(2);
  bad.inc();
  r.add(Type::gauge, "popbox_sessions_open", "Open now.").gauge().add(5);
  EXPECT_EQ(r.render(),
            "# HELP popbox_logins_total Login attempts.\n"
            "# TYPE popbox_logins_total counter\n"
            "popbox_logins_total{mechanism=\"USER\",result=\"ok\"} 3\n"
            "popbox_logins_total{mechanism=\"PLAIN\",result=\"bad_credentials\"} 1\n"
            "# HELP popbox_sessions_open Open now.\n"
            "# TYPE popbox_sessions_open gauge\n"
            "popbox_sessions_open 5\n");
}

TEST(MetricsRender, GaugeGoesDownAndNegative) {
  Registry r;
  auto& g = r.add(Type::gauge, "g", "h").gauge();
  g.add(2);
  g.add(-3);
  EXPECT_EQ(g.value(), -1);
  EXPECT_EQ(r.render(), "# HELP g h\n# TYPE g gauge\ng -1\n");
  g.set(42);
  EXPECT_EQ(r.render(), "# HELP g h\n# TYPE g gauge\ng 42\n");
}

TEST(MetricsRender, HistogramCumulativeBucketsInfSumCount) {
  Registry r;
  auto& f =
      r.add(Type::histogram, "popbox_retr_duration_seconds", "RETR.", {"command"}, {0.005, 1, 2.5});
  auto& h = f.histogram({"RETR"});
  h.observe(0.00390625);  // first bucket (2^-8: the sum stays exact)
  h.observe(0.005);       // le is inclusive: still the first
  h.observe(0.5);
  h.observe(3.5);  // only +Inf
  EXPECT_EQ(r.render(),
            "# HELP popbox_retr_duration_seconds RETR.\n"
            "# TYPE popbox_retr_duration_seconds histogram\n"
            "popbox_retr_duration_seconds_bucket{command=\"RETR\",le=\"0.005\"} 2\n"
            "popbox_retr_duration_seconds_bucket{command=\"RETR\",le=\"1\"} 3\n"
            "popbox_retr_duration_seconds_bucket{command=\"RETR\",le=\"2.5\"} 3\n"
            "popbox_retr_duration_seconds_bucket{command=\"RETR\",le=\"+Inf\"} 4\n"
            "popbox_retr_duration_seconds_sum{command=\"RETR\"} 4.00890625\n"
            "popbox_retr_duration_seconds_count{command=\"RETR\"} 4\n");
}

TEST(MetricsRender, HistogramWithoutLabelsAndNaNIgnored) {
  Registry r;
  auto& h = r.add(Type::histogram, "h_seconds", "x", {}, {1}).histogram();
  h.observe(std::nan(""));
  h.observe(0.25);
  EXPECT_EQ(r.render(),
            "# HELP h_seconds x\n# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"1\"} 1\n"
            "h_seconds_bucket{le=\"+Inf\"} 1\n"
            "h_seconds_sum 0.25\n"
            "h_seconds_count 1\n");
}

TEST(MetricsRender, EmptyFamilyHasOnlyHelpAndType) {
  Registry r;
  r.add(Type::counter, "c_total", "nothing yet", {"a"});
  EXPECT_EQ(r.render(), "# HELP c_total nothing yet\n# TYPE c_total counter\n");
}

TEST(MetricsRender, LabelValuesAndHelpAreEscaped) {
  Registry r;
  auto& f = r.add(Type::counter, "c_total", "a \\ b\nc \"q\"", {"v"});
  f.counter({"x\\y\"z\nw"}).inc();
  EXPECT_EQ(r.render(),
            "# HELP c_total a \\\\ b\\nc \"q\"\n"
            "# TYPE c_total counter\n"
            "c_total{v=\"x\\\\y\\\"z\\nw\"} 1\n");
}

TEST(MetricsRender, EscapingTable) {
  struct Case {
    std::string in, label, help;
  };
  const Case cases[] = {
      {"plain", "plain", "plain"},
      {"", "", ""},
      {"\\", "\\\\", "\\\\"},
      {"\"", "\\\"", "\""},
      {"\n", "\\n", "\\n"},
      {"\r\t", "\r\t", "\r\t"},  // only \, " and newline are special
      {"\xc3\xa9", "\xc3\xa9", "\xc3\xa9"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(escape_label_value(c.in), c.label) << c.in;
    EXPECT_EQ(escape_help(c.in), c.help) << c.in;
  }
}

TEST(MetricsRender, FloatFormatting) {
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(1), "1");
  EXPECT_EQ(format_value(2.5), "2.5");
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(1e-9), "1e-09");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(MetricsRegistry, SameLabelValuesGiveTheSameHandle) {
  Registry r;
  auto& f = r.add(Type::counter, "c_total", "h", {"a"});
  auto& x = f.counter({"1"});
  auto& y = f.counter({"1"});
  EXPECT_EQ(&x, &y);
  // Handles stay put however many series follow.
  for (int i = 0; i < 1000; ++i) f.counter({std::to_string(i + 2)});
  EXPECT_EQ(&x, &f.counter({"1"}));
}

TEST(MetricsRegistry, RefusesWhatPrometheusWouldReject) {
  Registry r;
  r.add(Type::counter, "c_total", "h", {"a"});
  EXPECT_THROW(r.add(Type::counter, "c_total", "again"), std::invalid_argument);
  EXPECT_THROW(r.add(Type::counter, "1bad", "h"), std::invalid_argument);
  EXPECT_THROW(r.add(Type::counter, "bad-name", "h"), std::invalid_argument);
  EXPECT_THROW(r.add(Type::counter, "ok_total", "h", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(r.add(Type::counter, "ok_total", "h", {"a:b"}), std::invalid_argument);
  EXPECT_THROW(r.add(Type::histogram, "h1", "h", {"le"}, {1}), std::invalid_argument);
  EXPECT_THROW(r.add(Type::histogram, "h2", "h", {}, {2, 1}), std::invalid_argument);
  EXPECT_THROW(r.add(Type::histogram, "h3", "h", {}, {1, 1}), std::invalid_argument);
  EXPECT_THROW(r.add(Type::histogram, "h4", "h", {}, {std::nan("")}), std::invalid_argument);
  auto& f = r.add(Type::counter, "d_total", "h", {"a", "b"});
  EXPECT_THROW(f.counter({"only one"}), std::invalid_argument);
  EXPECT_THROW(f.gauge({"x", "y"}), std::invalid_argument);
}

TEST(MetricsRegistry, FrozenRegistryMakesNoNewSeries) {
  Registry r;
  auto& f = r.add(Type::counter, "c_total", "h", {"a"});
  auto& one = f.counter({"1"});
  r.freeze();
  // Existing series stay usable; nothing new may appear while render()
  // iterates on another thread.
  EXPECT_EQ(&one, &f.counter({"1"}));
  one.inc();
  EXPECT_THROW(f.counter({"2"}), std::logic_error);
  EXPECT_THROW(r.add(Type::gauge, "g", "h"), std::logic_error);
  EXPECT_EQ(r.render(), "# HELP c_total h\n# TYPE c_total counter\nc_total{a=\"1\"} 1\n");
}

TEST(MetricsRegistry, NameRules) {
  EXPECT_TRUE(valid_metric_name("popbox_x:y_total"));
  EXPECT_TRUE(valid_metric_name("_x"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_FALSE(valid_metric_name("9x"));
  EXPECT_FALSE(valid_metric_name("a b"));
  EXPECT_TRUE(valid_label_name("result"));
  EXPECT_FALSE(valid_label_name("a:b"));
  EXPECT_FALSE(valid_label_name("__name__"));
  EXPECT_FALSE(valid_label_name(""));
}

TEST(MetricsRegistry, ConcurrentIncrementsAreAllCounted) {
  Registry r;
  auto& c = r.add(Type::counter, "c_total", "h").counter();
  auto& h = r.add(Type::histogram, "h_seconds", "h", {}, {0.5}).histogram();
  constexpr int per_thread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        c.inc();
        h.observe(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 4u * per_thread);
  EXPECT_EQ(h.bucket(1), 4u * per_thread);
  EXPECT_EQ(h.sum(), 4.0 * per_thread);
}
