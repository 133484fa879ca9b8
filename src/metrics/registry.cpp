#include "metrics/registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace popbox::metrics {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::observe(double v) noexcept {
  if (std::isnan(v)) return;
  // A dozen bounds: a linear scan is as fast as a binary search.
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

namespace {

bool name_char(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool valid_name(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, colon)) return false;
  }
  return true;
}

// Appends `{a="x",b="y"` (no closing brace) or nothing without labels.
void open_labels(std::string& out, const std::vector<std::string>& names,
                 const std::vector<std::string>& values) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += i == 0 ? '{' : ',';
    out += names[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out += '"';
  }
}

void write_sample(std::string& out, std::string_view name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view value) {
  out += name;
  open_labels(out, names, values);
  if (!names.empty()) out += '}';
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

bool valid_metric_name(std::string_view name) noexcept {
  return valid_name(name, true);
}

bool valid_label_name(std::string_view name) noexcept {
  return valid_name(name, false) && name.substr(0, 2) != "__";
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

Family::Family(Type type, std::string name, std::string help, std::vector<std::string> label_names,
               std::vector<double> bounds)
    : type_(type),
      name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {}

std::size_t Family::index(Type want, const std::vector<std::string>& values) {
  if (want != type_) throw std::invalid_argument(name_ + ": wrong metric type");
  if (values.size() != label_names_.size()) {
    throw std::invalid_argument(name_ + ": wrong number of label values");
  }
  auto it = std::find(values_.begin(), values_.end(), values);
  if (it != values_.end()) return static_cast<std::size_t>(it - values_.begin());
  // render() may be iterating values_ on another thread: no new series.
  if (frozen_) throw std::logic_error(name_ + ": new series after Registry::freeze()");
  values_.push_back(values);
  switch (type_) {
    case Type::counter:
      counters_.emplace_back();
      break;
    case Type::gauge:
      gauges_.emplace_back();
      break;
    case Type::histogram:
      histograms_.emplace_back(bounds_);
      break;
  }
  return values_.size() - 1;
}

Counter& Family::counter(const std::vector<std::string>& values) {
  return counters_[index(Type::counter, values)];
}

Gauge& Family::gauge(const std::vector<std::string>& values) {
  return gauges_[index(Type::gauge, values)];
}

Histogram& Family::histogram(const std::vector<std::string>& values) {
  return histograms_[index(Type::histogram, values)];
}

void Family::render(std::string& out) const {
  static constexpr std::string_view type_names[] = {"counter", "gauge", "histogram"};
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name_, escape_help(help_), name_,
                     type_names[static_cast<int>(type_)]);
  for (std::size_t s = 0; s < values_.size(); ++s) {
    const auto& values = values_[s];
    if (type_ == Type::counter) {
      write_sample(out, name_, label_names_, values, fmt::format("{}", counters_[s].value()));
      continue;
    }
    if (type_ == Type::gauge) {
      write_sample(out, name_, label_names_, values, fmt::format("{}", gauges_[s].value()));
      continue;
    }
    const Histogram& h = histograms_[s];
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b <= bounds_.size(); ++b) {
      cumulative += h.bucket(b);
      out += name_;
      out += "_bucket";
      open_labels(out, label_names_, values);
      out += label_names_.empty() ? "{le=\"" : ",le=\"";
      out += b < bounds_.size() ? format_value(bounds_[b]) : "+Inf";
      out += fmt::format("\"}} {}\n", cumulative);
    }
    write_sample(out, name_ + "_sum", label_names_, values, format_value(h.sum()));
    write_sample(out, name_ + "_count", label_names_, values, fmt::format("{}", cumulative));
  }
}

Family& Registry::add(Type type, std::string name, std::string help,
                      std::vector<std::string> label_names, std::vector<double> bounds) {
  if (frozen_) throw std::logic_error("metric added after Registry::freeze(): " + name);
  if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name: " + name);
  for (const auto& f : families_) {
    if (f.name() == name) throw std::invalid_argument("metric name taken: " + name);
  }
  for (const auto& l : label_names) {
    if (!valid_label_name(l) || (type == Type::histogram && l == "le")) {
      throw std::invalid_argument(name + ": invalid label name: " + l);
    }
  }
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      throw std::invalid_argument(name + ": bucket bounds must be finite and ascending");
    }
  }
  return families_.emplace_back(type, std::move(name), std::move(help), std::move(label_names),
                                std::move(bounds));
}

void Registry::freeze() noexcept {
  frozen_ = true;
  for (auto& f : families_) f.frozen_ = true;
}

std::string Registry::render() const {
  std::string out;
  for (const auto& f : families_) f.render(out);
  return out;
}

}  // namespace popbox::metrics
