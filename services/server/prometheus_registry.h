// The server's Prometheus metrics: a small front over prometheus-cpp
// (Debian's prometheus-cpp-dev 1.0.1), which keeps the values and writes
// the text exposition format.
//
// The front adds what the server needs and prometheus-cpp does not have:
// label values given positionally (the names are declared once, with the
// family), counters set from a source that counts by itself (engine
// statistics read at scrape time), and scrape hooks that refresh such
// values before each rendering.
//
//   PrometheusRegistry registry;
//   MetricFamily* requests = registry.AddCounter(
//       "newsdedup_grpc_requests_total", "RPCs served.",
//       {"grpc_method", "grpc_code"});
//   requests->Add({"Assign", "OK"}, 1);
//   std::string text = registry.Render();
//
// Thread-safe: families may be updated from any thread while rendering.
#ifndef NEWSDEDUP_SERVICES_SERVER_PROMETHEUS_REGISTRY_H_
#define NEWSDEDUP_SERVICES_SERVER_PROMETHEUS_REGISTRY_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/labels.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace newsdedup {

// One metric family: a name, its label names and one child per set of
// label values. Label values are given in the order of the names.
class MetricFamily {
 public:
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

  // Counters: adds `value` (ignored unless > 0) to the child.
  void Add(const std::vector<std::string>& labels, double value);
  // Gauges: sets the child's value. Counters: sets the value read from a
  // source that counts by itself; a value below the last is ignored, so the
  // counter never goes down.
  void Set(const std::vector<std::string>& labels, double value);
  // Gauges: adds `delta` (may be negative).
  void Change(const std::vector<std::string>& labels, double delta);
  // Gauges: removes every child (before setting the current set again).
  void Clear();
  // Histograms: counts one observation.
  void Observe(const std::vector<std::string>& labels, double value);

  // The child's value (counters, gauges) or observation count
  // (histograms); 0 for a child never touched. For tests.
  double Value(const std::vector<std::string>& labels) const;

 private:
  friend class PrometheusRegistry;

  MetricFamily(std::vector<std::string> label_names,
               prometheus::Family<prometheus::Counter>* counters,
               prometheus::Family<prometheus::Gauge>* gauges,
               prometheus::Family<prometheus::Histogram>* histograms,
               std::vector<double> bounds);

  prometheus::Labels Named(const std::vector<std::string>& values) const;

  const std::vector<std::string> label_names_;
  // Exactly one is set; the registry owns the families.
  prometheus::Family<prometheus::Counter>* const counters_;
  prometheus::Family<prometheus::Gauge>* const gauges_;
  prometheus::Family<prometheus::Histogram>* const histograms_;
  const std::vector<double> bounds_;

  // Gauge children added since the last Clear().
  absl::Mutex mu_;
  std::set<std::vector<std::string>> gauge_children_ ABSL_GUARDED_BY(mu_);
};

class PrometheusRegistry {
 public:
  PrometheusRegistry();
  ~PrometheusRegistry();

  // Each Add* declares a family; names must be unique, valid Prometheus
  // names (counters end in _total by convention).
  MetricFamily* AddCounter(const std::string& name, const std::string& help,
                           std::vector<std::string> label_names = {});
  MetricFamily* AddGauge(const std::string& name, const std::string& help,
                         std::vector<std::string> label_names = {});
  // `bounds`: increasing upper bounds of the buckets (+Inf is implied).
  MetricFamily* AddHistogram(const std::string& name, const std::string& help,
                             std::vector<std::string> label_names,
                             std::vector<double> bounds);

  // Runs before every Render(), e.g. to refresh gauges.
  void AddScrapeHook(std::function<void()> hook);

  // Every family, in the text exposition format (version 0.0.4).
  std::string Render() const;

 private:
  MetricFamily* Keep(std::unique_ptr<MetricFamily> family);

  prometheus::Registry registry_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<MetricFamily>> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> hooks_ ABSL_GUARDED_BY(mu_);
};

// Latency buckets in seconds, 100 µs to 10 s.
std::vector<double> LatencyBuckets();

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_PROMETHEUS_REGISTRY_H_
