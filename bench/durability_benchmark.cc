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
// 3. Writes --restart-articles articles straight into a store (as the
//    engine leaves them, in stories of 20) and times a restart: every
//    article read back and embedded, the index rebuilt for the window;
//    then the clean stop, which writes the index snapshot, and a second
//    restart, which reads the graphs from it instead of building them.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "embeddings/lexical_embedder.h"
#include "services/storage/rocksdb_store.h"
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
    out.push_back(
        maker->Make(i, absl::FromUnixSeconds(1761091200), absl::Seconds(1)));
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

// Articles per story in FillStore.
constexpr int64_t kStorySize = 20;

// Writes `n` synthetic articles (one second apart, in stories of
// kStorySize) straight into a new store, the way the engine would have
// left them, without clustering them first: what a restart reads back is
// the same, and filling takes seconds instead of the engine's time.
absl::Status FillStore(const std::string& dir, SyntheticArticles* maker,
                       int64_t n) {
  auto embedder = NewLexicalEmbedder(LexicalEmbedderOptions());
  if (!embedder.ok()) return embedder.status();
  RocksDbStoreOptions options;
  options.path = dir;
  options.sync = SyncPolicy::kNone;
  options.embedder_fingerprint = (*embedder)->fingerprint();
  auto store = OpenRocksDbStore(options);
  if (!store.ok()) return store.status();
  constexpr int64_t kBatch = 1000;
  const absl::Time start = absl::FromUnixSeconds(1761091200);
  uint64_t ticket = 0;
  for (int64_t first = 0; first < n; first += kBatch) {
    EngineStore::Batch batch;
    for (int64_t i = first; i < std::min(n, first + kBatch); ++i) {
      const Article a = maker->Make(i, start, absl::Seconds(1));
      const int64_t story = i / kStorySize;
      storage::v1::StoredArticle* out = &batch.put_articles.emplace_back();
      out->set_seq(i);
      out->set_id(a.id);
      out->set_title(a.title);
      out->set_source(a.source);
      out->set_dated(true);
      out->set_published_unix_nanos(absl::ToUnixNanos(a.published));
      out->set_cluster(story);
      out->mutable_answer()->set_cluster_id(absl::StrCat("story-", story + 1));
      out->mutable_answer()->set_relation(
          i % kStorySize == 0 ? storage::v1::StoredAnswer::NEW_STORY
                              : storage::v1::StoredAnswer::SAME_STORY);
      out->mutable_answer()->set_version(1);
      if (i % kStorySize == 0) {
        storage::v1::StoredCluster* c = &batch.put_clusters.emplace_back();
        c->set_number(story);
        c->set_id(absl::StrCat("story-", story + 1));
        c->set_merged_into(-1);
        c->set_representative_seq(i);
        c->set_dated(true);
        c->set_first_seen_unix_nanos(absl::ToUnixNanos(a.published));
        c->set_last_seen_unix_nanos(
            absl::ToUnixNanos(a.published + absl::Seconds(kStorySize - 1)));
      }
      batch.meta.set_next_seq(i + 1);
      batch.meta.set_has_newest(true);
      batch.meta.set_newest_unix_nanos(absl::ToUnixNanos(a.published));
    }
    ticket = (*store)->Stage(std::move(batch));
  }
  return (*store)->WaitDurable(ticket);
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
           {"memory only", ""},
           {"durable, sync none", "none"},
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
          "  %-22s store %.1f MiB, %.0f bytes/article\n", "", bytes / 1048576.0,
          static_cast<double>(bytes) / flags.articles);
    }
  }

  if (flags.restart_articles > 0) {
    const std::string dir = base + "/restart";
    const absl::Time fill_start = absl::Now();
    if (absl::Status filled = FillStore(dir, &*maker, flags.restart_articles);
        !filled.ok()) {
      std::cerr << filled << "\n";
      return 1;
    }
    const int64_t bytes = *StoreSizeBytes(dir);
    std::cout << absl::StrFormat(
        "restart: wrote %d articles in %d stories straight into a store in "
        "%.0f s; %.0f MiB = %.0f bytes/article\n",
        flags.restart_articles, flags.restart_articles / kStorySize,
        absl::ToDoubleSeconds(absl::Now() - fill_start), bytes / 1048576.0,
        static_cast<double>(bytes) / flags.restart_articles);
    // The first start builds the graphs; its clean stop leaves them in a
    // snapshot, which the second start reads instead.
    for (const char* start_kind : {"graphs built", "graphs from snapshot"}) {
      const absl::Time start = absl::Now();
      auto engine = Open(dir, "always");
      if (!engine.ok()) {
        std::cerr << engine.status() << "\n";
        return 1;
      }
      const EngineStats stats = (*engine)->stats();
      std::cout << absl::StrFormat(
          "restart (%s): %d articles recovered in %.1f s (open to ready; "
          "recovery %.1f s), %d live stories, %d vectors in the window's "
          "index, %d from the snapshot%s\n",
          start_kind, stats.recovered_articles,
          absl::ToDoubleSeconds(absl::Now() - start), stats.recovery_seconds,
          stats.live_clusters, stats.indexed_vectors, stats.snapshot_vectors,
          stats.snapshot_refused.empty()
              ? ""
              : absl::StrCat(" (snapshot refused: ", stats.snapshot_refused,
                             ")"));
      const absl::Time stop = absl::Now();
      engine->reset();
      std::cout << absl::StrFormat("stop: %.1f s (writes the index snapshot)\n",
                                   absl::ToDoubleSeconds(absl::Now() - stop));
    }
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
  app.add_option("--corpus", flags.corpus,
                 "JSONL whose titles seed the articles")
      ->capture_default_str();
  app.add_option("--data-dir", flags.data_dir,
                 "Where the stores go (removed afterwards)");
  CLI11_PARSE(app, argc, argv);
  return newsdedup::RunBenchmark(flags);
}
