#include "services/engine/internal/centroid.h"

#include <gtest/gtest.h>

#include <cmath>
#include <deque>
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

}  // namespace
}  // namespace internal
}  // namespace newsdedup
