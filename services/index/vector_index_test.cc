#include "services/index/vector_index.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "services/index/internal/vector_codec.h"

namespace newsdedup {
namespace {

// A random direction in `dimension` dimensions, L2-normalised.
std::vector<float> RandomUnitVector(int dimension, std::mt19937* rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(dimension);
  float norm = 0;
  for (float& x : v) {
    x = normal(*rng);
    norm += x * x;
  }
  for (float& x : v) x /= std::sqrt(norm);
  return v;
}

// `n` random unit vectors from a generator seeded with `seed`.
std::vector<std::vector<float>> RandomUnitVectors(int n, int dimension,
                                                  uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<float>> vectors;
  for (int i = 0; i < n; ++i) {
    vectors.push_back(RandomUnitVector(dimension, &rng));
  }
  return vectors;
}

// An index whose shards become graphs past `exact_limit` vectors.
std::unique_ptr<VectorIndex> GraphIndex(int dimension, int64_t exact_limit) {
  VectorIndexOptions options;
  options.dimension = dimension;
  options.exact_limit = exact_limit;
  return *NewTimeShardedIndex(options);
}

constexpr int kDim = 8;

// A unit vector with weight on axes `a` and `b`.
std::vector<float> Unit(int a, int b = -1, float wb = 0.0f) {
  std::vector<float> v(kDim, 0.0f);
  v[a] = 1.0f;
  if (b >= 0) v[b] = wb;
  float norm = 0;
  for (float x : v) norm += x * x;
  for (float& x : v) x /= std::sqrt(norm);
  return v;
}

TEST(VectorIndexTest, RejectsNonPositiveDimension) {
  EXPECT_EQ(NewTimeShardedFlatIndex(0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(VectorIndexTest, RejectsWrongLength) {
  auto index = *NewTimeShardedFlatIndex(kDim);
  std::vector<float> short_vector(kDim - 1, 0.1f);
  EXPECT_EQ(index->Add(1, 0, short_vector).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index->Search(short_vector, 3, 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index->size(), 0);
}

TEST(VectorIndexTest, FindsNearestAcrossShardsBestFirst) {
  auto index = *NewTimeShardedFlatIndex(kDim);
  ASSERT_TRUE(index->Add(10, 0, Unit(0)).ok());
  ASSERT_TRUE(index->Add(11, 1, Unit(0, 1, 0.5f)).ok());
  ASSERT_TRUE(index->Add(12, 2, Unit(3)).ok());
  EXPECT_EQ(index->size(), 3);
  EXPECT_EQ(index->num_shards(), 3);

  auto hits = index->Search(Unit(0), 2, 0, 2);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].id, 10);
  EXPECT_NEAR((*hits)[0].score, 1.0f, 1e-5);
  EXPECT_EQ((*hits)[1].id, 11);
  EXPECT_GT((*hits)[0].score, (*hits)[1].score);
}

TEST(VectorIndexTest, SearchHonoursBucketRangeAndTimelessBucket) {
  auto index = *NewTimeShardedFlatIndex(kDim);
  ASSERT_TRUE(index->Add(1, 5, Unit(0)).ok());
  ASSERT_TRUE(index->Add(2, 9, Unit(0)).ok());
  ASSERT_TRUE(index->Add(3, VectorIndex::kTimelessBucket, Unit(0)).ok());
  auto hits = index->Search(Unit(0), 10, 8, 10);
  ASSERT_TRUE(hits.ok());
  std::vector<int64_t> ids;
  for (const Neighbor& n : *hits) ids.push_back(n.id);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<int64_t>{2, 3}));
}

TEST(VectorIndexTest, DropsWholeBucketsButKeepsTimeless) {
  auto index = *NewTimeShardedFlatIndex(kDim);
  ASSERT_TRUE(index->Add(1, 1, Unit(0)).ok());
  ASSERT_TRUE(index->Add(2, 1, Unit(1)).ok());
  ASSERT_TRUE(index->Add(3, 2, Unit(2)).ok());
  ASSERT_TRUE(index->Add(4, VectorIndex::kTimelessBucket, Unit(3)).ok());
  EXPECT_EQ(index->DropBucketsBefore(2), 2);
  EXPECT_EQ(index->size(), 2);
  auto hits = index->Search(Unit(0), 10, 0, 100);
  ASSERT_TRUE(hits.ok());
  for (const Neighbor& n : *hits) EXPECT_NE(n.id, 1);
  EXPECT_EQ(hits->size(), 2u);
}

TEST(VectorIndexTest, RemovesAndRelabelsSingleVectors) {
  auto index = *NewTimeShardedFlatIndex(kDim);
  ASSERT_TRUE(index->Add(1, 0, Unit(0)).ok());
  ASSERT_TRUE(index->Add(2, 0, Unit(1)).ok());
  EXPECT_TRUE(*index->Remove(1, 0));
  EXPECT_FALSE(*index->Remove(1, 0));  // already gone
  EXPECT_FALSE(*index->Remove(2, 7));  // wrong bucket
  EXPECT_EQ(index->size(), 1);
  auto hits = *index->Search(Unit(0), 5, 0, 0);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 2);

  EXPECT_TRUE(index->Relabel(2, 9, 0));
  EXPECT_FALSE(index->Relabel(2, 9, 0));
  hits = *index->Search(Unit(1), 5, 0, 0);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 9);
}

// A shard past its exact limit becomes a graph index: every vector is still
// found by itself, and removal and relabelling keep working.
TEST(VectorIndexTest, LargeShardTurnsIntoGraphAndKeepsWorking) {
  auto index = GraphIndex(16, /*exact_limit=*/200);
  const std::vector<std::vector<float>> vectors = RandomUnitVectors(300, 16, 7);
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(index->Add(1000 + i, 3, vectors[i]).ok());
  }
  EXPECT_EQ(index->size(), 300);
  for (int i : {0, 150, 250, 299}) {
    auto hits = *index->Search(vectors[i], 1, 3, 3);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].id, 1000 + i);
    EXPECT_NEAR(hits[0].score, 1.0f, 5e-3);  // 8-bit codes
  }
  EXPECT_TRUE(*index->Remove(1000, 3));
  EXPECT_FALSE(*index->Remove(1000, 3));
  EXPECT_EQ(index->size(), 299);
  auto hits = *index->Search(vectors[0], 5, 3, 3);
  EXPECT_EQ(hits.size(), 5u);
  for (const Neighbor& h : hits) EXPECT_NE(h.id, 1000);
  EXPECT_TRUE(index->Relabel(1150, 42, 3));
  EXPECT_FALSE(index->Relabel(1000, 43, 3));  // removed
  EXPECT_EQ((*index->Search(vectors[150], 1, 3, 3))[0].id, 42);
  // Vectors added after the conversion are found too.
  ASSERT_TRUE(index->Add(5000, 3, vectors[7]).ok());
  hits = *index->Search(vectors[7], 2, 3, 3);
  std::vector<int64_t> ids = {hits[0].id, hits[1].id};
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<int64_t>{1007, 5000}));
}

// Share of exact top-10 neighbours that `index` finds for `queries`.
double RecallAt10(const VectorIndex& index, const VectorIndex& exact,
                  const std::vector<std::vector<float>>& queries) {
  int found = 0, total = 0;
  for (const std::vector<float>& q : queries) {
    const std::vector<Neighbor> truth = *exact.Search(q, 10, 0, 0);
    const std::vector<Neighbor> hits = *index.Search(q, 10, 0, 0);
    for (const Neighbor& t : truth) {
      total += 1;
      for (const Neighbor& h : hits) found += h.id == t.id;
    }
  }
  return static_cast<double>(found) / total;
}

TEST(VectorIndexTest, GraphFindsWhatExactSearchFinds) {
  // Clustered data, like stories: 200 centres, members near them.
  constexpr int kDimension = 32;
  std::mt19937 rng(11);
  std::vector<std::vector<float>> centres;
  for (int c = 0; c < 200; ++c) {
    centres.push_back(RandomUnitVector(kDimension, &rng));
  }
  std::vector<std::vector<float>> vectors, queries;
  for (int i = 0; i < 6000; ++i) {
    std::vector<float> v = RandomUnitVector(kDimension, &rng);
    const std::vector<float>& centre = centres[rng() % centres.size()];
    float norm = 0;
    for (int d = 0; d < kDimension; ++d) {
      v[d] = centre[d] + 0.5f * v[d];
      norm += v[d] * v[d];
    }
    for (float& x : v) x /= std::sqrt(norm);
    (i % 30 == 0 ? queries : vectors).push_back(v);
  }
  auto plain = GraphIndex(kDimension, /*exact_limit=*/256);
  auto hinted = GraphIndex(kDimension, /*exact_limit=*/256);
  auto exact = *NewTimeShardedFlatIndex(kDimension);
  for (size_t i = 0; i < vectors.size(); ++i) {
    ASSERT_TRUE(plain->Add(i, 0, vectors[i]).ok());
    ASSERT_TRUE(exact->Add(i, 0, vectors[i]).ok());
    // As the engine adds: search first, then link by what it found.
    InsertHint hint;
    ASSERT_TRUE(hinted->SearchBeforeAdd(vectors[i], 10, 0, 0, 0, &hint).ok());
    ASSERT_TRUE(hinted->Add(i, 0, vectors[i], hint).ok());
  }
  EXPECT_GE(RecallAt10(*plain, *exact, queries), 0.95);
  EXPECT_GE(RecallAt10(*hinted, *exact, queries), 0.95);
  // A narrow search finds less; the breadth is what buys recall.
  plain->SetSearchBreadth(10);
  EXPECT_LT(RecallAt10(*plain, *exact, queries),
            RecallAt10(*hinted, *exact, queries));
}

TEST(VectorIndexTest, HintForAShardThatExpiredIsIgnored) {
  auto index = GraphIndex(16, /*exact_limit=*/50);
  const std::vector<std::vector<float>> vectors = RandomUnitVectors(400, 16, 3);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(index->Add(i, 5, vectors[i]).ok());
  InsertHint hint;
  ASSERT_TRUE(index->SearchBeforeAdd(vectors[399], 5, 5, 5, 5, &hint).ok());
  // The shard expires and its bucket fills again: the hint's vertices
  // would name other vectors now.
  EXPECT_EQ(index->DropBucketsBefore(6), 200);
  for (int i = 200; i < 260; ++i) {
    ASSERT_TRUE(index->Add(i, 5, vectors[i]).ok());
  }
  ASSERT_TRUE(index->Add(399, 5, vectors[399], hint).ok());
  const std::vector<Neighbor> hits = *index->Search(vectors[399], 1, 5, 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 399);
  // A hint for another bucket is ignored too.
  InsertHint other;
  ASSERT_TRUE(index->SearchBeforeAdd(vectors[398], 5, 5, 5, 5, &other).ok());
  ASSERT_TRUE(index->Add(398, 7, vectors[398], other).ok());
  EXPECT_EQ((*index->Search(vectors[398], 1, 7, 7))[0].id, 398);
}

TEST(VectorIndexTest, SearchesRunWhileVectorsAreAdded) {
  // A graph early, whose memory grows several times below.
  auto index = GraphIndex(16, /*exact_limit=*/100);
  const std::vector<std::vector<float>> vectors =
      RandomUnitVectors(3000, 16, 5);
  std::atomic<bool> done{false};
  std::atomic<int> searches{0}, failures{0};
  std::vector<std::thread> searchers;
  for (int t = 0; t < 2; ++t) {
    searchers.emplace_back([&, t] {
      for (int q = t; !done; q = (q + 7) % vectors.size()) {
        InsertHint hint;
        auto hits = index->SearchBeforeAdd(vectors[q], 5, 0, 0, 0, &hint);
        if (!hits.ok()) ++failures;
        ++searches;
      }
    });
  }
  for (int i = 0; i < static_cast<int>(vectors.size()); ++i) {
    InsertHint hint;
    ASSERT_TRUE(index->SearchBeforeAdd(vectors[i], 5, 0, 0, 0, &hint).ok());
    ASSERT_TRUE(index->Add(i, 0, vectors[i], hint).ok());
  }
  done = true;
  for (std::thread& t : searchers) t.join();
  EXPECT_GT(searches.load(), 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(index->size(), 3000);
  int found_itself = 0;
  for (int i = 0; i < static_cast<int>(vectors.size()); ++i) {
    const std::vector<Neighbor> hits = *index->Search(vectors[i], 1, 0, 0);
    found_itself += !hits.empty() && hits[0].id == i;
  }
  EXPECT_GE(found_itself, 2970);  // graph search is approximate
}

// An exact shard's adds run alongside searches too (while its codes and
// ids have room): the engine adds holding its own lock, and an add that
// waited for every search under way held up the whole engine. A search
// sees a prefix of the adds, each vector whole.
TEST(VectorIndexTest, ExactShardsTakeAddsAlongsideSearches) {
  auto index = GraphIndex(16, /*exact_limit=*/1 << 20);  // never a graph
  const std::vector<std::vector<float>> vectors =
      RandomUnitVectors(3000, 16, 9);
  std::atomic<int> added{0};
  std::atomic<bool> done{false};
  std::atomic<int> searches{0}, failures{0}, unknown{0}, wrong_scores{0};
  std::vector<std::thread> searchers;
  for (int t = 0; t < 2; ++t) {
    searchers.emplace_back([&, t] {
      for (int q = t; !done; q = (q + 7) % vectors.size()) {
        // Vectors added before the search began, and at most the one
        // being added meanwhile.
        const int before = added.load();
        auto hits = index->Search(vectors[q], 10, 0, 0);
        const int after = added.load();
        if (!hits.ok()) {
          ++failures;
          continue;
        }
        if (static_cast<int>(hits->size()) < std::min(before, 10)) ++failures;
        for (const Neighbor& hit : *hits) {
          if (hit.id < 0 || hit.id > after) {
            ++unknown;
          } else if (std::fabs(hit.score - internal::InnerProduct(
                                               vectors[q].data(),
                                               vectors[hit.id].data(), 16)) >
                     0.05f) {
            ++wrong_scores;  // a code read before it was written
          }
        }
        ++searches;
      }
    });
  }
  for (int i = 0; i < static_cast<int>(vectors.size()); ++i) {
    if (i % 250 == 0) {
      // Searches under way at every stage of the shard.
      const int seen = searches.load();
      while (searches.load() < seen + 2) std::this_thread::yield();
    }
    ASSERT_TRUE(index->Add(i, 0, vectors[i]).ok());
    added.store(i + 1);
  }
  done = true;
  for (std::thread& t : searchers) t.join();
  EXPECT_GE(searches.load(), 24);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(unknown.load(), 0);
  EXPECT_EQ(wrong_scores.load(), 0);
  EXPECT_EQ(index->size(), 3000);
  for (int i = 0; i < static_cast<int>(vectors.size()); ++i) {
    const std::vector<Neighbor> hits = *index->Search(vectors[i], 1, 0, 0);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].id, i);  // exact search finds every vector itself
  }
}

// Issue 33.4: at an article cap the undated shard (which never expires)
// lost one vector for every new one, and kept each as a waypoint: memory
// grew without bound. A shard is compacted once its waypoints outnumber
// its live vectors.
TEST(VectorIndexTest, WaypointsNeverOutnumberLiveVectorsForLong) {
  constexpr int kCap = 1000;
  auto index = GraphIndex(16, /*exact_limit=*/200);
  const std::vector<std::vector<float>> vectors =
      RandomUnitVectors(12000, 16, 21);
  const int64_t bucket = VectorIndex::kTimelessBucket;
  int64_t most_waypoints = 0;
  for (int i = 0; i < static_cast<int>(vectors.size()); ++i) {
    ASSERT_TRUE(index->Add(i, bucket, vectors[i]).ok());
    if (i >= kCap) {
      ASSERT_TRUE(*index->Remove(i - kCap, bucket));  // the oldest goes
    }
    most_waypoints = std::max(most_waypoints, index->waypoints());
  }
  EXPECT_EQ(index->size(), kCap);
  EXPECT_LE(most_waypoints, kCap + 1);
  EXPECT_GT(most_waypoints, 0);  // it was a graph, with waypoints
  int found_itself = 0;
  for (int i = 12000 - kCap; i < 12000; ++i) {
    const std::vector<Neighbor> hits =
        *index->Search(vectors[i], 1, bucket, bucket);
    found_itself += !hits.empty() && hits[0].id == i;
  }
  EXPECT_GE(found_itself, kCap * 98 / 100);
  EXPECT_FALSE(*index->Remove(0, bucket));  // long gone
}

TEST(VectorIndexTest, GraphRemovalsRunAlongsideSearchesAndStayOutOfHits) {
  auto index = GraphIndex(16, /*exact_limit=*/100);
  const std::vector<std::vector<float>> vectors =
      RandomUnitVectors(2000, 16, 9);
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(index->Add(i, 0, vectors[i]).ok());
  std::atomic<bool> done{false};
  std::atomic<int> searches{0}, short_answers{0};
  std::thread searcher([&] {
    for (int q = 0; !done; q = (q + 13) % 2000) {
      auto hits = index->Search(vectors[q], 10, 0, 0);
      short_answers += !hits.ok() || hits->size() < 10;
      ++searches;
    }
  });
  while (searches.load() == 0) std::this_thread::yield();
  // Three in four vectors go (as when most articles get a new version);
  // each removal used to scan the shard and widen every later search.
  for (int i = 0; i < 2000; ++i) {
    if (i % 4 != 0) {
      ASSERT_TRUE(*index->Remove(i, 0));
    }
  }
  const int before = searches.load();
  while (searches.load() < before + 10) std::this_thread::yield();
  done = true;
  searcher.join();
  EXPECT_EQ(short_answers.load(), 0);
  EXPECT_EQ(index->size(), 500);
  int found_itself = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::vector<Neighbor> hits = *index->Search(vectors[i], 10, 0, 0);
    EXPECT_EQ(hits.size(), 10u);
    for (const Neighbor& h : hits) EXPECT_EQ(h.id % 4, 0) << h.id;
    found_itself += i % 4 == 0 && !hits.empty() && hits[0].id == i;
  }
  EXPECT_GE(found_itself, 490);
}

// Issue 26: a restart reads graphs back instead of building them. The
// graphs read answer every search as the written ones did, and go on
// linking new vectors as they would have.
TEST(VectorIndexTest, GraphsReadFromASnapshotAnswerAsTheWrittenOnes) {
  constexpr int kDimension = 32;
  constexpr int64_t kStableOffset = 1000000;  // ids as a restart names them
  auto written = GraphIndex(kDimension, 64);
  const auto vectors = RandomUnitVectors(3000, kDimension, 7);
  // Bucket 1 is a graph, 2 a graph with waypoints, 3 still exact.
  auto bucket_of = [](int i) { return i < 1000 ? 1 : i < 2960 ? 2 : 3; };
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(written->Add(i, bucket_of(i), vectors[i]).ok());
  }
  int64_t removed = 0;
  for (int i = 1000; i < 2960; i += 97) {
    ASSERT_TRUE(*written->Remove(i, 2));
    ++removed;
  }
  std::stringstream snapshot;
  auto count =
      written->WriteGraphs(snapshot, /*min_bucket=*/2,
                           [&](int64_t id) { return id + kStableOffset; });
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 1960);  // bucket 2 only: 1 is too old, 3 is exact

  auto read = GraphIndex(kDimension, 64);
  auto contents = read->ReadGraphs(snapshot, /*min_bucket=*/2);
  ASSERT_TRUE(contents.ok()) << contents.status();
  ASSERT_EQ(contents->size(), 1u);
  EXPECT_EQ((*contents)[0].first, 2);
  EXPECT_EQ(static_cast<int64_t>((*contents)[0].second.size()), 1960 - removed);
  EXPECT_EQ(read->size(), 1960 - removed);
  EXPECT_EQ(read->waypoints(), removed);
  for (int64_t stable : (*contents)[0].second) {
    ASSERT_TRUE(read->Relabel(stable, stable - kStableOffset, 2));
  }
  // Narrow searches, whose answers depend on every link.
  written->SetSearchBreadth(2);
  read->SetSearchBreadth(2);
  const auto queries = RandomUnitVectors(200, kDimension, 8);
  auto same_answers = [&] {
    for (const auto& query : queries) {
      auto a = written->Search(query, 2, 2, 2);
      auto b = read->Search(query, 2, 2, 2);
      ASSERT_TRUE(a.ok() && b.ok());
      ASSERT_EQ(a->size(), b->size());
      for (size_t i = 0; i < a->size(); ++i) {
        EXPECT_EQ((*a)[i].id, (*b)[i].id);
        EXPECT_EQ((*a)[i].score, (*b)[i].score);
      }
    }
  };
  same_answers();
  // New vectors link the same way in both (the same levels drawn).
  const auto more = RandomUnitVectors(300, kDimension, 9);
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(written->Add(5000 + i, 2, more[i]).ok());
    ASSERT_TRUE(read->Add(5000 + i, 2, more[i]).ok());
  }
  same_answers();
}

TEST(VectorIndexTest, ADamagedSnapshotIsRefusedAndAddsNothing) {
  constexpr int kDimension = 16;
  auto written = GraphIndex(kDimension, 32);
  const auto vectors = RandomUnitVectors(200, kDimension, 3);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(written->Add(i, 5, vectors[i]).ok());
  }
  std::stringstream out;
  ASSERT_TRUE(written->WriteGraphs(out, 0, [](int64_t id) { return id; }).ok());
  const std::string bytes = out.str();
  // Cut short anywhere: refused, never a crash or a partial index.
  for (size_t cut = 0; cut < bytes.size(); cut += 97) {
    std::stringstream in(bytes.substr(0, cut));
    auto index = GraphIndex(kDimension, 32);
    auto read = index->ReadGraphs(in, 0);
    EXPECT_FALSE(read.ok()) << cut;
    EXPECT_EQ(index->size(), 0) << cut;
  }
  // Written with other options.
  std::stringstream in(bytes);
  auto other = GraphIndex(kDimension * 2, 32);
  EXPECT_EQ(other->ReadGraphs(in, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(other->size(), 0);
}

TEST(VectorIndexTest, RejectsInconsistentGraphOptions) {
  VectorIndexOptions options;
  options.graph_degree = 1;
  EXPECT_EQ(NewTimeShardedIndex(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(VectorIndexTest, EmptyIndexAndZeroKGiveNoHits) {
  auto index = *NewTimeShardedFlatIndex(kDim);
  auto hits = index->Search(Unit(0), 5, 0, 10);
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
  ASSERT_TRUE(index->Add(1, 0, Unit(0)).ok());
  hits = index->Search(Unit(0), 0, 0, 10);
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
}

}  // namespace
TEST(VectorIndexTest, QuantizedScoresStayCloseToExactOnes) {
  constexpr int kDimension = 256;
  VectorIndexOptions options;
  options.dimension = kDimension;
  ASSERT_TRUE(options.quantize);  // the default
  auto quantized = *NewTimeShardedIndex(options);
  auto exact = *NewTimeShardedFlatIndex(kDimension);
  std::mt19937 rng(11);
  auto unit_vector = [&] { return RandomUnitVector(kDimension, &rng); };
  for (int i = 0; i < 100; ++i) {
    const std::vector<float> v = unit_vector();
    ASSERT_TRUE(quantized->Add(i, 0, v).ok());
    ASSERT_TRUE(exact->Add(i, 0, v).ok());
  }
  for (int q = 0; q < 10; ++q) {
    const std::vector<float> query = unit_vector();
    auto approximate_hits = *quantized->Search(query, 100, 0, 0);
    auto exact_hits = *exact->Search(query, 100, 0, 0);
    ASSERT_EQ(approximate_hits.size(), 100u);
    absl::flat_hash_map<int64_t, float> exact_score;
    for (const Neighbor& h : exact_hits) exact_score[h.id] = h.score;
    for (const Neighbor& h : approximate_hits) {
      EXPECT_NEAR(h.score, exact_score[h.id], 5e-3) << "id " << h.id;
    }
  }
}

}  // namespace newsdedup
