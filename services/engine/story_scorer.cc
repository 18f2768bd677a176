#include "services/engine/story_scorer.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/shipped_file.h"

namespace newsdedup {
namespace {

constexpr absl::string_view kHeader = "newsdedup-story-scorer";
constexpr int kVersion = 1;
constexpr char kScorerFileName[] = "story_scorer.txt";

// Similarities below this count as this: their logarithm stays finite.
constexpr double kMinSimilarity = 1e-3;

double LogSimilarity(float s) {
  return std::log(std::max<double>(s, kMinSimilarity));
}

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// Solves a x = b for symmetric positive definite a (Cholesky); a and b
// are overwritten. False when a is not positive definite.
template <size_t N>
bool SolveSymmetric(std::array<std::array<double, N>, N>& a,
                    std::array<double, N>& b) {
  for (size_t j = 0; j < N; ++j) {
    double d = a[j][j];
    for (size_t k = 0; k < j; ++k) d -= a[j][k] * a[j][k];
    if (d <= 0) return false;
    a[j][j] = std::sqrt(d);
    for (size_t i = j + 1; i < N; ++i) {
      double s = a[i][j];
      for (size_t k = 0; k < j; ++k) s -= a[i][k] * a[j][k];
      a[i][j] = s / a[j][j];
    }
  }
  for (size_t i = 0; i < N; ++i) {  // L y = b
    for (size_t k = 0; k < i; ++k) b[i] -= a[i][k] * b[k];
    b[i] /= a[i][i];
  }
  for (size_t i = N; i-- > 0;) {  // L^T x = y
    for (size_t k = i + 1; k < N; ++k) b[i] -= a[k][i] * b[k];
    b[i] /= a[i][i];
  }
  return true;
}

double Dot(const StoryScorer::FeatureVector& w,
           const StoryScorer::FeatureVector& x) {
  double z = 0.0;
  for (size_t i = 0; i < w.size(); ++i) z += w[i] * x[i];
  return z;
}

}  // namespace

StoryScorer::FeatureVector StoryScorer::Features(const StoryEvidence& e) {
  // Headlines reach lower similarities than full articles on the same
  // story; the clamp keeps the length effect where the data has it.
  const double log_words =
      std::log(std::clamp(static_cast<double>(e.num_words), 10.0, 150.0));
  const double log_centroid = LogSimilarity(e.centroid_similarity);
  const bool names_missing = e.names_similarity < 0;
  return {1.0,
          log_centroid - std::log(std::max<double>(e.hand_threshold, 1e-3)),
          log_centroid,
          LogSimilarity(e.member_similarity),
          names_missing ? 0.0 : e.names_similarity,
          e.member_names_similarity < 0 ? 0.0 : e.member_names_similarity,
          names_missing ? 1.0 : 0.0,
          log_words,
          log_centroid * log_words,
          std::log(std::max(1, e.story_size))};
}

double StoryScorer::LogOdds(const StoryEvidence& evidence) const {
  return Dot(weights_, Features(evidence));
}

double StoryScorer::Probability(const StoryEvidence& evidence) const {
  return Sigmoid(LogOdds(evidence));
}

absl::StatusOr<StoryScorer> StoryScorer::Parse(absl::string_view text) {
  FeatureVector weights{};
  std::array<bool, kFeatureNames.size()> seen{};
  bool header = false;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("story scorer line ", line_number, ": ", what));
    };
    if (!header) {
      int version = 0;
      if (fields.size() != 2 || fields[0] != kHeader ||
          !absl::SimpleAtoi(fields[1], &version)) {
        return error(absl::StrCat("expected '", kHeader, " ", kVersion, "'"));
      }
      if (version != kVersion) {
        return error(absl::StrCat("version ", version, " (this build reads ",
                                  kVersion, ")"));
      }
      header = true;
      continue;
    }
    double value = 0.0;
    if (fields.size() != 2 || !absl::SimpleAtod(fields[1], &value) ||
        !std::isfinite(value)) {
      return error("expected 'FEATURE WEIGHT'");
    }
    auto named =
        std::find(kFeatureNames.begin(), kFeatureNames.end(), fields[0]);
    if (named == kFeatureNames.end()) {
      return error(absl::StrCat("unknown feature '", fields[0], "'"));
    }
    const size_t i = named - kFeatureNames.begin();
    weights[i] = value;
    seen[i] = true;
  }
  if (!header) return absl::InvalidArgumentError("story scorer: empty");
  for (size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("story scorer: no weight for '", kFeatureNames[i], "'"));
    }
  }
  return StoryScorer(weights);
}

absl::StatusOr<StoryScorer> StoryScorer::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the story scorer ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<StoryScorer> scorer = Parse(text.str());
  if (!scorer.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", scorer.status().message()));
  }
  return scorer;
}

std::string StoryScorer::Serialize(absl::string_view provenance) const {
  std::string out;
  for (absl::string_view line : absl::StrSplit(provenance, '\n')) {
    if (!line.empty()) absl::StrAppend(&out, "# ", line, "\n");
  }
  absl::StrAppend(&out, kHeader, " ", kVersion, "\n");
  for (size_t i = 0; i < kFeatureNames.size(); ++i) {
    absl::StrAppend(&out, kFeatureNames[i], " ",
                    absl::StrFormat("%.6g", weights_[i]), "\n");
  }
  return out;
}

std::string StoryScorer::DescribeWeights() const {
  std::string out;
  for (size_t i = 0; i < kFeatureNames.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : " ", kFeatureNames[i], "=",
                    absl::StrFormat("%.3g", weights_[i]));
  }
  return out;
}

absl::StatusOr<StoryScorer> TrainStoryScorer(
    absl::Span<const ScorerExample> examples,
    const ScorerTrainingOptions& options) {
  constexpr size_t kN = StoryScorer::kFeatureNames.size();
  size_t positives = 0;
  for (const ScorerExample& e : examples) positives += e.same_story;
  if (positives == 0 || positives == examples.size()) {
    return absl::InvalidArgumentError(
        "training needs examples of both kinds (same story and another "
        "story); give files with stories of more than one article");
  }
  StoryScorer::FeatureVector w{};
  for (int iteration = 0; iteration < options.iterations; ++iteration) {
    // Newton step on the penalised negative log-likelihood.
    std::array<std::array<double, kN>, kN> hessian{};
    std::array<double, kN> gradient{};
    for (const ScorerExample& e : examples) {
      const double p = Sigmoid(Dot(w, e.features));
      const double r = p - (e.same_story ? 1.0 : 0.0);
      const double v = std::max(p * (1 - p), 1e-9);
      for (size_t i = 0; i < kN; ++i) {
        gradient[i] += r * e.features[i];
        for (size_t j = 0; j <= i; ++j) {
          hessian[i][j] += v * e.features[i] * e.features[j];
        }
      }
    }
    for (size_t i = 0; i < kN; ++i) {
      for (size_t j = 0; j < i; ++j) hessian[j][i] = hessian[i][j];
      const double penalty = i == 0 ? 1e-6 : options.l2;
      hessian[i][i] += penalty;
      gradient[i] += penalty * w[i];
    }
    if (!SolveSymmetric(hessian, gradient)) {
      return absl::InternalError("logistic regression: singular system");
    }
    double step = 0.0;
    for (size_t i = 0; i < kN; ++i) {
      w[i] -= gradient[i];
      step = std::max(step, std::abs(gradient[i]));
    }
    if (step < 1e-8) break;
  }
  return StoryScorer(w);
}

absl::StatusOr<ScorerValidation> CrossValidateStoryScorer(
    absl::Span<const ScorerExample> examples, int folds,
    const ScorerTrainingOptions& options) {
  if (folds < 2) {
    return absl::InvalidArgumentError("cross-validation needs 2 folds or more");
  }
  ScorerValidation out;
  out.folds = folds;
  int64_t scored = 0, correct = 0;
  for (int fold = 0; fold < folds; ++fold) {
    std::vector<ScorerExample> train;
    std::vector<const ScorerExample*> held_out;
    for (const ScorerExample& e : examples) {
      // A hash of the group, not the group itself: groups are often
      // numbered in order.
      const uint64_t mixed = (e.group + 1) * 0x9E3779B97F4A7C15ULL;
      if (static_cast<int>((mixed >> 33) % folds) == fold) {
        held_out.push_back(&e);
      } else {
        train.push_back(e);
      }
    }
    absl::StatusOr<StoryScorer> model = TrainStoryScorer(train, options);
    if (!model.ok()) return model.status();
    for (const ScorerExample* e : held_out) {
      const double p = std::clamp(Sigmoid(Dot(model->weights(), e->features)),
                                  1e-12, 1 - 1e-12);
      out.log_loss -= std::log(e->same_story ? p : 1 - p);
      correct += (p >= 0.5) == e->same_story;
      ++scored;
    }
  }
  if (scored > 0) {
    out.log_loss /= static_cast<double>(scored);
    out.accuracy = static_cast<double>(correct) / static_cast<double>(scored);
  }
  return out;
}

std::string DefaultStoryScorerPath() {
#ifdef NEWSDEDUP_DEFAULT_SCORER_PATH
  return ShippedFilePath(kScorerFileName, NEWSDEDUP_DEFAULT_SCORER_PATH);
#else
  return ShippedFilePath(kScorerFileName, "");
#endif
}

}  // namespace newsdedup
