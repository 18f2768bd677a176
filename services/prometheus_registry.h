// Metrics in the Prometheus text exposition format (version 0.0.4).
//
// Debian packages no maintained C++ Prometheus client, so this is a small
// one: counter, gauge and histogram families with labels, rendered on
// demand. Scrape hooks run before each rendering, for values that are
// cheaper to read at scrape time than to track (sizes, queue depths).
//
//   PrometheusRegistry registry;
//   MetricFamily* requests = registry.AddCounter(
//       "newsdedup_grpc_requests_total", "RPCs served.", {"method", "code"});
//   requests->Add({"Assign", "OK"}, 1);
//   std::string text = registry.Render();
//
// Thread-safe: families may be updated from any thread while rendering.
#ifndef NEWSDEDUP_SERVICES_PROMETHEUS_REGISTRY_H_
#define NEWSDEDUP_SERVICES_PROMETHEUS_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace newsdedup {

class MetricFamily {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  MetricFamily(std::string name, std::string help, Type type,
               std::vector<std::string> label_names,
               std::vector<double> bucket_bounds = {});

  // Counters: adds `value` (>= 0) to the child with these label values.
  void Add(const std::vector<std::string>& labels, double value);
  // Sets the child's value: gauges, and counters read from a source that
  // counts by itself (at scrape time).
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

  void Render(std::string* out) const;

 private:
  struct Child {
    double value = 0;  // counter / gauge
    std::vector<uint64_t>
        bucket_counts;  // histogram, per bound (not cumulative)
    uint64_t count = 0;
    double sum = 0;
  };
  Child& ChildFor(const std::vector<std::string>& labels)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const std::string help_;
  const Type type_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, Child> children_ ABSL_GUARDED_BY(mu_);
};

class PrometheusRegistry {
 public:
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

  // Every family in declaration order, in the text exposition format.
  std::string Render() const;

 private:
  MetricFamily* Add(std::unique_ptr<MetricFamily> family);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<MetricFamily>> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> hooks_ ABSL_GUARDED_BY(mu_);
};

// Latency buckets in seconds, 100 µs to 10 s.
std::vector<double> LatencyBuckets();

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_PROMETHEUS_REGISTRY_H_
