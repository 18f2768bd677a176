#include "services/index/internal/hnsw_graph.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace newsdedup {
namespace internal {
namespace {

constexpr int kDimension = 24;

std::vector<float> RandomUnitVectors(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> out(static_cast<size_t>(n) * kDimension);
  for (int i = 0; i < n; ++i) {
    float* v = &out[static_cast<size_t>(i) * kDimension];
    float norm = 0.0f;
    for (int j = 0; j < kDimension; ++j) {
      v[j] = normal(rng);
      norm += v[j] * v[j];
    }
    for (int j = 0; j < kDimension; ++j) v[j] /= std::sqrt(norm);
  }
  return out;
}

// A graph built the way a shard builds one: store the code, prepare the
// level, link it in.
class GraphTest : public ::testing::Test {
 protected:
  static constexpr int kDegree = 8;

  GraphTest() : graph_(new faiss::IndexFlatIP(kDimension), kDegree) {
    graph_.own_fields = true;
    graph_.hnsw.efConstruction = 40;
  }

  void Insert(const float* vector,
              const std::vector<ScoredVertex>* base_candidates = nullptr) {
    const FaissId vertex = graph_.ntotal;
    graph_.storage->add(1, vector);
    graph_.ntotal = graph_.storage->ntotal;
    graph_.hnsw.prepare_level_tab(1);
    if (visited_.visited.size() < static_cast<size_t>(graph_.ntotal)) {
      visited_.visited.resize(2 * graph_.ntotal);
    }
    InsertIntoGraph(graph_.hnsw, Scorer(vector), vertex, base_candidates,
                    &visited_);
  }

  FloatScorer Scorer(const float* query) const {
    return FloatScorer(
        static_cast<const faiss::IndexFlatCodes&>(*graph_.storage), query);
  }

  std::vector<ScoredVertex> Search(const float* query, int breadth) {
    return SearchGraph(graph_.hnsw, Scorer(query), breadth, &visited_);
  }

  // Share of the true k nearest that a graph search of breadth `breadth`
  // returns, over `queries`.
  double Recall(const std::vector<float>& queries, int k, int breadth) {
    const int n = static_cast<int>(graph_.ntotal);
    const int num_queries = static_cast<int>(queries.size()) / kDimension;
    int found = 0;
    for (int q = 0; q < num_queries; ++q) {
      const float* query = &queries[static_cast<size_t>(q) * kDimension];
      const FloatScorer scorer = Scorer(query);
      std::vector<ScoredVertex> exact;
      for (int v = 0; v < n; ++v) exact.push_back({scorer.Score(v), v});
      std::sort(exact.begin(), exact.end(), BetterFirst());
      std::set<FaissId> truth;
      for (int i = 0; i < k; ++i) truth.insert(exact[i].vertex);
      const std::vector<ScoredVertex> hits = Search(query, breadth);
      for (int i = 0; i < k && i < static_cast<int>(hits.size()); ++i) {
        found += truth.count(hits[i].vertex);
      }
    }
    return static_cast<double>(found) / (num_queries * k);
  }

  faiss::IndexHNSW graph_;
  faiss::VisitedTable visited_{0};
};

TEST_F(GraphTest, EmptyGraphFindsNothing) {
  const std::vector<float> query = RandomUnitVectors(1, 1);
  EXPECT_TRUE(Search(query.data(), 10).empty());
}

TEST_F(GraphTest, SearchFindsTheTrueNearestNeighbours) {
  const std::vector<float> vectors = RandomUnitVectors(3000, 2);
  for (int i = 0; i < 3000; ++i) Insert(&vectors[i * kDimension]);
  const std::vector<float> queries = RandomUnitVectors(50, 3);
  EXPECT_GE(Recall(queries, 10, 64), 0.95);
  // Each stored vector finds itself first.
  for (int v : {0, 1234, 2999}) {
    const std::vector<ScoredVertex> hits = Search(&vectors[v * kDimension], 8);
    ASSERT_FALSE(hits.empty());
    EXPECT_EQ(hits[0].vertex, v);
    EXPECT_NEAR(hits[0].score, 1.0f, 1e-5);
  }
}

TEST_F(GraphTest, LinksAreValidDistinctAndNeverToThemselves) {
  const std::vector<float> vectors = RandomUnitVectors(1500, 4);
  for (int i = 0; i < 1500; ++i) Insert(&vectors[i * kDimension]);
  const faiss::HNSW& hnsw = graph_.hnsw;
  for (FaissId v = 0; v < graph_.ntotal; ++v) {
    for (int level = 0; level < hnsw.levels[v]; ++level) {
      const auto [links, width] = LinksOf(hnsw, v, level);
      std::set<GraphLink> seen;
      size_t used = 0;
      for (size_t j = 0; j < width; ++j) {
        if (links[j] < 0) break;
        ++used;
        EXPECT_NE(links[j], v);
        EXPECT_LT(links[j], graph_.ntotal);
        EXPECT_TRUE(seen.insert(links[j]).second) << "vertex " << v;
      }
      // Unused slots are -1, all at the end.
      for (size_t j = used; j < width; ++j) EXPECT_EQ(links[j], -1);
      if (level == 0) {
        EXPECT_GT(used, 0u) << "vertex " << v;
      }
    }
  }
}

TEST_F(GraphTest, InsertFromASearchsCandidatesBuildsAsGoodAGraph) {
  const std::vector<float> vectors = RandomUnitVectors(3000, 5);
  for (int i = 0; i < 3000; ++i) {
    const float* v = &vectors[i * kDimension];
    // What a shard does: the search before the insert hands its base
    // layer candidates on.
    std::vector<ScoredVertex> candidates =
        Search(v, graph_.hnsw.efConstruction);
    Insert(v, &candidates);
  }
  const std::vector<float> queries = RandomUnitVectors(50, 6);
  EXPECT_GE(Recall(queries, 10, 64), 0.95);
}

TEST(KeepIfAmongBestTest, KeepsTheBestAndReportsWhatItKept) {
  std::vector<ScoredVertex> best;
  EXPECT_TRUE(KeepIfAmongBest(0.5f, 1, 2, &best));
  EXPECT_TRUE(KeepIfAmongBest(0.1f, 2, 2, &best));
  EXPECT_TRUE(KeepIfAmongBest(0.9f, 3, 2, &best));   // drops vertex 2
  EXPECT_FALSE(KeepIfAmongBest(0.2f, 4, 2, &best));  // worse than both
  std::sort(best.begin(), best.end(), BetterFirst());
  ASSERT_EQ(best.size(), 2u);
  EXPECT_EQ(best[0].vertex, 3);
  EXPECT_EQ(best[1].vertex, 1);
}

// A full heap takes a better vertex in one pass (it replaces the worst
// and sinks): the heap stays one that std::sort_heap accepts, and holds
// the best `most` of everything offered, ties included.
TEST(KeepIfAmongBestTest, AFullHeapKeepsTheBestOfALongStream) {
  std::mt19937 random(7);
  std::uniform_int_distribution<int> score(0, 200);  // many ties
  for (size_t most : {1u, 2u, 5u, 64u}) {
    std::vector<ScoredVertex> best;
    std::vector<float> offered;
    for (FaissId v = 0; v < 5000; ++v) {
      const float s = static_cast<float>(score(random));
      offered.push_back(s);
      KeepIfAmongBest(s, v, most, &best);
      ASSERT_TRUE(std::is_heap(best.begin(), best.end(), BetterFirst()));
    }
    std::sort(offered.begin(), offered.end(), std::greater<float>());
    offered.resize(most);
    std::sort_heap(best.begin(), best.end(), BetterFirst());
    std::vector<float> kept;
    for (const ScoredVertex& hit : best) kept.push_back(hit.score);
    EXPECT_EQ(kept, offered) << "most " << most;
  }
}

// Graph searches give the same neighbours in the same order only while
// PushHeap lays out its heaps as std::push_heap does, ties included.
TEST(PushHeapTest, BuildsTheHeapThatStdPushHeapBuilds) {
  std::mt19937 random(11);
  std::uniform_int_distribution<int> score(0, 50);  // many ties
  const auto lower = [](const ScoredVertex& a, const ScoredVertex& b) {
    return a.score < b.score;
  };
  std::vector<ScoredVertex> ours, standard;
  for (FaissId v = 0; v < 2000; ++v) {
    const float s = static_cast<float>(score(random));
    PushHeap(
        s, v, [](float a, float b) { return a > b; }, &ours);
    standard.push_back({s, v});
    std::push_heap(standard.begin(), standard.end(), lower);
    if (v % 7 == 0) {  // pops between pushes, as a search's walk does
      std::pop_heap(ours.begin(), ours.end(), lower);
      ours.pop_back();
      std::pop_heap(standard.begin(), standard.end(), lower);
      standard.pop_back();
    }
    ASSERT_EQ(ours.size(), standard.size());
    for (size_t i = 0; i < ours.size(); ++i) {
      ASSERT_EQ(ours[i].score, standard[i].score) << "push " << v;
      ASSERT_EQ(ours[i].vertex, standard[i].vertex) << "push " << v;
    }
  }
}

TEST(SelectLinksTest, KeepsDiverseDirectionsOverCloseCopies) {
  // Vertex 0 is the point being linked; 1 and 2 lie in the same direction
  // from it, 3 in another.
  faiss::IndexFlatIP storage(2);
  const float vectors[] = {1.0f, 0.0f, 0.8f, 0.6f, 0.79f, 0.61f, 0.8f, -0.6f};
  storage.add(4, vectors);
  const FloatScorer scorer(storage, vectors);
  std::vector<ScoredVertex> candidates = {
      {scorer.Score(1), 1}, {scorer.Score(2), 2}, {scorer.Score(3), 3}};
  std::sort(candidates.begin(), candidates.end(), BetterFirst());
  SelectLinks(scorer, 2, &candidates);
  ASSERT_EQ(candidates.size(), 2u);
  EXPECT_EQ(candidates[0].vertex, 1);
  EXPECT_EQ(candidates[1].vertex, 3);
}

}  // namespace
}  // namespace internal
}  // namespace newsdedup
