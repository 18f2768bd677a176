// A learned answer to "does this article belong to this story?": logistic
// regression over similarity, time and size features of one (article,
// candidate story) pair, after Miranda et al., "Multilingual Clustering of
// Streaming News" (EMNLP 2018). The engine joins the candidate with the
// highest probability when it is at least one half, and starts a new story
// otherwise (docs/quality.md).
//
//   ASSIGN_OR_RETURN(StoryScorer scorer, StoryScorer::Load(path));
//   double p = scorer.Probability(features);
//
// `newsdedup train-scorer` learns the weights from labelled articles
// (TrainStoryScorer below) and writes them as a small text file:
//
//   # comment lines: how and from what the model was trained
//   newsdedup-story-scorer 1
//   bias -3.2
//   log_centroid 2.9
//   ...
#ifndef NEWSDEDUP_SERVICES_ENGINE_STORY_SCORER_H_
#define NEWSDEDUP_SERVICES_ENGINE_STORY_SCORER_H_

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace newsdedup {

// What the engine measures for one (article, candidate story) pair.
struct StoryEvidence {
  float centroid_similarity = 0.0f;  // article to the story's centroid
  // The hand-set join threshold for this pair (EngineOptions: by length
  // and time gap); the model starts from how far the similarity clears it,
  // and sees time through it only.
  float hand_threshold = 1.0f;
  // Highest similarity to one of the story's members among the article's
  // nearest neighbours (0: none among them).
  float member_similarity = 0.0f;
  // Cosine of the names-and-figures views: to the story's names centroid,
  // and to the closest member's. -1 when the article or the story has no
  // names (no evidence either way).
  float names_similarity = -1.0f;
  float member_names_similarity = -1.0f;
  int num_words = 0;  // distinct words of the article
  int story_size = 0;
};

class StoryScorer {
 public:
  // The model's inputs, by name, in the order of Features().
  // Time enters through the hand ratio only: features of their own for
  // the gap and for undated text tie the model to the collections it was
  // trained on (docs/quality.md: trained on two, it fails on the third).
  static constexpr std::array<absl::string_view, 10> kFeatureNames = {
      "bias",          "log_hand_ratio", "log_centroid",
      "log_member",    "names",          "member_names",
      "names_missing", "log_words",      "log_centroid_x_words",
      "log_story_size"};
  using FeatureVector = std::array<double, kFeatureNames.size()>;

  static FeatureVector Features(const StoryEvidence& evidence);

  // A model with these weights (one per feature name).
  explicit StoryScorer(const FeatureVector& weights) : weights_(weights) {}

  // Parses the text format above. Errors: kInvalidArgument naming the
  // line for an unknown version or feature, a missing feature, or a value
  // that is not a number.
  static absl::StatusOr<StoryScorer> Parse(absl::string_view text);
  // Reads and parses a file. Errors: kNotFound, and those of Parse.
  static absl::StatusOr<StoryScorer> Load(const std::string& path);
  // The text format, with `provenance` as comment lines first.
  std::string Serialize(absl::string_view provenance) const;

  // The log-odds that the article belongs to the story.
  double LogOdds(const StoryEvidence& evidence) const;
  double Probability(const StoryEvidence& evidence) const;

  const FeatureVector& weights() const { return weights_; }
  // "bias=-3.2 log_hand_ratio=4 ..." on one line, for reports.
  std::string DescribeWeights() const;

 private:
  FeatureVector weights_;
};

// One labelled example for training.
struct ScorerExample {
  StoryScorer::FeatureVector features;
  bool same_story = false;
  // Examples with the same group (the article's true story) stay on one
  // side of a cross-validation split.
  uint64_t group = 0;
};

struct ScorerTrainingOptions {
  double l2 = 10.0;     // ridge penalty on every weight but the bias
  int iterations = 50;  // Newton steps (converges in far fewer)
};

// Fits the logistic regression by Newton's method (iteratively reweighted
// least squares). Errors: kInvalidArgument when the examples hold only one
// class.
absl::StatusOr<StoryScorer> TrainStoryScorer(
    absl::Span<const ScorerExample> examples,
    const ScorerTrainingOptions& options = {});

// Cross-validated quality of training on `examples`: `folds` splits by
// group, each scored by the model trained on the others.
struct ScorerValidation {
  double log_loss = 0.0;  // mean over held-out examples
  double accuracy = 0.0;  // at probability 0.5
  int folds = 0;
};
absl::StatusOr<ScorerValidation> CrossValidateStoryScorer(
    absl::Span<const ScorerExample> examples, int folds,
    const ScorerTrainingOptions& options = {});

// The scorer shipped with newsdedup (next to the binary, or in the source
// tree's embeddings/models/).
std::string DefaultStoryScorerPath();

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_STORY_SCORER_H_
