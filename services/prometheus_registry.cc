#include "services/prometheus_registry.h"

#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace newsdedup {
namespace {

// HELP text escapes backslash and newline; label values also the quote.
std::string Escape(const std::string& s, bool quote) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// The shortest text that reads back as `v` (integers without exponent).
std::string FormatValue(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return absl::StrFormat("%.0f", v);
  }
  for (int digits = 6; digits < 17; ++digits) {
    const std::string text = absl::StrFormat("%.*g", digits, v);
    if (std::strtod(text.c_str(), nullptr) == v) return text;
  }
  return absl::StrFormat("%.17g", v);
}

// {a="x",b="y"} plus an optional extra pair (the histogram's le).
std::string Labels(const std::vector<std::string>& names,
                   const std::vector<std::string>& values,
                   const std::string& extra_name = "",
                   const std::string& extra_value = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, out.empty() ? "" : ",", names[i], "=\"",
                    Escape(values[i], true), "\"");
  }
  if (!extra_name.empty()) {
    absl::StrAppend(&out, out.empty() ? "" : ",", extra_name, "=\"",
                    extra_value, "\"");
  }
  return out.empty() ? "" : absl::StrCat("{", out, "}");
}

const char* TypeName(MetricFamily::Type type) {
  switch (type) {
    case MetricFamily::Type::kCounter:
      return "counter";
    case MetricFamily::Type::kGauge:
      return "gauge";
    case MetricFamily::Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

MetricFamily::MetricFamily(std::string name, std::string help, Type type,
                           std::vector<std::string> label_names,
                           std::vector<double> bucket_bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      bounds_(std::move(bucket_bounds)) {}

MetricFamily::Child& MetricFamily::ChildFor(
    const std::vector<std::string>& labels) {
  std::vector<std::string> key = labels;
  key.resize(label_names_.size());  // missing values are empty
  Child& child = children_[key];
  if (type_ == Type::kHistogram && child.bucket_counts.empty()) {
    child.bucket_counts.assign(bounds_.size(), 0);
  }
  return child;
}

void MetricFamily::Add(const std::vector<std::string>& labels, double value) {
  if (!(value >= 0)) return;  // counters only go up
  absl::MutexLock lock(&mu_);
  ChildFor(labels).value += value;
}

void MetricFamily::Set(const std::vector<std::string>& labels, double value) {
  absl::MutexLock lock(&mu_);
  ChildFor(labels).value = value;
}

void MetricFamily::Change(const std::vector<std::string>& labels,
                          double delta) {
  absl::MutexLock lock(&mu_);
  ChildFor(labels).value += delta;
}

void MetricFamily::Clear() {
  absl::MutexLock lock(&mu_);
  children_.clear();
}

void MetricFamily::Observe(const std::vector<std::string>& labels,
                           double value) {
  absl::MutexLock lock(&mu_);
  Child& child = ChildFor(labels);
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (value <= bounds_[i]) {
      ++child.bucket_counts[i];
      break;
    }
  }
  ++child.count;
  child.sum += value;
}

double MetricFamily::Value(const std::vector<std::string>& labels) const {
  std::vector<std::string> key = labels;
  key.resize(label_names_.size());
  absl::MutexLock lock(&mu_);
  auto it = children_.find(key);
  if (it == children_.end()) return 0;
  return type_ == Type::kHistogram ? static_cast<double>(it->second.count)
                                   : it->second.value;
}

void MetricFamily::Render(std::string* out) const {
  absl::StrAppend(out, "# HELP ", name_, " ", Escape(help_, false), "\n",
                  "# TYPE ", name_, " ", TypeName(type_), "\n");
  absl::MutexLock lock(&mu_);
  if (children_.empty() && label_names_.empty() && type_ != Type::kHistogram) {
    absl::StrAppend(out, name_, " 0\n");  // an unlabelled metric always shows
    return;
  }
  for (const auto& [labels, child] : children_) {
    if (type_ != Type::kHistogram) {
      absl::StrAppend(out, name_, Labels(label_names_, labels), " ",
                      FormatValue(child.value), "\n");
      continue;
    }
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
      cumulative += child.bucket_counts[i];
      absl::StrAppend(
          out, name_, "_bucket",
          Labels(label_names_, labels, "le", FormatValue(bounds_[i])), " ",
          cumulative, "\n");
    }
    absl::StrAppend(
        out, name_, "_bucket", Labels(label_names_, labels, "le", "+Inf"), " ",
        child.count, "\n", name_, "_sum", Labels(label_names_, labels), " ",
        FormatValue(child.sum), "\n", name_, "_count",
        Labels(label_names_, labels), " ", child.count, "\n");
  }
}

MetricFamily* PrometheusRegistry::Add(std::unique_ptr<MetricFamily> family) {
  absl::MutexLock lock(&mu_);
  families_.push_back(std::move(family));
  return families_.back().get();
}

MetricFamily* PrometheusRegistry::AddCounter(
    const std::string& name, const std::string& help,
    std::vector<std::string> label_names) {
  return Add(std::make_unique<MetricFamily>(
      name, help, MetricFamily::Type::kCounter, std::move(label_names)));
}

MetricFamily* PrometheusRegistry::AddGauge(
    const std::string& name, const std::string& help,
    std::vector<std::string> label_names) {
  return Add(std::make_unique<MetricFamily>(
      name, help, MetricFamily::Type::kGauge, std::move(label_names)));
}

MetricFamily* PrometheusRegistry::AddHistogram(
    const std::string& name, const std::string& help,
    std::vector<std::string> label_names, std::vector<double> bounds) {
  return Add(std::make_unique<MetricFamily>(
      name, help, MetricFamily::Type::kHistogram, std::move(label_names),
      std::move(bounds)));
}

void PrometheusRegistry::AddScrapeHook(std::function<void()> hook) {
  absl::MutexLock lock(&mu_);
  hooks_.push_back(std::move(hook));
}

std::string PrometheusRegistry::Render() const {
  std::vector<std::function<void()>> hooks;
  {
    absl::MutexLock lock(&mu_);
    hooks = hooks_;
  }
  for (const auto& hook : hooks) hook();
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& family : families_) family->Render(&out);
  return out;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

}  // namespace newsdedup
