#include "services/server/prometheus_registry.h"

#include <prometheus/text_serializer.h>

#include <utility>

namespace newsdedup {
namespace {

// prometheus-cpp 1.0.1 escapes label values but writes HELP text as given,
// so a newline in it would end the line early; escape as the format asks.
std::string EscapedHelp(const std::string& help) {
  std::string escaped;
  for (char c : help) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

}  // namespace

MetricFamily::MetricFamily(
    std::vector<std::string> label_names,
    prometheus::Family<prometheus::Counter>* counters,
    prometheus::Family<prometheus::Gauge>* gauges,
    prometheus::Family<prometheus::Histogram>* histograms,
    std::vector<double> bounds)
    : label_names_(std::move(label_names)),
      counters_(counters),
      gauges_(gauges),
      histograms_(histograms),
      bounds_(std::move(bounds)) {}

prometheus::Labels MetricFamily::Named(
    const std::vector<std::string>& values) const {
  prometheus::Labels named;
  for (size_t i = 0; i < label_names_.size() && i < values.size(); ++i) {
    named.emplace(label_names_[i], values[i]);
  }
  return named;
}

void MetricFamily::Add(const std::vector<std::string>& labels, double value) {
  if (counters_ != nullptr) counters_->Add(Named(labels)).Increment(value);
}

void MetricFamily::Set(const std::vector<std::string>& labels, double value) {
  if (gauges_ != nullptr) {
    absl::MutexLock lock(&mu_);
    gauges_->Add(Named(labels)).Set(value);
    gauge_children_.insert(labels);
  } else if (counters_ != nullptr) {
    // Serialised so that two scrapes cannot both add the same difference.
    absl::MutexLock lock(&mu_);
    prometheus::Counter& counter = counters_->Add(Named(labels));
    if (value > counter.Value()) counter.Increment(value - counter.Value());
  }
}

void MetricFamily::Change(const std::vector<std::string>& labels,
                          double delta) {
  if (gauges_ == nullptr) return;
  absl::MutexLock lock(&mu_);
  gauges_->Add(Named(labels)).Increment(delta);
  gauge_children_.insert(labels);
}

void MetricFamily::Clear() {
  if (gauges_ == nullptr) return;
  absl::MutexLock lock(&mu_);
  for (const std::vector<std::string>& labels : gauge_children_) {
    gauges_->Remove(&gauges_->Add(Named(labels)));
  }
  gauge_children_.clear();
}

void MetricFamily::Observe(const std::vector<std::string>& labels,
                           double value) {
  if (histograms_ != nullptr) {
    histograms_->Add(Named(labels), bounds_).Observe(value);
  }
}

double MetricFamily::Value(const std::vector<std::string>& labels) const {
  const prometheus::Labels named = Named(labels);
  if (counters_ != nullptr && counters_->Has(named)) {
    return counters_->Add(named).Value();
  }
  if (gauges_ != nullptr && gauges_->Has(named)) {
    return gauges_->Add(named).Value();
  }
  if (histograms_ != nullptr && histograms_->Has(named)) {
    return static_cast<double>(
        histograms_->Add(named, bounds_).Collect().histogram.sample_count);
  }
  return 0;
}

PrometheusRegistry::PrometheusRegistry() = default;
PrometheusRegistry::~PrometheusRegistry() = default;

MetricFamily* PrometheusRegistry::Keep(std::unique_ptr<MetricFamily> family) {
  absl::MutexLock lock(&mu_);
  families_.push_back(std::move(family));
  return families_.back().get();
}

MetricFamily* PrometheusRegistry::AddCounter(
    const std::string& name, const std::string& help,
    std::vector<std::string> label_names) {
  auto* counters = &prometheus::BuildCounter()
                        .Name(name)
                        .Help(EscapedHelp(help))
                        .Register(registry_);
  return Keep(std::unique_ptr<MetricFamily>(new MetricFamily(
      std::move(label_names), counters, nullptr, nullptr, {})));
}

MetricFamily* PrometheusRegistry::AddGauge(
    const std::string& name, const std::string& help,
    std::vector<std::string> label_names) {
  auto* gauges = &prometheus::BuildGauge()
                      .Name(name)
                      .Help(EscapedHelp(help))
                      .Register(registry_);
  return Keep(std::unique_ptr<MetricFamily>(
      new MetricFamily(std::move(label_names), nullptr, gauges, nullptr, {})));
}

MetricFamily* PrometheusRegistry::AddHistogram(
    const std::string& name, const std::string& help,
    std::vector<std::string> label_names, std::vector<double> bounds) {
  auto* histograms = &prometheus::BuildHistogram()
                          .Name(name)
                          .Help(EscapedHelp(help))
                          .Register(registry_);
  return Keep(std::unique_ptr<MetricFamily>(
      new MetricFamily(std::move(label_names), nullptr, nullptr, histograms,
                       std::move(bounds))));
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
  return prometheus::TextSerializer().Serialize(registry_.Collect());
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

}  // namespace newsdedup
