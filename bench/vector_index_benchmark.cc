// Recall and speed of one graph (HNSW) shard against exact search. Not a
// test: it prints figures for docs/performance.md.
//
//   build/bin/vector_index_benchmark --vectors 300000 --breadths 32,64,128
//
// Embeds the headlines of a labelled synthetic corpus (tools/
// synthetic_articles.h: StoryCorpus, the corpus of the scale benchmark) with
// the shipped lexical embedder, puts them all in one time shard, and for
// held-out queries compares the top k of the graph shard, at each search
// breadth, with exact float search: recall@k, search time per query, insert
// time per vector.
#include <CLI/CLI.hpp>
#include <iostream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "embeddings/lexical_embedder.h"
#include "embeddings/normalizer.h"
#include "services/index/vector_index.h"
#include "tools/quality_scores.h"
#include "tools/synthetic_articles.h"

namespace newsdedup {
namespace {

struct Flags {
  int64_t vectors = 100000;
  int queries = 500;
  int k = 10;
  int degree = VectorIndexOptions().graph_degree;
  int build_breadth = VectorIndexOptions().build_breadth;
  std::string breadths = "32,64,128";
  std::string data_dir = "../shared/data";
};

int Run(const Flags& flags) {
  auto corpus_maker =
      StoryCorpus::FromClusteringFiles(flags.data_dir, /*seed=*/7);
  auto embedder = NewLexicalEmbedder(LexicalEmbedderOptions());
  if (!corpus_maker.ok() || !embedder.ok()) {
    std::cerr << corpus_maker.status() << " " << embedder.status() << "\n";
    return 1;
  }
  const int64_t n = flags.vectors;
  const int dim = (*embedder)->dimension();
  const std::vector<LabelledArticle> corpus = corpus_maker->Generate(
      n + flags.queries, absl::FromUnixSeconds(1761091200), absl::Hours(96));
  // Queries are spread over the corpus, the rest is indexed in order.
  const int64_t stride = (n + flags.queries) / flags.queries;
  std::vector<float> vectors, queries;
  vectors.reserve(static_cast<size_t>(n) * dim);
  for (int64_t i = 0; i < static_cast<int64_t>(corpus.size()); ++i) {
    auto e = (*embedder)->Embed({*NormalizeText(corpus[i].article.title), ""},
                                EmbedMode::kObserve);
    const bool held_out = i % stride == stride / 2 &&
                          static_cast<int64_t>(queries.size()) <
                              static_cast<int64_t>(flags.queries) * dim;
    auto& to = held_out ? queries : vectors;
    to.insert(to.end(), e->dense.begin(), e->dense.end());
  }
  const int64_t indexed = static_cast<int64_t>(vectors.size()) / dim;
  const int num_queries = static_cast<int>(queries.size()) / dim;
  auto vector = [&](int64_t i) {
    return absl::Span<const float>(&vectors[static_cast<size_t>(i) * dim], dim);
  };
  auto query = [&](int q) {
    return absl::Span<const float>(&queries[static_cast<size_t>(q) * dim], dim);
  };

  auto exact = *NewTimeShardedFlatIndex(dim);
  for (int64_t i = 0; i < indexed; ++i) (void)exact->Add(i, 0, vector(i));
  std::vector<std::vector<int64_t>> truth(num_queries);  // exact top k ids
  std::vector<float> kth_score(num_queries);
  {
    // Two threads: the exact scans of a million vectors are slow.
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        for (int q = t; q < num_queries; q += 2) {
          const std::vector<Neighbor> hits =
              *exact->Search(query(q), flags.k, 0, 0);
          for (const Neighbor& h : hits) truth[q].push_back(h.id);
          kth_score[q] = hits.empty() ? 0.0f : hits.back().score;
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }
  exact.reset();
  std::cout << absl::StrFormat(
      "%d vectors of %d floats in one shard; %d queries, top %d; graph "
      "degree %d, build breadth %d\n",
      indexed, dim, num_queries, flags.k, flags.degree, flags.build_breadth);

  VectorIndexOptions options;
  options.dimension = dim;
  options.graph_degree = flags.degree;
  options.build_breadth = flags.build_breadth;
  auto graph = *NewTimeShardedIndex(options);
  absl::Time start = absl::Now();
  for (int64_t i = 0; i < indexed; ++i) (void)graph->Add(i, 0, vector(i));
  const double add_us =
      absl::ToDoubleMicroseconds(absl::Now() - start) / indexed;
  std::cout << absl::StrFormat("insert: %.1f us/vector (conversion included)\n",
                               add_us);
  for (absl::string_view text : absl::StrSplit(flags.breadths, ',')) {
    int breadth = 0;
    if (!absl::SimpleAtoi(text, &breadth) || breadth <= 0) {
      std::cerr << "bad breadth: " << text << "\n";
      return 2;
    }
    graph->SetSearchBreadth(breadth);
    std::vector<std::vector<Neighbor>> hits(num_queries);
    start = absl::Now();
    for (int q = 0; q < num_queries; ++q) {
      hits[q] = *graph->Search(query(q), flags.k, 0, 0);
    }
    const double ms =
        absl::ToDoubleMilliseconds(absl::Now() - start) / num_queries;
    NeighborRecall recall;
    for (int q = 0; q < num_queries; ++q) {
      std::vector<int64_t> hit_ids;
      std::vector<float> exact_scores;
      for (const Neighbor& h : hits[q]) {
        hit_ids.push_back(h.id);
        exact_scores.push_back(DotProduct(query(q), vector(h.id)));
      }
      recall.Add(truth[q], kth_score[q], hit_ids, exact_scores);
    }
    std::cout << absl::StrFormat(
        "search breadth %d: recall@%d %.3f (same ids %.3f), %.3f ms/query\n",
        breadth, flags.k, recall.recall(), recall.same_ids(), ms);
  }
  return 0;
}

}  // namespace
}  // namespace newsdedup

int main(int argc, char** argv) {
  newsdedup::Flags flags;
  CLI::App app{"Recall and speed of one HNSW shard against exact search"};
  app.add_option("--vectors", flags.vectors, "Vectors in the shard")
      ->capture_default_str();
  app.add_option("--queries", flags.queries, "Held-out queries")
      ->capture_default_str();
  app.add_option("--k", flags.k, "Neighbours compared")->capture_default_str();
  app.add_option("--degree", flags.degree, "Graph degree (HNSW M)")
      ->capture_default_str();
  app.add_option("--build-breadth", flags.build_breadth,
                 "Candidates kept while inserting (efConstruction)")
      ->capture_default_str();
  app.add_option("--breadths", flags.breadths,
                 "Comma-separated search breadths (efSearch) to measure")
      ->capture_default_str();
  app.add_option("--data-dir", flags.data_dir,
                 "Where the real data (vocabulary) is")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return newsdedup::Run(flags);
}
