#pragma once
// Counters, gauges and histograms with fixed label sets, and their
// Prometheus text exposition (format 0.0.4). Every series is made once, at
// startup, and resolved to a handle (Counter&, Gauge&, Histogram&); an event
// is then one relaxed atomic add: no lock, no allocation, no lookup. Pure
// code: rendering reads the atomics and writes text, and does no I/O.

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace popbox::metrics {

/// A value that only goes up (Prometheus "counter").
class Counter {
 public:
  /// Adds `n`; safe from any thread.
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  /// The value now.
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// A value that goes up and down (Prometheus "gauge").
class Gauge {
 public:
  /// Adds `n` (negative: subtracts); safe from any thread.
  void add(std::int64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  /// Sets the value.
  void set(std::int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  /// The value now.
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

/// Observations counted in buckets with fixed upper bounds (Prometheus
/// "histogram"); the count is the sum of the buckets, so a scrape always
/// sees _count equal to the +Inf bucket.
class Histogram {
 public:
  /// `bounds`: the buckets' upper bounds, ascending, finite, without +Inf.
  explicit Histogram(std::vector<double> bounds);
  /// Records `v` in the first bucket whose bound is >= v (else +Inf); safe
  /// from any thread. NaN is ignored.
  void observe(double v) noexcept;

  /// The buckets' upper bounds, without +Inf.
  const std::vector<double>& bounds() const noexcept { return bounds_; }
  /// Observations in bucket `i` alone (not cumulative); i == bounds().size()
  /// is the +Inf bucket.
  std::uint64_t bucket(std::size_t i) const noexcept {
    return buckets_[i].load(std::memory_order_relaxed);
  }
  /// The sum of all observations.
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

enum class Type { counter, gauge, histogram };

/// One metric name with its HELP text, type, label names and series.
class Family {
 public:
  /// A family with no series yet (Registry::add() checks the names).
  Family(Type type, std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds);
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  /// The counter with these label values (in label_names() order), made on
  /// first use. Throws std::invalid_argument on a wrong type or count, and
  /// std::logic_error when it would make a series after Registry::freeze().
  Counter& counter(const std::vector<std::string>& values = {});
  /// The gauge with these label values, made on first use (as counter()).
  Gauge& gauge(const std::vector<std::string>& values = {});
  /// The histogram with these label values, made on first use (as counter()).
  Histogram& histogram(const std::vector<std::string>& values = {});

  /// The family's type.
  Type type() const noexcept { return type_; }
  /// The metric name (without _bucket/_sum/_count).
  const std::string& name() const noexcept { return name_; }
  /// The label names, in the order label values are given.
  const std::vector<std::string>& label_names() const noexcept { return label_names_; }

  /// Appends this family in text format 0.0.4: HELP, TYPE, then each series
  /// in the order it was made.
  void render(std::string& out) const;

 private:
  friend class Registry;  // freeze()
  std::size_t index(Type want, const std::vector<std::string>& values);

  Type type_;
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  std::vector<std::vector<std::string>> values_;  // per series, in order made
  // One of these holds the series (deque: handles never move).
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<Histogram> histograms_;
  bool frozen_ = false;  // set before any thread but the maker sees the family
};

/// The families of one exposition, in the order they were added.
class Registry {
 public:
  /// Adds a family. Throws std::invalid_argument when `name` or a label
  /// name is not a valid Prometheus name, the name is taken, a histogram
  /// uses the label "le", or its bounds are not ascending and finite.
  Family& add(Type type, std::string name, std::string help,
              std::vector<std::string> label_names = {}, std::vector<double> bounds = {});

  /// Ends construction: from now on add() and making a new series throw
  /// std::logic_error, so render() on one thread may read while events
  /// count on others (handles made before stay valid). Call before sharing.
  void freeze() noexcept;
  /// The whole exposition in text format 0.0.4.
  std::string render() const;

 private:
  std::deque<Family> families_;
  bool frozen_ = false;
};

/// `v` escaped as a label value: backslash, double quote and newline as
/// \\, \" and \n (the text format's rule).
std::string escape_label_value(std::string_view v);
/// `v` escaped as HELP text: backslash and newline as \\ and \n.
std::string escape_help(std::string_view v);
/// `v` as the text format writes a float: shortest round-trip form,
/// "+Inf", "-Inf", "NaN".
std::string format_value(double v);
/// True if `name` matches [a-zA-Z_:][a-zA-Z0-9_:]* (metric names).
bool valid_metric_name(std::string_view name) noexcept;
/// True if `name` matches [a-zA-Z_][a-zA-Z0-9_]* and does not start "__".
bool valid_label_name(std::string_view name) noexcept;

}  // namespace popbox::metrics
