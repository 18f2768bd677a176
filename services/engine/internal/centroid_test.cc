#include "services/engine/internal/centroid.h"

#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <map>
#include <random>
#include <vector>

namespace newsdedup {
namespace internal {
namespace {

Embedding Sparse(std::vector<uint32_t> ids, std::vector<float> weights) {
  double norm2 = 0.0;
  for (float w : weights) norm2 += w * w;
  for (float& w : weights) w /= static_cast<float>(std::sqrt(norm2));
  Embedding e;
  e.sparse.ids = std::move(ids);
  e.sparse.weights = std::move(weights);
  return e;
}

TEST(CentroidTest, CosineFollowsTheMembers) {
  Centroid centroid;
  EXPECT_FLOAT_EQ(centroid.Cosine(Sparse({1}, {1})), 0.0f);
  centroid.Add(Sparse({1, 2}, {1, 1}));
  EXPECT_NEAR(centroid.Cosine(Sparse({1, 2}, {1, 1})), 1.0f, 1e-6);
  centroid.Add(Sparse({3}, {1}));
  centroid.Subtract(Sparse({1, 2}, {1, 1}));
  EXPECT_NEAR(centroid.Cosine(Sparse({3}, {1})), 1.0f, 1e-6);
  EXPECT_NEAR(centroid.Cosine(Sparse({1}, {1})), 0.0f, 1e-6);
}

// A story that lives for months sees members come and go; what it holds
// must follow the members it has, not every word any member ever had
// (sums of float weights are zero again only up to rounding).
TEST(CentroidTest, FeaturesLeaveWithTheLastMemberThatHadThem) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> word(0, 20);
  std::uniform_real_distribution<float> weight(0.01f, 1.0f);
  std::deque<Embedding> members;
  Centroid centroid;
  for (int i = 0; i < 20000; ++i) {
    // Every member has the topic words; the rest of the vocabulary drifts,
    // each word held by dozens of members at a time, then by none.
    std::vector<uint32_t> ids = {1, 2, 3};
    for (int k = 0; k < 5; ++k) ids.push_back(10 + i / 100 + word(rng));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::vector<float> weights;
    for (size_t k = 0; k < ids.size(); ++k) weights.push_back(weight(rng));
    members.push_back(Sparse(ids, weights));
    centroid.Add(members.back());
    if (members.size() > 100) {  // the oldest leaves: 100 members held
      centroid.Subtract(members.front());
      members.pop_front();
    }
  }
  EXPECT_EQ(centroid.count(), 100);
  EXPECT_LE(centroid.num_features(), 3u + 21u + 1u);
  centroid.Add(members.front());  // a merge keeps counts too
  Centroid other;
  other.Merge(centroid);
  for (const Embedding& m : members) other.Subtract(m);
  other.Subtract(members.front());
  EXPECT_EQ(other.num_features(), 0u);
  EXPECT_TRUE(other.empty());
}

// The sum is a sorted vector while small and a hash table past
// kMaxSortedFeatures; either way it answers as a plain sum of the members.
// The own-words share of the same-time bonus (engine_decide.cc) measures
// part of an article against a story without building that part.
TEST(CentroidTest, CosineAndPartEqualTheCosinesOfTheQueryAndThePartBuilt) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> id(0, 3000);
  std::uniform_real_distribution<float> weight(0.1f, 1.0f);
  auto random_sparse = [&](int n) {
    std::map<uint32_t, float> features;
    while (static_cast<int>(features.size()) < n)
      features[id(rng)] = weight(rng);
    std::vector<uint32_t> ids;
    std::vector<float> weights;
    for (const auto& [i, w] : features) {
      ids.push_back(i);
      weights.push_back(w);
    }
    return Sparse(ids, weights);
  };
  for (int members : {3, 400}) {  // a sorted sum, then a hashed one
    Centroid centroid;
    for (int m = 0; m < members; ++m) centroid.Add(random_sparse(12));
    for (int q = 0; q < 50; ++q) {
      const Embedding query = random_sparse(30);
      // Keep features by position and by how many members have them.
      auto keep = [&](size_t i, int with) { return i % 3 != 0 || with > 1; };
      Embedding part;
      for (size_t i = 0; i < query.sparse.ids.size(); ++i) {
        if (!keep(i, centroid.MembersWith(query.sparse.ids[i]))) continue;
        part.sparse.ids.push_back(query.sparse.ids[i]);
        part.sparse.weights.push_back(query.sparse.weights[i]);
      }
      const auto [whole, of_part] = centroid.CosineAndPart(query, keep);
      EXPECT_EQ(whole, centroid.Cosine(query));
      EXPECT_EQ(of_part, centroid.Cosine(part));
    }
  }
}

TEST(CentroidTest, SmallAndLargeSumsAnswerAsThePlainSum) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> word(0, 4000);
  std::uniform_real_distribution<float> weight(0.01f, 1.0f);
  auto random_member = [&] {
    std::vector<uint32_t> ids;
    for (int k = 0; k < 40; ++k) ids.push_back(word(rng));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::vector<float> weights;
    for (size_t k = 0; k < ids.size(); ++k) weights.push_back(weight(rng));
    return Sparse(ids, weights);
  };
  std::vector<Embedding> members;
  for (int i = 0; i < 200; ++i) members.push_back(random_member());
  const std::vector<Embedding> queries = {random_member(), random_member(),
                                          members[3]};

  // The plain sum, in doubles.
  auto expected_cosine = [](const std::vector<Embedding>& held,
                            const Embedding& query) {
    std::map<uint32_t, double> sum;
    for (const Embedding& m : held) {
      for (size_t k = 0; k < m.sparse.ids.size(); ++k) {
        sum[m.sparse.ids[k]] += m.sparse.weights[k];
      }
    }
    double dot = 0.0;
    double norm2 = 0.0;
    for (const auto& [id, w] : sum) norm2 += w * w;
    for (size_t k = 0; k < query.sparse.ids.size(); ++k) {
      auto it = sum.find(query.sparse.ids[k]);
      if (it != sum.end()) dot += it->second * query.sparse.weights[k];
    }
    return dot / std::sqrt(norm2);
  };

  Centroid small;  // stays under kMaxSortedFeatures
  Centroid large;  // grows past it
  std::vector<Embedding> in_small(members.begin(), members.begin() + 5);
  for (const Embedding& m : in_small) small.Add(m);
  ASSERT_LT(small.num_features(), Centroid::kMaxSortedFeatures);
  for (const Embedding& m : members) large.Add(m);
  ASSERT_GT(large.num_features(), Centroid::kMaxSortedFeatures);
  for (const Embedding& q : queries) {
    EXPECT_NEAR(small.Cosine(q), expected_cosine(in_small, q), 1e-5);
    EXPECT_NEAR(large.Cosine(q), expected_cosine(members, q), 1e-5);
  }
  EXPECT_EQ(small.MembersWith(in_small[0].sparse.ids[0]) >= 1, true);
  EXPECT_EQ(small.MembersWith(4001), 0);

  // Members leave either kind of sum, and sums merge across kinds.
  for (int i = 0; i < 2; ++i) small.Subtract(in_small[i]);
  for (int i = 0; i < 100; ++i) large.Subtract(members[i]);
  const std::vector<Embedding> small_left(in_small.begin() + 2, in_small.end());
  const std::vector<Embedding> large_left(members.begin() + 100, members.end());
  for (const Embedding& q : queries) {
    EXPECT_NEAR(small.Cosine(q), expected_cosine(small_left, q), 1e-5);
    EXPECT_NEAR(large.Cosine(q), expected_cosine(large_left, q), 1e-5);
  }
  std::vector<Embedding> both = small_left;
  both.insert(both.end(), large_left.begin(), large_left.end());
  Centroid small_then_large = small;
  small_then_large.Merge(large);
  Centroid large_then_small = large;
  large_then_small.Merge(small);
  for (const Embedding& q : queries) {
    EXPECT_NEAR(small_then_large.Cosine(q), expected_cosine(both, q), 1e-5);
    EXPECT_NEAR(large_then_small.Cosine(q), expected_cosine(both, q), 1e-5);
  }
  EXPECT_EQ(small_then_large.count(), 103);
  EXPECT_EQ(small_then_large.num_features(), large_then_small.num_features());
  // A centroid against another: the same as summing one into a query.
  Embedding small_sum;
  std::map<uint32_t, double> sum;
  for (const Embedding& m : small_left) {
    for (size_t k = 0; k < m.sparse.ids.size(); ++k) {
      sum[m.sparse.ids[k]] += m.sparse.weights[k];
    }
  }
  double norm2 = 0.0;
  for (const auto& [id, w] : sum) norm2 += w * w;
  for (const auto& [id, w] : sum) {
    small_sum.sparse.ids.push_back(id);
    small_sum.sparse.weights.push_back(
        static_cast<float>(w / std::sqrt(norm2)));
  }
  EXPECT_NEAR(small.Cosine(large), expected_cosine(large_left, small_sum),
              1e-5);
  EXPECT_FLOAT_EQ(small.Cosine(large), large.Cosine(small));
}

}  // namespace
}  // namespace internal
}  // namespace newsdedup
