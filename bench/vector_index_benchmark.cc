// Recall and speed of the graph (HNSW) shards against exact search, on real
// embeddings. Not a test: it prints figures for docs/performance.md.
//
//   build/bin/vector_index_benchmark ../shared/data/uci-news-dev.jsonl 50000
//
// Embeds synthetic headlines (a real title plus three words drawn from the
// corpus, so that there are as many as asked) with the shipped lexical
// embedder, puts them all in one time shard, and for 500 held-out queries
// compares the top 24 of the graph shard, at several search breadths, with
// exact search.
#include <iostream>
#include <random>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "embeddings/lexical_embedder.h"
#include "embeddings/normalizer.h"
#include "services/vector_index.h"
#include "tools/synthetic_articles.h"

namespace newsdedup {
namespace {

int Run(const std::string& corpus, int n) {
  auto synthetic = SyntheticArticles::FromJsonl(corpus, /*seed=*/1);
  if (!synthetic.ok()) {
    std::cerr << synthetic.status() << "\n";
    return 1;
  }
  auto embedder = NewLexicalEmbedder(LexicalEmbedderOptions());
  if (!embedder.ok()) {
    std::cerr << embedder.status() << "\n";
    return 1;
  }
  constexpr int kQueries = 500;
  constexpr int kK = 24;
  const int dim = (*embedder)->dimension();
  std::vector<float> vectors;
  vectors.reserve(static_cast<size_t>(n + kQueries) * dim);
  for (int i = 0; i < n + kQueries; ++i) {
    auto text = NormalizeText(synthetic->MakeTitle());
    auto e = (*embedder)->Embed({*text, ""}, EmbedMode::kObserve);
    vectors.insert(vectors.end(), e->dense.begin(), e->dense.end());
  }
  auto query = [&](int q) {
    return absl::Span<const float>(&vectors[static_cast<size_t>(n + q) * dim],
                                   dim);
  };

  auto exact = *NewTimeShardedFlatIndex(dim);
  for (int i = 0; i < n; ++i) {
    (void)exact->Add(i, 0,
                     absl::Span<const float>(&vectors[size_t(i) * dim], dim));
  }
  std::vector<absl::flat_hash_set<int64_t>> truth(kQueries);
  absl::Time start = absl::Now();
  for (int q = 0; q < kQueries; ++q) {
    const std::vector<Neighbor> hits = *exact->Search(query(q), kK, 0, 0);
    for (const Neighbor& h : hits) truth[q].insert(h.id);
  }
  const double exact_ms =
      absl::ToDoubleMilliseconds(absl::Now() - start) / kQueries;
  std::cout << absl::StrFormat(
      "%d vectors of %d floats in one shard; %d queries, top %d\n", n, dim,
      kQueries, kK);
  std::cout << absl::StrFormat("exact: %.3f ms/query\n", exact_ms);

  for (int breadth : {16, 32, 64, 128}) {
    VectorIndexOptions options;
    options.dimension = dim;
    options.search_breadth = breadth;
    auto graph = *NewTimeShardedIndex(options);
    start = absl::Now();
    for (int i = 0; i < n; ++i) {
      (void)graph->Add(i, 0,
                       absl::Span<const float>(&vectors[size_t(i) * dim], dim));
    }
    const double add_us = absl::ToDoubleMicroseconds(absl::Now() - start) / n;
    int64_t found = 0, total = 0;
    start = absl::Now();
    for (int q = 0; q < kQueries; ++q) {
      const std::vector<Neighbor> hits = *graph->Search(query(q), kK, 0, 0);
      for (const Neighbor& h : hits) found += truth[q].contains(h.id);
      total += truth[q].size();
    }
    const double ms =
        absl::ToDoubleMilliseconds(absl::Now() - start) / kQueries;
    std::cout << absl::StrFormat(
        "graph shard (HNSW, degree %d), search breadth %d: recall@%d=%.3f  "
        "%.3f ms/query  add %.1f us/vector (conversion included)\n",
        options.graph_degree, breadth, kK, static_cast<double>(found) / total,
        ms, add_us);
  }
  return 0;
}

}  // namespace
}  // namespace newsdedup

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: vector_index_benchmark CORPUS.jsonl NUM_VECTORS\n";
    return 2;
  }
  return newsdedup::Run(argv[1], std::atoi(argv[2]));
}
