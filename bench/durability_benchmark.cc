// What durability costs, printed for docs/performance.md (a benchmark, not
// a test):
//
//   build/bin/durability_benchmark [--articles 100000] [--threads 4]
//       [--restart-articles 1000000] [--corpus FILE] [--data-dir DIR]
//
// 1. Ingests the same synthetic headlines (tools/synthetic_articles.h, one
//    second apart) from several threads into three engines in turn: in
//    memory only, durable with --sync none, durable with --sync always;
//    prints articles/s of each and the ratio to memory only.
// 2. Prints the store's size on disk per article.
// 3. Fills a store with --restart-articles articles, closes it and times a
//    restart (recovery of every article, index rebuilt for the window).
#include <omp.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "services/rocksdb_store.h"
#include "tools/engine_flags.h"
#include "tools/synthetic_articles.h"

namespace newsdedup {
namespace {

struct Flags {
  int64_t articles = 100000;
  int64_t restart_articles = 1000000;
  int threads = 4;
  std::string corpus = "../shared/data/uci-news-dev.jsonl";
  std::string data_dir;  // default: a fresh directory under /tmp
};

struct Run {
  double seconds = 0;
  int64_t failed = 0;
};

// Assigns articles [0, n) from `threads` threads, each taking the next
// number; returns the wall time.
Run Ingest(ClusteringEngine* engine, const std::vector<Article>& articles,
           int threads) {
  std::atomic<int64_t> next{0}, failed{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int64_t i = next++; i < static_cast<int64_t>(articles.size());
           i = next++) {
        if (!engine->Assign(articles[i]).ok()) ++failed;
      }
    });
  }
  for (std::thread& w : workers) w.join();
  return {absl::ToDoubleSeconds(absl::Now() - start), failed.load()};
}

std::vector<Article> MakeArticles(SyntheticArticles* maker, int64_t n) {
  std::vector<Article> out;
  out.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    out.push_back(maker->Make(i, absl::FromUnixSeconds(1761091200),
                              absl::Seconds(1)));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<ClusteringEngine>> Open(
    const std::string& dir, const std::string& sync) {
  EngineFlags flags;
  if (!dir.empty()) {
    flags.store.durable = true;
    flags.store.data_dir = dir;
    flags.store.sync = sync;
    flags.store.retention_days = 0;  // keep everything
  }
  return BuildEngine(flags);
}

int RunBenchmark(const Flags& flags) {
  omp_set_num_threads(1);  // one query at a time per thread, as in serve
  auto maker = SyntheticArticles::FromJsonl(flags.corpus, /*seed=*/1);
  if (!maker.ok()) {
    std::cerr << maker.status() << "\n";
    return 1;
  }
  const std::string base =
      flags.data_dir.empty()
          ? absl::StrCat("/tmp/newsdedup-durability-", getpid())
          : flags.data_dir;
  std::filesystem::remove_all(base);

  const std::vector<Article> articles = MakeArticles(&*maker, flags.articles);
  std::cout << absl::StrFormat(
      "ingest: %d synthetic headlines, %d threads, store under %s\n",
      flags.articles, flags.threads, base);
  double memory_rate = 0;
  for (const auto& [label, sync] :
       std::vector<std::pair<std::string, std::string>>{
           {"memory only", ""}, {"durable, sync none", "none"},
           {"durable, sync always", "always"}}) {
    const std::string dir = sync.empty() ? "" : base + "/" + sync;
    auto engine = Open(dir, sync);
    if (!engine.ok()) {
      std::cerr << engine.status() << "\n";
      return 1;
    }
    const Run run = Ingest(engine->get(), articles, flags.threads);
    const double rate = flags.articles / run.seconds;
    if (sync.empty()) memory_rate = rate;
    std::cout << absl::StrFormat(
        "  %-22s %8.0f articles/s  (%.2f of memory only, %d failed)\n", label,
        rate, rate / memory_rate, run.failed);
    if (!sync.empty()) {
      engine->reset();  // closes the store
      const int64_t bytes = *StoreSizeBytes(dir);
      std::cout << absl::StrFormat(
          "  %-22s store %.1f MiB, %.0f bytes/article\n", "",
          bytes / 1048576.0, static_cast<double>(bytes) / flags.articles);
    }
  }

  if (flags.restart_articles > 0) {
    const std::string dir = base + "/restart";
    const std::vector<Article> many =
        MakeArticles(&*maker, flags.restart_articles);
    {
      auto engine = Open(dir, "none");
      if (!engine.ok()) {
        std::cerr << engine.status() << "\n";
        return 1;
      }
      const Run run = Ingest(engine->get(), many, flags.threads);
      std::cout << absl::StrFormat(
          "restart: stored %d articles in %.0f s (%.0f/s, sync none)\n",
          flags.restart_articles, run.seconds,
          flags.restart_articles / run.seconds);
    }
    const int64_t bytes = *StoreSizeBytes(dir);
    const absl::Time start = absl::Now();
    auto engine = Open(dir, "always");
    if (!engine.ok()) {
      std::cerr << engine.status() << "\n";
      return 1;
    }
    const EngineStats stats = (*engine)->stats();
    std::cout << absl::StrFormat(
        "restart: %d articles recovered in %.1f s (open to ready; "
        "recovery %.1f s), %d vectors in the window's index, "
        "store %.0f MiB = %.0f bytes/article\n",
        stats.recovered_articles, absl::ToDoubleSeconds(absl::Now() - start),
        stats.recovery_seconds, stats.indexed_vectors, bytes / 1048576.0,
        static_cast<double>(bytes) / stats.recovered_articles);
  }
  std::filesystem::remove_all(base);
  return 0;
}

}  // namespace
}  // namespace newsdedup

int main(int argc, char** argv) {
  newsdedup::Flags flags;
  CLI::App app{"Measures the throughput cost of durability and restart time"};
  app.add_option("--articles", flags.articles, "Articles per ingest run")
      ->capture_default_str();
  app.add_option("--restart-articles", flags.restart_articles,
                 "Articles stored before the timed restart (0: skip)")
      ->capture_default_str();
  app.add_option("--threads", flags.threads, "Concurrent callers")
      ->capture_default_str();
  app.add_option("--corpus", flags.corpus, "JSONL whose titles seed the articles")
      ->capture_default_str();
  app.add_option("--data-dir", flags.data_dir,
                 "Where the stores go (removed afterwards)");
  CLI11_PARSE(app, argc, argv);
  return newsdedup::RunBenchmark(flags);
}
