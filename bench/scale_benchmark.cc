// Scale benchmark: the whole pipeline at 10k, 100k and 1M articles, against
// the scikit-learn clusterer a user would otherwise write. Not a test: it
// prints the figures of docs/performance.md ("Scale").
//
//   build/bin/scale_benchmark [--sizes 10000,100000,1000000] [--threads 2]
//
// For each size: generates a labelled corpus from the words of the real
// headlines in ../shared/data (tools/synthetic_articles.h: StoryCorpus;
// stories with exact and near copies, all inside one story window), then
//  1. clusters it with the engine in memory from --threads threads, in
//     publication order: articles/s, per-article latency p50/p99, memory
//     per live article beyond its raw text (resident set growth less the
//     bytes of id, title and source), peak resident set, B-cubed F1;
//  2. measures the index's recall@10 against exact search: the same
//     embeddings in the engine's time-sharded index (8-bit codes, HNSW past
//     8,192 vectors a shard) and in exact float storage, 500 held-out
//     queries over the story window; a returned neighbour counts when its
//     exact score reaches the 10th best exact score less 0.001 (as
//     ann-benchmarks counts; exact copies tie), and the share of equal ids
//     is printed beside it;
//  3. runs bench/reference_clusterer.py (TF-IDF, cosine >= 0.5 linked,
//     connected components) on the same corpus, written as JSONL, and
//     prints the throughput ratio.
#include <omp.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "embeddings/lexical_embedder.h"
#include "embeddings/normalizer.h"
#include "nlohmann/json.hpp"
#include "services/engine/engine.h"
#include "services/index/vector_index.h"
#include "tools/article_jsonl.h"
#include "tools/quality_scores.h"
#include "tools/synthetic_articles.h"

namespace newsdedup {
namespace {

struct Flags {
  std::string sizes = "10000,100000,1000000";
  int threads = 2;
  std::string data_dir = "../shared/data";
  std::string reference = "bench/reference_clusterer.py";
  double reference_seconds = 300;
  int recall_queries = 500;
  // Where to keep each size's corpus as JSONL (corpus-N.jsonl), the file a
  // batch user would cluster with `newsdedup cluster`; empty: not kept.
  std::string write_corpus;
  // Words of a detected or given language also read as their English
  // translations (the shipped default); off: the same runs without the
  // FreeDict dictionaries, for comparing memory.
  bool translations = true;
};

LexicalEmbedderOptions EmbedderOptions(const Flags& flags) {
  LexicalEmbedderOptions options;
  if (!flags.translations) options.translation_weight = 0;
  return options;
}

// Resident set size of this process, from /proc/self/statm.
int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

int64_t PeakResidentBytes() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

int64_t NumStories(const std::vector<LabelledArticle>& corpus) {
  int64_t most = -1;
  for (const LabelledArticle& a : corpus) most = std::max(most, a.story);
  return most + 1;
}

// Clusters the corpus; prints throughput, latency, memory and F1.
void RunEngine(const std::vector<LabelledArticle>& corpus, const Flags& flags) {
  const int threads = flags.threads;
  const int64_t n = static_cast<int64_t>(corpus.size());
  int64_t raw_text = 0;
  for (const LabelledArticle& a : corpus) {
    raw_text +=
        a.article.id.size() + a.article.title.size() + a.article.source.size();
  }
  const int64_t rss_before = ResidentBytes();
  auto engine = *ClusteringEngine::Create(
      EngineOptions(), *NewLexicalEmbedder(EmbedderOptions(flags)));
  std::vector<double> latency_ms(n);
  std::atomic<int64_t> next{0}, failed{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int64_t i = next++; i < n; i = next++) {
        const absl::Time s = absl::Now();
        if (!engine->Assign(corpus[i].article).ok()) ++failed;
        latency_ms[i] = absl::ToDoubleMilliseconds(absl::Now() - s);
      }
    });
  }
  for (std::thread& w : workers) w.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const int64_t rss_after = ResidentBytes();
  const EngineStats stats = engine->stats();

  std::vector<int64_t> gold, predicted;
  absl::flat_hash_map<std::string, int64_t> cluster_number;
  for (const LabelledArticle& a : corpus) {
    auto c = engine->ClusterOfArticle(a.article.id);
    if (!c.ok()) continue;
    gold.push_back(a.story);
    predicted.push_back(
        cluster_number.try_emplace(*c, cluster_number.size()).first->second);
  }
  const BCubed b3 = BCubedScores(gold, predicted);
  std::cout << absl::StrFormat(
      "  newsdedup: %.0f articles/s (%d threads, %d failed); latency p50 "
      "%.2f ms, p99 %.2f ms; %d live articles, %d in the index\n",
      n / seconds, threads, failed.load(), Percentile(&latency_ms, 0.5),
      Percentile(&latency_ms, 0.99), stats.articles, stats.indexed_vectors);
  std::cout << absl::StrFormat(
      "  memory: +%.0f MiB resident = %.0f bytes/article beyond %.0f bytes "
      "of raw text; peak resident %.0f MiB (corpus included)\n",
      (rss_after - rss_before) / 1048576.0,
      static_cast<double>(rss_after - rss_before - raw_text) / n,
      static_cast<double>(raw_text) / n, PeakResidentBytes() / 1048576.0);
  std::cout << absl::StrFormat(
      "  quality: B-cubed F1 %.3f (P %.3f, R %.3f); %d stories found, %d "
      "true\n",
      b3.f1, b3.precision, b3.recall, stats.live_clusters, NumStories(corpus));
}

// Recall@10 of the engine's index structure against exact search.
void RunRecall(const std::vector<LabelledArticle>& corpus, const Flags& flags) {
  const int queries = flags.recall_queries;
  auto embedder = *NewLexicalEmbedder(EmbedderOptions(flags));
  const EngineOptions engine_options;
  const absl::Duration width =
      std::max(absl::Hours(1), engine_options.story_window);  // as the engine
  auto bucket_of = [&](absl::Time t) {
    return absl::ToInt64Seconds(t - absl::UnixEpoch()) /
           absl::ToInt64Seconds(width);
  };
  VectorIndexOptions options;
  options.dimension = embedder->dimension();
  options.exact_limit = engine_options.exact_search_limit;
  options.search_breadth = engine_options.index_search_breadth;
  auto approximate = *NewTimeShardedIndex(options);
  auto exact = *NewTimeShardedFlatIndex(embedder->dimension());
  const int64_t n = static_cast<int64_t>(corpus.size());
  if (queries <= 0) return;
  const int64_t stride = std::max<int64_t>(1, n / queries);
  const int dim = embedder->dimension();
  std::vector<float> vectors(static_cast<size_t>(n) * dim);
  std::vector<std::pair<std::vector<float>, absl::Time>> held_out;
  for (int64_t i = 0; i < n; ++i) {
    const Article& a = corpus[i].article;
    auto e =
        embedder->Embed({*NormalizeText(a.title), ""}, EmbedMode::kObserve);
    if (i % stride == stride / 2) {
      held_out.emplace_back(e->dense, a.published);
      continue;
    }
    std::copy(e->dense.begin(), e->dense.end(), &vectors[i * dim]);
    (void)approximate->Add(i, bucket_of(a.published), e->dense);
    (void)exact->Add(i, bucket_of(a.published), e->dense);
  }
  NeighborRecall recall;
  for (const auto& [query, t] : held_out) {
    const int64_t lo = bucket_of(t - engine_options.story_window);
    const int64_t hi = bucket_of(t + engine_options.story_window);
    // Named results: a range-for over *StatusOr of a temporary dangles.
    const std::vector<Neighbor> truth = *exact->Search(query, 10, lo, hi);
    const std::vector<Neighbor> hits = *approximate->Search(query, 10, lo, hi);
    if (truth.empty()) continue;
    std::vector<int64_t> truth_ids, hit_ids;
    std::vector<float> exact_scores;
    for (const Neighbor& h : truth) truth_ids.push_back(h.id);
    for (const Neighbor& h : hits) {
      hit_ids.push_back(h.id);
      exact_scores.push_back(
          DotProduct(query, absl::MakeConstSpan(&vectors[h.id * dim], dim)));
    }
    recall.Add(truth_ids, truth.back().score, hit_ids, exact_scores);
  }
  std::cout << absl::StrFormat(
      "  index: recall@10 %.3f against exact search (ids equal: %.3f; %d "
      "held-out queries, %d shards)\n",
      recall.recall(), recall.same_ids(), held_out.size(),
      approximate->num_shards());
}

// Writes the corpus as the JSONL that `newsdedup cluster` and the reference
// read, with each article's gold story; false (and a line on stderr) when
// the file could not be written whole.
bool WriteCorpus(const std::vector<LabelledArticle>& corpus,
                 const std::string& path) {
  std::ofstream out(path);
  for (const LabelledArticle& a : corpus) {
    out << nlohmann::json{{"id", a.article.id},
                          {"title", a.article.title},
                          {"published",
                           newsdedup::FormatTime(a.article.published)},
                          {"story", a.story}}
               .dump()
        << "\n";
  }
  out.close();
  if (out.fail()) {
    std::cerr << "scale_benchmark: cannot write " << path << "\n";
    return false;
  }
  return true;
}

// Runs the scikit-learn reference on the corpus; returns its articles/s.
double RunReference(const Flags& flags,
                    const std::vector<LabelledArticle>& corpus) {
  const std::string path =
      absl::StrCat("/tmp/newsdedup-scale-", getpid(), ".jsonl");
  if (!WriteCorpus(corpus, path)) return 0;
  const std::string command =
      absl::StrCat("/usr/bin/python3 ", flags.reference, " ", path,
                   " --max-seconds ", flags.reference_seconds, " 2>&1");
  std::string output;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[4096];
    while (fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
    pclose(pipe);
  }
  std::remove(path.c_str());
  std::cout << "  " << output;
  double rate = 0;
  const size_t at = output.find("articles/s=");
  if (at != std::string::npos) {
    const std::string rest = output.substr(at + 11);
    (void)absl::SimpleAtod(rest.substr(0, rest.find(' ')), &rate);
  }
  return rate;
}

int Run(const Flags& flags) {
  omp_set_num_threads(1);  // parallelism comes from the caller threads
  auto corpus_maker =
      StoryCorpus::FromClusteringFiles(flags.data_dir, /*seed=*/7);
  if (!corpus_maker.ok()) {
    std::cerr << corpus_maker.status() << "\n";
    return 1;
  }
  for (absl::string_view size_text : absl::StrSplit(flags.sizes, ',')) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(size_text, &n) || n <= 0) {
      std::cerr << "bad size: " << size_text << "\n";
      return 2;
    }
    // Everything inside one story window: starts over 4 days, stories last
    // up to 36 hours.
    const std::vector<LabelledArticle> corpus = corpus_maker->Generate(
        n, absl::FromUnixSeconds(1761091200), absl::Hours(96));
    std::cout << absl::StrFormat("%d articles in %d stories:\n", n,
                                 NumStories(corpus));
    if (!flags.write_corpus.empty()) {
      const std::string path =
          absl::StrCat(flags.write_corpus, "/corpus-", n, ".jsonl");
      if (!WriteCorpus(corpus, path)) return 1;
      std::cout << "  corpus written to " << path << "\n";
    }
    absl::Time start = absl::Now();
    RunEngine(corpus, flags);
    const double ours = n / absl::ToDoubleSeconds(absl::Now() - start);
    RunRecall(corpus, flags);
    if (!flags.reference.empty()) {
      const double reference = RunReference(flags, corpus);
      if (reference > 0) {
        std::cout << absl::StrFormat(
            "  ratio: newsdedup %.1fx the reference's articles/s (wall "
            "time, clustering and scoring)\n",
            ours / reference);
      }
    }
    std::cout.flush();
  }
  return 0;
}

}  // namespace
}  // namespace newsdedup

int main(int argc, char** argv) {
  newsdedup::Flags flags;
  CLI::App app{
      "Scale benchmark: throughput, latency, memory, recall and "
      "F1 at growing sizes, against a scikit-learn reference"};
  app.add_option("--sizes", flags.sizes, "Comma-separated corpus sizes")
      ->capture_default_str();
  app.add_option("--threads", flags.threads, "Engine caller threads")
      ->capture_default_str();
  app.add_option("--data-dir", flags.data_dir,
                 "Where the real data (vocabulary) is")
      ->capture_default_str();
  app.add_option("--reference", flags.reference,
                 "Reference clusterer script (empty: skip)")
      ->capture_default_str();
  app.add_option("--reference-seconds", flags.reference_seconds,
                 "Time budget of the reference per size")
      ->capture_default_str();
  app.add_flag("--translations,!--no-translations", flags.translations,
               "Read words of a detected or given language also as their "
               "English translations (FreeDict), as shipped")
      ->capture_default_str();
  app.add_option("--recall-queries", flags.recall_queries,
                 "Held-out queries for recall@10")
      ->capture_default_str();
  app.add_option("--write-corpus", flags.write_corpus,
                 "Also write each size's corpus to DIR/corpus-N.jsonl (the "
                 "file to time `newsdedup cluster` and the reference on)");
  CLI11_PARSE(app, argc, argv);
  return newsdedup::Run(flags);
}
