#include "services/server/prometheus_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace newsdedup {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(PrometheusRegistryTest, RendersCountersAndGaugesWithLabels) {
  PrometheusRegistry registry;
  MetricFamily* requests =
      registry.AddCounter("x_requests_total", "Requests.", {"method", "code"});
  // Labels are printed sorted by name.
  MetricFamily* depth = registry.AddGauge("x_depth", "Queue depth.");
  requests->Add({"Assign", "OK"}, 2);
  requests->Add({"Assign", "OK"}, 1);
  requests->Add({"Assign", "NOT_FOUND"}, 1);
  requests->Add({"Assign", "OK"}, -5);  // counters never go down
  depth->Change({}, 3);
  depth->Change({}, -1);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# HELP x_requests_total Requests.\n"
                              "# TYPE x_requests_total counter\n"));
  EXPECT_THAT(text,
              HasSubstr("x_requests_total{code=\"OK\",method=\"Assign\"} 3\n"));
  EXPECT_THAT(
      text, HasSubstr("x_requests_total{code=\"NOT_FOUND\",method=\"Assign\"} "
                      "1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE x_depth gauge\nx_depth 2\n"));
  EXPECT_EQ(requests->Value({"Assign", "OK"}), 3);
}

TEST(PrometheusRegistryTest, EscapesHelpAndLabelValues) {
  PrometheusRegistry registry;
  MetricFamily* g =
      registry.AddGauge("x_g", "Line one\nback\\slash.", {"name"});
  g->Set({"say \"hi\"\\\n"}, 1.5);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# HELP x_g Line one\\nback\\\\slash.\n"));
  EXPECT_THAT(text, HasSubstr("x_g{name=\"say \\\"hi\\\"\\\\\\n\"} 1.5\n"));
}

TEST(PrometheusRegistryTest, HistogramBucketsAreCumulative) {
  PrometheusRegistry registry;
  MetricFamily* h =
      registry.AddHistogram("x_seconds", "Latency.", {"m"}, {0.1, 1});
  h->Observe({"a"}, 0.05);
  h->Observe({"a"}, 0.5);
  h->Observe({"a"}, 5);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("x_seconds_bucket{m=\"a\",le=\"0.1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("x_seconds_bucket{m=\"a\",le=\"1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("x_seconds_bucket{m=\"a\",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("x_seconds_sum{m=\"a\"} 5.55\n"));
  EXPECT_THAT(text, HasSubstr("x_seconds_count{m=\"a\"} 3\n"));
}

TEST(PrometheusRegistryTest, CountersSetFromASourceNeverGoDown) {
  PrometheusRegistry registry;
  MetricFamily* c = registry.AddCounter("x_seen_total", "Seen.");
  c->Set({}, 5);
  c->Set({}, 7);
  c->Set({}, 3);  // e.g. a source restarted: the counter keeps 7
  EXPECT_THAT(registry.Render(), HasSubstr("x_seen_total 7\n"));
  EXPECT_EQ(c->Value({}), 7);
}

TEST(PrometheusRegistryTest, ClearedGaugeChildrenDisappear) {
  PrometheusRegistry registry;
  MetricFamily* g = registry.AddGauge("x_shard", "Per shard.", {"shard"});
  g->Set({"1"}, 10);
  g->Set({"2"}, 20);
  g->Clear();
  g->Set({"2"}, 21);
  const std::string text = registry.Render();
  EXPECT_THAT(text, Not(HasSubstr("x_shard{shard=\"1\"}")));
  EXPECT_THAT(text, HasSubstr("x_shard{shard=\"2\"} 21\n"));
  EXPECT_EQ(g->Value({"1"}), 0);
}

TEST(PrometheusRegistryTest, ScrapeHooksRunBeforeRendering) {
  PrometheusRegistry registry;
  MetricFamily* g = registry.AddGauge("x_scrapes", "Scrapes.");
  int scrapes = 0;
  registry.AddScrapeHook([&] { g->Set({}, ++scrapes); });
  EXPECT_THAT(registry.Render(), HasSubstr("x_scrapes 1\n"));
  EXPECT_THAT(registry.Render(), HasSubstr("x_scrapes 2\n"));
}

}  // namespace
}  // namespace newsdedup
