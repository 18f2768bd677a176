#include "services/engine/internal/join_policy.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace newsdedup {
namespace internal {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kNoon = absl::FromUnixSeconds(1700000000);

EngineOptions Options() {
  EngineOptions options;
  options.short_text_threshold = 0.1f;
  options.long_text_threshold = 0.3f;
  options.short_text_words = 10;
  options.long_text_words = 100;
  options.short_text_merge_threshold = 0.2f;
  options.long_text_merge_threshold = 0.6f;
  options.same_time_factor = 0.5f;
  options.time_penalty = 0.25f;
  options.near_duplicate_threshold = 0.9f;
  options.story_window = absl::Hours(48);
  return options;
}

StorySpan Span(absl::Time first, absl::Time last) {
  StorySpan span;
  span.Extend(first);
  span.Extend(last);
  return span;
}

ScoredStory Scored(int64_t story, float similarity, float threshold) {
  ScoredStory s;
  s.story = story;
  s.similarity = similarity;
  s.threshold = threshold;
  return s;
}

TEST(JoinPolicyTest, ThresholdsFollowTheTextLengthLogLinearly) {
  const EngineOptions options = Options();
  const JoinPolicy policy(options);
  EXPECT_FLOAT_EQ(policy.JoinThreshold(1), 0.1f);
  EXPECT_FLOAT_EQ(policy.JoinThreshold(10), 0.1f);
  EXPECT_FLOAT_EQ(policy.JoinThreshold(100), 0.3f);
  EXPECT_FLOAT_EQ(policy.JoinThreshold(5000), 0.3f);
  // Half way in log space: sqrt(10 * 100).
  EXPECT_NEAR(policy.JoinThreshold(std::sqrt(1000.0)), 0.2f, 1e-5);
  EXPECT_FLOAT_EQ(policy.MergeThreshold(10), 0.2f);
  EXPECT_FLOAT_EQ(policy.MergeThreshold(100), 0.6f);
}

TEST(JoinPolicyTest, TimeFactorRisesWithTheGapAndIgnoresUndatedArticles) {
  const EngineOptions options = Options();
  const JoinPolicy policy(options);
  const StorySpan story = Span(kNoon, kNoon + absl::Hours(24));
  EXPECT_FLOAT_EQ(policy.TimeFactor(story, kNoon), 0.5f);
  // One day after its first article: 0.5 + 0.25 * log2(2).
  EXPECT_FLOAT_EQ(policy.TimeFactor(story, kNoon + absl::Hours(24)), 0.75f);
  // Three days after its first, two after its last: 0.5 + 0.25 * log2(4).
  // Measured from its last article, a chain of joins renewed the bonus.
  EXPECT_FLOAT_EQ(policy.TimeFactor(story, kNoon + absl::Hours(72)), 1.0f);
  // Three days before its first: 0.5 + 0.25 * log2(4).
  EXPECT_FLOAT_EQ(policy.TimeFactor(story, kNoon - absl::Hours(72)), 1.0f);
  EXPECT_FLOAT_EQ(policy.TimeFactor(story, absl::InfinitePast()), 1.0f);
  EXPECT_FLOAT_EQ(policy.TimeFactor(StorySpan(), kNoon), 1.0f);
}

// Issue 34: at ten times the density, ten events of a kind fall on one
// day, and an old story took in the next shootings of its neighbourhood.
TEST(JoinPolicyTest, NewerLookAlikeStoriesAgeAStoryLikeDays) {
  const EngineOptions options = Options();  // days_per_newer_story 1
  const JoinPolicy policy(options);
  const StorySpan story = Span(kNoon, kNoon + absl::Hours(2));
  // An hour after its first article, three newer stories of its kind
  // since: 0.5 + 0.25 * log2(1 + 1/24 + 3).
  EXPECT_NEAR(policy.TimeFactor(story, kNoon + absl::Hours(1), 3),
              0.5f + 0.25f * std::log2(4.0f + 1.0f / 24), 1e-6);
  EXPECT_LT(policy.TimeFactor(story, kNoon + absl::Hours(1), 0),
            policy.TimeFactor(story, kNoon + absl::Hours(1), 1));
  // Undated: no time evidence to weaken.
  EXPECT_FLOAT_EQ(policy.TimeFactor(StorySpan(), kNoon, 3), 1.0f);
  EngineOptions days_alone = Options();
  days_alone.days_per_newer_story = 0;
  EXPECT_FLOAT_EQ(JoinPolicy(days_alone).TimeFactor(story, kNoon, 3), 0.5f);
}

// Issue 34: a dated headline joined an undated full-text story at a
// headline's bar, on a few topic and stop words.
TEST(JoinPolicyTest, MixedDatingMustClearTheStoryTextsBarToo) {
  const EngineOptions options = Options();
  const JoinPolicy policy(options);
  const StorySpan dated = Span(kNoon, kNoon + absl::Hours(24));
  const StorySpan undated;
  // A dated headline (bar 0.1) against an undated story of long texts.
  EXPECT_FLOAT_EQ(policy.MixedDatingThreshold(0.1f, undated, kNoon, 400), 0.3f);
  // An undated headline against a dated story of long texts.
  EXPECT_FLOAT_EQ(
      policy.MixedDatingThreshold(0.1f, dated, absl::InfinitePast(), 400),
      0.3f);
  // Both dated, or both undated: the article's bar alone.
  EXPECT_FLOAT_EQ(policy.MixedDatingThreshold(0.05f, dated, kNoon, 400), 0.05f);
  EXPECT_FLOAT_EQ(
      policy.MixedDatingThreshold(0.1f, undated, absl::InfinitePast(), 400),
      0.1f);
  // A story of shorter texts than the article never lowers its bar.
  EXPECT_FLOAT_EQ(policy.MixedDatingThreshold(0.3f, undated, kNoon, 5), 0.3f);
}

// Issue 34: in a large story every frequent word counted as its own
// (at most twice the story's size), so concurrent stories that share a
// topic word fused on the same-time bonus (iOS 7.1 and the Apple TV
// update, on `apple update tv`).
TEST(JoinPolicyTest, OwnWordsAreRareOrHeldMostlyByTheStory) {
  EngineOptions options = Options();
  options.own_word_df_share = 0.01f;
  options.own_word_story_multiple = 2.0f;
  const JoinPolicy policy(options);
  // Rare in 3,000 documents: own, whoever holds it.
  EXPECT_TRUE(policy.IsOwnWord(29, 3000, 1, 0));
  // Held by 200 documents, 150 of them the story's members.
  EXPECT_TRUE(policy.IsOwnWord(200, 3000, 150, 150));
  // Held by 200 documents, 40 of them the story's members: a topic word,
  // though the story has 150 members.
  EXPECT_FALSE(policy.IsOwnWord(200, 3000, 150, 40));
  // A one-member story: words of at most twice as many documents.
  EXPECT_TRUE(policy.IsOwnWord(2, 3000, 1, 1));
  EXPECT_FALSE(policy.IsOwnWord(31, 3000, 1, 1));
}

TEST(JoinPolicyTest, WindowBoundsJoinsAndMerges) {
  const EngineOptions options = Options();
  const JoinPolicy policy(options);
  const StorySpan story = Span(kNoon, kNoon + absl::Hours(24));
  // Within the window of the first member and of the last: a story
  // spans one window at most, however its joins were spaced.
  EXPECT_TRUE(policy.InWindow(story, kNoon + absl::Hours(48)));
  EXPECT_FALSE(policy.InWindow(story, kNoon + absl::Hours(49)));
  EXPECT_TRUE(policy.InWindow(story, kNoon - absl::Hours(24)));
  EXPECT_FALSE(policy.InWindow(story, kNoon - absl::Hours(25)));
  EXPECT_TRUE(policy.InWindow(StorySpan(), kNoon));
  EXPECT_TRUE(policy.InWindow(story, absl::InfinitePast()));
  // Within reach of its last member, the story is still a candidate (for
  // its thread).
  EXPECT_TRUE(policy.InReach(story, kNoon + absl::Hours(72)));
  EXPECT_FALSE(policy.InReach(story, kNoon + absl::Hours(73)));

  const StorySpan later =
      Span(kNoon + absl::Hours(73), kNoon + absl::Hours(80));
  EXPECT_FALSE(policy.MayMerge(story, later));
  EXPECT_FALSE(policy.MayMerge(later, story));
  EXPECT_TRUE(policy.MayMerge(
      story, Span(kNoon + absl::Hours(72), kNoon + absl::Hours(90))));
  EXPECT_TRUE(policy.MayMerge(story, StorySpan()));
}

// Issue 34 (threads): two look-alike events of one topic on the same days
// (ECB+'s two earthquakes, given dates) stayed in two threads at the
// plain bar; stories days apart, or undated, keep it.
TEST(JoinPolicyTest, StoriesOnTheSameDaysJoinThreadsAtALowerBar) {
  EngineOptions options = Options();
  options.thread_threshold = 0.25f;
  options.same_day_thread_factor = 0.8f;
  const JoinPolicy policy(options);
  const StorySpan monday = Span(kNoon, kNoon + absl::Hours(6));
  const StorySpan tuesday =
      Span(kNoon + absl::Hours(28), kNoon + absl::Hours(40));
  const StorySpan friday =
      Span(kNoon + absl::Hours(96), kNoon + absl::Hours(100));
  EXPECT_FLOAT_EQ(policy.ThreadThreshold(monday, tuesday), 0.2f);
  EXPECT_FLOAT_EQ(policy.ThreadThreshold(tuesday, monday), 0.2f);
  EXPECT_FLOAT_EQ(policy.ThreadThreshold(monday, friday), 0.25f);
  EXPECT_FLOAT_EQ(policy.ThreadThreshold(friday, monday), 0.25f);
  EXPECT_FLOAT_EQ(policy.ThreadThreshold(monday, StorySpan()), 0.25f);
  EXPECT_FLOAT_EQ(policy.ThreadThreshold(StorySpan(), StorySpan()), 0.25f);
}

TEST(JoinPolicyTest, SpanExtendsOnlyWithDatedTimes) {
  StorySpan span;
  span.Extend(absl::InfinitePast());
  EXPECT_FALSE(span.dated);
  span.Extend(kNoon);
  span.Extend(kNoon - absl::Hours(3));
  EXPECT_TRUE(span.dated);
  EXPECT_EQ(span.first_seen, kNoon - absl::Hours(3));
  EXPECT_EQ(span.last_seen, kNoon);
  StorySpan other = Span(kNoon + absl::Hours(1), kNoon + absl::Hours(2));
  span.Extend(other);
  EXPECT_EQ(span.last_seen, kNoon + absl::Hours(2));
  span.Extend(StorySpan());
  EXPECT_EQ(span.first_seen, kNoon - absl::Hours(3));
}

TEST(JoinPolicyTest, NoCandidateMeansANewStory) {
  const EngineOptions options = Options();
  JoinQuestion q;
  q.base_threshold = 0.2f;
  const JoinChoice c = JoinPolicy(options).Choose(q);
  EXPECT_EQ(c.relation, Relation::kNewStory);
  EXPECT_EQ(c.story, -1);
  EXPECT_FLOAT_EQ(c.threshold, 0.2f);
  EXPECT_EQ(c.runner_up, -1);
  EXPECT_TRUE(c.merge_candidates.empty());
}

TEST(JoinPolicyTest, BestRatioWinsNotBestSimilarity) {
  const EngineOptions options = Options();
  JoinQuestion q;
  q.base_threshold = 0.2f;
  // Story 7 is more similar, but its (older) threshold is higher.
  q.candidates = {Scored(7, 0.5f, 0.45f), Scored(3, 0.3f, 0.2f)};
  q.nearest_story = 7;
  q.nearest_similarity = 0.6f;
  const JoinChoice c = JoinPolicy(options).Choose(q);
  EXPECT_EQ(c.relation, Relation::kSameStory);
  EXPECT_EQ(c.story, 3);
  EXPECT_FLOAT_EQ(c.similarity, 0.3f);
  EXPECT_FLOAT_EQ(c.threshold, 0.2f);
  EXPECT_EQ(c.runner_up, 7);
  EXPECT_FLOAT_EQ(c.runner_up_similarity, 0.5f);
}

TEST(JoinPolicyTest, AStoryPastItsWindowIsOnlyAThreadCandidate) {
  EngineOptions options = Options();
  options.thread_threshold = 0.25f;
  JoinQuestion q;
  q.base_threshold = 0.2f;
  q.candidates = {Scored(4, 0.9f, 0.2f)};
  q.candidates[0].joinable = false;
  const JoinChoice c = JoinPolicy(options).Choose(q);
  EXPECT_EQ(c.relation, Relation::kNewStory);
  EXPECT_THAT(c.thread_candidates, ElementsAre(4));
  EXPECT_THAT(c.merge_candidates, IsEmpty());
}

TEST(JoinPolicyTest, BelowEveryThresholdIsANewStoryWithARunnerUp) {
  const EngineOptions options = Options();
  JoinQuestion q;
  q.base_threshold = 0.2f;
  q.candidates = {Scored(1, 0.15f, 0.2f), Scored(2, 0.05f, 0.2f)};
  const JoinChoice c = JoinPolicy(options).Choose(q);
  EXPECT_EQ(c.relation, Relation::kNewStory);
  EXPECT_EQ(c.story, -1);
  EXPECT_EQ(c.runner_up, 1);
  // Only story 1 reaches half its threshold: worth a merge check.
  EXPECT_THAT(c.merge_candidates, ElementsAre(1));
}

TEST(JoinPolicyTest, NearDuplicateJoinsTheNearestArticlesStory) {
  const EngineOptions options = Options();
  JoinQuestion q;
  q.base_threshold = 0.2f;
  q.candidates = {Scored(4, 0.3f, 0.2f), Scored(5, 0.8f, 0.2f)};
  q.nearest_story = 4;
  q.nearest_similarity = 0.95f;
  const JoinChoice c = JoinPolicy(options).Choose(q);
  EXPECT_EQ(c.relation, Relation::kNearDuplicate);
  EXPECT_EQ(c.story, 4);
  EXPECT_EQ(c.runner_up, 5);
}

TEST(JoinPolicyTest, ANewVersionStaysInItsStoryWhileItStillQualifies) {
  const EngineOptions options = Options();
  JoinQuestion q;
  q.base_threshold = 0.2f;
  q.candidates = {Scored(1, 0.9f, 0.2f), Scored(2, 0.25f, 0.2f)};
  q.nearest_story = 1;
  q.nearest_similarity = 0.95f;
  q.preferred = 2;
  q.preferred_has_members = true;
  JoinChoice c = JoinPolicy(options).Choose(q);
  EXPECT_EQ(c.story, 2);
  // Not a near duplicate of the nearest article's story any more.
  EXPECT_EQ(c.relation, Relation::kSameStory);

  // It clearly left: below its old story's threshold, another qualifies.
  q.candidates[1].similarity = 0.1f;
  c = JoinPolicy(options).Choose(q);
  EXPECT_EQ(c.story, 1);
  EXPECT_EQ(c.relation, Relation::kNearDuplicate);

  // Nothing else qualifies: it stays, and an emptied story starts anew.
  q.candidates[0].similarity = 0.1f;
  q.nearest_similarity = 0.1f;
  q.preferred_has_members = false;
  c = JoinPolicy(options).Choose(q);
  EXPECT_EQ(c.story, 2);
  EXPECT_EQ(c.relation, Relation::kNewStory);
}

TEST(JoinPolicyTest, MergeChecksAreTheClosestFourCandidates) {
  const EngineOptions options = Options();
  JoinQuestion q;
  q.base_threshold = 0.2f;
  q.candidates = {Scored(1, 0.11f, 0.2f), Scored(2, 0.30f, 0.2f),
                  Scored(3, 0.09f, 0.2f), Scored(4, 0.20f, 0.2f),
                  Scored(5, 0.15f, 0.2f), Scored(6, 0.12f, 0.2f)};
  const JoinChoice c = JoinPolicy(options).Choose(q);
  EXPECT_EQ(c.story, 2);
  EXPECT_THAT(c.merge_candidates, ElementsAre(2, 4, 5, 6));
}

}  // namespace
}  // namespace internal
}  // namespace newsdedup
