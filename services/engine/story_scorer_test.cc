#include "services/engine/story_scorer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "absl/strings/str_replace.h"
#include "services/engine/engine.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;

StoryScorer::FeatureVector Weights(double first) {
  StoryScorer::FeatureVector w{};
  for (size_t i = 0; i < w.size(); ++i) w[i] = first + 0.5 * i;
  return w;
}

TEST(StoryScorerTest, TextFormatRoundTripsWithProvenance) {
  const StoryScorer scorer(Weights(-2.25));
  const std::string text = scorer.Serialize("Trained by: a test\nOn: today");
  EXPECT_THAT(text, HasSubstr("# Trained by: a test\n# On: today\n"));
  EXPECT_THAT(text, HasSubstr("newsdedup-story-scorer 1\n"));
  auto parsed = StoryScorer::Parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->weights(), scorer.weights());
}

TEST(StoryScorerTest, BadFilesAreRefusedNamingTheLine) {
  const std::string good = StoryScorer(Weights(1)).Serialize("");
  struct Case {
    std::string text, message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "empty"},
           {"newsdedup-story-scorer 2\n", "line 1: version 2"},
           {absl::StrReplaceAll(good, {{"log_words", "log_letters"}}),
            "unknown feature 'log_letters'"},
           {absl::StrReplaceAll(good, {{"names 3", "names x"}}),
            "expected 'FEATURE WEIGHT'"},
           {absl::StrReplaceAll(good, {{"bias 1\n", ""}}),
            "no weight for 'bias'"},
       }) {
    auto parsed = StoryScorer::Parse(c.text);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.message));
  }
  EXPECT_EQ(StoryScorer::Load("/nonexistent/scorer.txt").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(StoryScorerTest, FeaturesSayWhatIsMissing) {
  StoryEvidence e;
  e.centroid_similarity = 0.5f;
  e.hand_threshold = 0.25f;
  e.num_words = 1000;  // clamped to 150
  const auto f = StoryScorer::Features(e);
  auto at = [&f](absl::string_view name) {
    for (size_t i = 0; i < StoryScorer::kFeatureNames.size(); ++i) {
      if (StoryScorer::kFeatureNames[i] == name) return f[i];
    }
    ADD_FAILURE() << name;
    return 0.0;
  };
  EXPECT_DOUBLE_EQ(at("bias"), 1.0);
  EXPECT_NEAR(at("log_hand_ratio"), std::log(2.0), 1e-6);
  EXPECT_NEAR(at("log_words"), std::log(150.0), 1e-9);
  EXPECT_EQ(at("names_missing"), 1.0);  // names_similarity -1
  EXPECT_EQ(at("names"), 0.0);
}

// Examples whose label follows the centroid similarity (with noise): the
// model learns a positive weight for it and predicts held-out stories.
std::vector<ScorerExample> SyntheticExamples(int n) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(0.01f, 1.0f);
  std::vector<ScorerExample> out;
  for (int i = 0; i < n; ++i) {
    StoryEvidence e;
    e.centroid_similarity = uniform(rng);
    e.num_words = 50;
    e.story_size = 3;
    ScorerExample x;
    x.features = StoryScorer::Features(e);
    x.same_story = e.centroid_similarity + 0.1f * (uniform(rng) - 0.5f) > 0.5f;
    x.group = i / 4;
    out.push_back(x);
  }
  return out;
}

TEST(StoryScorerTest, TrainingLearnsASeparatingModel) {
  const std::vector<ScorerExample> examples = SyntheticExamples(2000);
  auto model = TrainStoryScorer(examples);
  ASSERT_TRUE(model.ok()) << model.status();
  StoryEvidence close, far;
  close.centroid_similarity = 0.8f;
  far.centroid_similarity = 0.2f;
  close.num_words = far.num_words = 50;
  close.story_size = far.story_size = 3;
  EXPECT_GT(model->Probability(close), 0.9);
  EXPECT_LT(model->Probability(far), 0.1);

  auto validation = CrossValidateStoryScorer(examples, 5);
  ASSERT_TRUE(validation.ok()) << validation.status();
  EXPECT_GT(validation->accuracy, 0.9);
  EXPECT_LT(validation->log_loss, 0.3);
}

TEST(StoryScorerTest, TrainingNeedsBothKinds) {
  std::vector<ScorerExample> examples = SyntheticExamples(10);
  for (ScorerExample& e : examples) e.same_story = false;
  EXPECT_EQ(TrainStoryScorer(examples).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CrossValidateStoryScorer(examples, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The engine reports evidence for every candidate and follows the model.
TEST(StoryScorerTest, EngineMeasuresCandidatesAndFollowsTheModel) {
  const auto fixture = testing::LoadStoriesFixture();
  EngineOptions options;
  int reported = 0;
  bool names_seen = false;
  options.on_candidates =
      [&](absl::Span<const EngineOptions::CandidateStory> candidates) {
        for (const auto& c : candidates) {
          ++reported;
          EXPECT_FALSE(c.story_id.empty());
          EXPECT_GT(c.evidence.story_size, 0);
          EXPECT_GT(c.evidence.hand_threshold, 0.0f);
          names_seen |= c.evidence.names_similarity > 0;
        }
      };
  // A model that never joins: every article starts its own story.
  StoryScorer::FeatureVector never{};
  never[0] = -50;
  options.scorer = std::make_shared<StoryScorer>(never);
  auto engine = testing::MakeEngine(options);
  for (const Article& a : fixture.articles) {
    auto answer = engine->Assign(a);
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_NE(answer->relation, Relation::kSameStory);
  }
  EXPECT_GT(reported, 0);
  EXPECT_TRUE(names_seen);
}

}  // namespace
}  // namespace newsdedup
