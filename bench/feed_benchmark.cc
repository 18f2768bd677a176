// What the change feed delivers, printed for docs/performance.md (a
// benchmark, not a test):
//
//   build/bin/feed_benchmark [--articles 20000] [--watchers 4]
//       [--sync none] [--corpus FILE] [--data-dir DIR]
//
// A durable engine behind a real gRPC server on 127.0.0.1:
// 1. Live: --watchers WatchClusterEvents streams follow the feed while
//    one thread assigns synthetic headlines (one second apart) as fast as
//    it can; prints the events delivered per second per watcher and the
//    latency from each change (the event's time, by the engine's wall
//    clock) to its arrival at the watcher: p50, p99, max.
// 2. Catch-up: one stream reads the whole feed from cursor 0 (older
//    events from the store, the newest from memory); prints events/s.
// 3. Ingest with and without watchers attached, as articles/s (the same
//    articles into two stores).
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "services/server/dedup_server.h"
#include "tools/engine_flags.h"
#include "tools/synthetic_articles.h"

namespace newsdedup {
namespace {

struct Flags {
  int64_t articles = 20000;
  int watchers = 4;
  std::string sync = "none";
  std::string corpus = "../shared/data/uci-news-dev.jsonl";
  std::string data_dir;  // default: a fresh directory under /tmp
};

struct Watched {
  int64_t events = 0;
  int64_t bytes = 0;               // the events' size as messages
  std::vector<double> latency_ms;  // change to arrival, per event
};

// Follows the feed from after `after` until `until` events arrived or
// `context` is cancelled, recording each event's delay and counting the
// events in `received` (if not null) as they come.
Watched Watch(v1::DedupService::Stub* stub, uint64_t after, int64_t until,
              grpc::ClientContext* context,
              std::atomic<int64_t>* received = nullptr) {
  v1::WatchClusterEventsRequest request;
  request.set_after_cursor(after);
  auto stream = stub->WatchClusterEvents(context, request);
  Watched watched;
  v1::ClusterChangeEvent event;
  while (watched.events < until && stream->Read(&event)) {
    const absl::Time arrived = absl::Now();
    const absl::Time changed = absl::FromUnixSeconds(event.time().seconds()) +
                               absl::Nanoseconds(event.time().nanos());
    watched.latency_ms.push_back(absl::ToDoubleMilliseconds(arrived - changed));
    ++watched.events;
    watched.bytes += static_cast<int64_t>(event.ByteSizeLong());
    if (received != nullptr) received->fetch_add(1);
  }
  context->TryCancel();
  stream->Finish();
  return watched;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t i =
      std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  return values[i];
}

// Assigns `articles` from one thread; returns articles/s.
double Ingest(ClusteringEngine* engine, const std::vector<Article>& articles) {
  const absl::Time start = absl::Now();
  for (const Article& a : articles) {
    if (!engine->Assign(a).ok()) {
      std::cerr << "assign failed: " << a.id << "\n";
    }
  }
  return articles.size() / absl::ToDoubleSeconds(absl::Now() - start);
}

int RunBenchmark(const Flags& flags) {
  auto maker = SyntheticArticles::FromJsonl(flags.corpus, /*seed=*/1);
  if (!maker.ok()) {
    std::cerr << maker.status() << "\n";
    return 1;
  }
  const std::string dir =
      flags.data_dir.empty()
          ? absl::StrCat("/tmp/newsdedup-feed-benchmark-", getpid())
          : flags.data_dir;
  std::filesystem::remove_all(dir);
  std::vector<Article> articles;
  for (int64_t i = 0; i < flags.articles; ++i) {
    articles.push_back(
        maker->Make(i, absl::FromUnixSeconds(1761091200), absl::Seconds(1)));
  }
  EngineFlags engine_flags;
  engine_flags.store.durable = true;
  engine_flags.store.sync = flags.sync;
  engine_flags.store.retention_days = 0;
  std::cout << absl::StrFormat(
      "feed: %d synthetic headlines, durable (sync %s) under %s\n",
      flags.articles, flags.sync, dir);

  // 3 first: the same articles into a store of their own, no watcher.
  engine_flags.store.data_dir = dir + "/quiet";
  double quiet_rate = 0;
  {
    auto quiet = BuildEngine(engine_flags);
    if (!quiet.ok()) {
      std::cerr << quiet.status() << "\n";
      return 1;
    }
    quiet_rate = Ingest(quiet->get(), articles);
  }

  engine_flags.store.data_dir = dir + "/watched";
  auto engine = BuildEngine(engine_flags);
  if (!engine.ok()) {
    std::cerr << engine.status() << "\n";
    return 1;
  }
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.shutdown_grace = absl::Seconds(1);
  auto server = DedupServer::Start(options, engine->get());
  if (!server.ok()) {
    std::cerr << server.status() << "\n";
    return 1;
  }
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                          grpc::InsecureChannelCredentials());
  auto stub = v1::DedupService::NewStub(channel);
  const uint64_t start_cursor = (*engine)->FeedCursor();

  // 1. Live watchers while the articles go in.
  std::vector<Watched> results(flags.watchers);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::atomic<int64_t>> received(flags.watchers);
  std::vector<std::thread> watchers;
  for (int w = 0; w < flags.watchers; ++w) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    watchers.emplace_back([&, w] {
      results[w] =
          Watch(stub.get(), start_cursor, std::numeric_limits<int64_t>::max(),
                contexts[w].get(), &received[w]);
    });
  }
  absl::SleepFor(absl::Milliseconds(200));  // the streams are open
  const absl::Time live_start = absl::Now();
  const double watched_rate = Ingest(engine->get(), articles);
  const int64_t live_events =
      static_cast<int64_t>((*engine)->FeedCursor() - start_cursor);
  // Every watcher has every event (or 30 s passed): hang up.
  const absl::Time drain_deadline = absl::Now() + absl::Seconds(30);
  auto drained = [&] {
    for (const std::atomic<int64_t>& r : received) {
      if (r.load() < live_events) return false;
    }
    return true;
  };
  while (!drained() && absl::Now() < drain_deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const double live_seconds = absl::ToDoubleSeconds(absl::Now() - live_start);
  for (auto& context : contexts) context->TryCancel();
  for (std::thread& t : watchers) t.join();
  std::vector<double> latencies;
  int64_t delivered = 0;
  for (const Watched& w : results) {
    latencies.insert(latencies.end(), w.latency_ms.begin(), w.latency_ms.end());
    delivered += w.events;
  }
  std::cout << absl::StrFormat(
      "live: %d events while ingesting, %d watchers each received %.0f%%; "
      "%.0f events/s per watcher\n"
      "      change to delivery: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
      live_events, flags.watchers,
      100.0 * delivered / std::max<int64_t>(1, live_events * flags.watchers),
      live_events / live_seconds, Percentile(latencies, 0.5),
      Percentile(latencies, 0.99), Percentile(latencies, 1.0));

  // 2. Catch-up from the start.
  const int64_t all_events = static_cast<int64_t>((*engine)->FeedCursor());
  grpc::ClientContext catch_up_context;
  const absl::Time catch_up_start = absl::Now();
  const Watched all = Watch(stub.get(), 0, all_events, &catch_up_context);
  const double catch_up_seconds =
      absl::ToDoubleSeconds(absl::Now() - catch_up_start);
  std::cout << absl::StrFormat(
      "catch-up: %d of %d events from cursor 0 in %.2f s: %.0f events/s\n",
      all.events, all_events, catch_up_seconds, all.events / catch_up_seconds);
  std::cout << absl::StrFormat(
      "size: %.2f events per article, %.0f bytes per event (as a message, "
      "before the store's compression)\n",
      static_cast<double>(all_events) / flags.articles,
      static_cast<double>(all.bytes) / std::max<int64_t>(1, all.events));

  // 3. What watching costs the ingest.
  std::cout << absl::StrFormat(
      "ingest: %.0f articles/s without watchers, %.0f with %d (%.2fx)\n",
      quiet_rate, watched_rate, flags.watchers, watched_rate / quiet_rate);
  (*server)->Shutdown();
  (*server)->Wait();
  server->reset();
  engine->reset();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace newsdedup

int main(int argc, char** argv) {
  newsdedup::Flags flags;
  CLI::App app("Change feed throughput and latency (docs/performance.md)");
  app.add_option("--articles", flags.articles, "Synthetic headlines")
      ->check(CLI::Range(int64_t{2}, int64_t{10000000}))
      ->capture_default_str();
  app.add_option("--watchers", flags.watchers, "Streams following the feed")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--sync", flags.sync, "The store's --sync")
      ->check(CLI::IsMember({"none", "always"}))
      ->capture_default_str();
  app.add_option("--corpus", flags.corpus, "Headlines to vary (JSONL)")
      ->capture_default_str();
  app.add_option("--data-dir", flags.data_dir,
                 "Store directory (default: a new one under /tmp, removed)");
  CLI11_PARSE(app, argc, argv);
  return newsdedup::RunBenchmark(flags);
}
