#include "tools/quality_scores.h"

#include <gtest/gtest.h>

#include <vector>

namespace newsdedup {
namespace {

TEST(BCubedTest, PerfectClusteringScoresOne) {
  const std::vector<int64_t> gold = {1, 1, 2, 2, 3};
  const std::vector<int64_t> predicted = {7, 7, 9, 9, 4};
  const BCubed b = BCubedScores(gold, predicted);
  EXPECT_DOUBLE_EQ(b.precision, 1.0);
  EXPECT_DOUBLE_EQ(b.recall, 1.0);
  EXPECT_DOUBLE_EQ(b.f1, 1.0);
}

TEST(BCubedTest, MatchesHandComputedExample) {
  // Gold {a,b,c} {d}; predicted {a,b} {c,d}.
  // Precision: a 1, b 1, c 1/2, d 1/2 -> 0.75.
  // Recall:    a 2/3, b 2/3, c 1/3, d 1 -> 2/3.
  const std::vector<int64_t> gold = {0, 0, 0, 1};
  const std::vector<int64_t> predicted = {5, 5, 6, 6};
  const BCubed b = BCubedScores(gold, predicted);
  EXPECT_NEAR(b.precision, 0.75, 1e-12);
  EXPECT_NEAR(b.recall, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(b.f1, 2 * 0.75 * (2.0 / 3.0) / (0.75 + 2.0 / 3.0), 1e-12);
}

TEST(BCubedTest, AllInOneClusterHasFullRecallLowPrecision) {
  const std::vector<int64_t> gold = {0, 1, 2, 3};
  const std::vector<int64_t> predicted = {0, 0, 0, 0};
  const BCubed b = BCubedScores(gold, predicted);
  EXPECT_DOUBLE_EQ(b.recall, 1.0);
  EXPECT_DOUBLE_EQ(b.precision, 0.25);
}

TEST(AdjustedRandIndexTest, IdenticalIsOneAndLabelNamesDoNotMatter) {
  const std::vector<int64_t> gold = {0, 0, 1, 1, 2, 2};
  const std::vector<int64_t> predicted = {5, 5, 3, 3, 9, 9};
  EXPECT_NEAR(AdjustedRandIndex(gold, predicted), 1.0, 1e-12);
}

TEST(AdjustedRandIndexTest, MatchesSklearnValue) {
  // sklearn.metrics.adjusted_rand_score([0,0,1,1], [0,0,1,2]) = 0.5714285714
  const std::vector<int64_t> gold = {0, 0, 1, 1};
  const std::vector<int64_t> predicted = {0, 0, 1, 2};
  EXPECT_NEAR(AdjustedRandIndex(gold, predicted), 0.5714285714, 1e-9);
}

TEST(PearsonTest, PerfectAndConstant) {
  const std::vector<double> x = {1, 2, 3, 4};
  const std::vector<double> y = {2, 4, 6, 8};
  const std::vector<double> neg = {-1, -2, -3, -4};
  const std::vector<double> flat = {5, 5, 5, 5};
  EXPECT_NEAR(PearsonCorrelation(x, y), 1.0, 1e-12);
  EXPECT_NEAR(PearsonCorrelation(x, neg), -1.0, 1e-12);
  EXPECT_EQ(PearsonCorrelation(x, flat), 0.0);
}

TEST(RocAucTest, SeparatesAndCountsTiesHalf) {
  EXPECT_DOUBLE_EQ(RocAuc({0.9, 0.8, 0.2, 0.1}, {true, true, false, false}),
                   1.0);
  EXPECT_DOUBLE_EQ(RocAuc({0.1, 0.2, 0.8, 0.9}, {true, true, false, false}),
                   0.0);
  EXPECT_DOUBLE_EQ(RocAuc({0.5, 0.5}, {true, false}), 0.5);
  EXPECT_DOUBLE_EQ(RocAuc({0.5, 0.7}, {true, true}), 0.5);
}

TEST(PercentileTest, NearestRankAndEmpty) {
  std::vector<double> v = {5, 1, 4, 2, 3, 6, 8, 7, 10, 9};
  EXPECT_DOUBLE_EQ(Percentile(&v, 0.5), 6);
  EXPECT_DOUBLE_EQ(Percentile(&v, 0.99), 10);
  EXPECT_DOUBLE_EQ(Percentile(&v, 0.0), 1);
  std::vector<double> none;
  EXPECT_DOUBLE_EQ(Percentile(&none, 0.5), 0);
}

TEST(NeighborRecallTest, TiesWithTheKthCountAsRightButNotAsSameIds) {
  NeighborRecall recall;
  // Exact top 2: ids 1 and 2, the 2nd scoring 0.8. The search returned 1
  // and 3, an exact copy of 2 (same score), then 4 and 5 below it.
  recall.Add({1, 2}, 0.8f, {1, 3}, {0.9f, 0.8f});
  EXPECT_DOUBLE_EQ(recall.recall(), 1.0);
  EXPECT_DOUBLE_EQ(recall.same_ids(), 0.5);
  recall.Add({6, 7}, 0.8f, {4, 5}, {0.79f, 0.5f});  // 0.79: outside 0.001
  EXPECT_DOUBLE_EQ(recall.recall(), 0.5);
  EXPECT_DOUBLE_EQ(recall.same_ids(), 0.25);
  recall.Add({}, 0.0f, {8}, {0.1f});  // no exact neighbours: ignored
  EXPECT_DOUBLE_EQ(recall.recall(), 0.5);
  EXPECT_DOUBLE_EQ(NeighborRecall().recall(), 0.0);
}

TEST(DotProductTest, SumsProducts) {
  EXPECT_FLOAT_EQ(DotProduct({1, 2, 3}, {4, 5, 6}), 32.0f);
}

}  // namespace
}  // namespace newsdedup
