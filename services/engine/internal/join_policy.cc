#include "services/engine/internal/join_policy.h"

#include <algorithm>
#include <cmath>

namespace newsdedup {
namespace internal {
namespace {

// Only candidate stories whose similarity to the new article reaches this
// share of their join threshold are checked for a merge with its story: a
// story the article barely resembles will not have come close to its
// story, and comparing two centroids costs O(vocabulary).
constexpr float kMergeCheckRatio = 0.5f;
constexpr size_t kMaxMergeChecks = 4;
// Thread checks compare whole centroids too; a thread needs only one link.
constexpr size_t kMaxThreadChecks = 4;

}  // namespace

void StorySpan::Extend(absl::Time t) {
  if (!Dated(t)) return;
  dated = true;
  first_seen = std::min(first_seen, t);
  last_seen = std::max(last_seen, t);
}

void StorySpan::Extend(const StorySpan& other) {
  if (!other.dated) return;
  dated = true;
  first_seen = std::min(first_seen, other.first_seen);
  last_seen = std::max(last_seen, other.last_seen);
}

float JoinPolicy::LengthAdjusted(float short_value, float long_value,
                                 double num_words) const {
  const double lo = std::log(std::max(1, options_.short_text_words));
  const double hi = std::log(
      std::max(options_.short_text_words + 1, options_.long_text_words));
  const double x = std::log(std::max(1.0, num_words));
  const double t = std::clamp((x - lo) / (hi - lo), 0.0, 1.0);
  return static_cast<float>(short_value + t * (long_value - short_value));
}

float JoinPolicy::JoinThreshold(double num_words) const {
  return LengthAdjusted(options_.short_text_threshold,
                        options_.long_text_threshold, num_words);
}

float JoinPolicy::MergeThreshold(double mean_words) const {
  return LengthAdjusted(options_.short_text_merge_threshold,
                        options_.long_text_merge_threshold, mean_words);
}

float JoinPolicy::TimeFactor(const StorySpan& story, absl::Time t,
                             int newer_stories) const {
  if (!Dated(t) || !story.dated) return 1.0f;
  // From the story's first article, its event: measured from its last
  // one, every join renewed the bonus, and at ten times the density a
  // story of one neighbourhood's shootings chained on for weeks.
  const absl::Duration gap =
      t > story.first_seen ? t - story.first_seen : story.first_seen - t;
  const double days = absl::ToDoubleHours(gap) / 24.0 +
                      options_.days_per_newer_story * newer_stories;
  return options_.same_time_factor +
         options_.time_penalty * static_cast<float>(std::log2(1.0 + days));
}

float JoinPolicy::MixedDatingThreshold(float threshold, const StorySpan& story,
                                       absl::Time t,
                                       double story_mean_words) const {
  if (Dated(t) == story.dated) return threshold;
  return std::max(threshold, JoinThreshold(story_mean_words));
}

bool JoinPolicy::IsOwnWord(double df, double documents, double story_size,
                           double members_with) const {
  if (df <= options_.own_word_df_share * documents) return true;
  return df <= options_.own_word_story_multiple *
                   std::min(story_size, members_with + 1);
}

bool JoinPolicy::InReach(const StorySpan& story, absl::Time t) const {
  if (!Dated(t) || !story.dated) return true;
  return t <= story.last_seen + options_.story_window &&
         t >= story.first_seen - options_.story_window;
}

bool JoinPolicy::InWindow(const StorySpan& story, absl::Time t) const {
  if (!Dated(t) || !story.dated) return true;
  // From both ends: no two members further apart than the window. From
  // the last member only, each join moved the window on, and at ten times
  // the density one story took in a month of one neighbourhood's
  // shootings, each a few days after the last.
  return t <= story.first_seen + options_.story_window &&
         t >= story.last_seen - options_.story_window;
}

float JoinPolicy::ThreadThreshold(const StorySpan& a,
                                  const StorySpan& b) const {
  const bool same_days = a.dated && b.dated &&
                         a.first_seen <= b.last_seen + absl::Hours(24) &&
                         b.first_seen <= a.last_seen + absl::Hours(24);
  return same_days ? options_.thread_threshold * options_.same_day_thread_factor
                   : options_.thread_threshold;
}

bool JoinPolicy::MayMerge(const StorySpan& a, const StorySpan& b) const {
  if (!a.dated || !b.dated) return true;
  return a.first_seen <= b.last_seen + options_.story_window &&
         b.first_seen <= a.last_seen + options_.story_window;
}

JoinChoice JoinPolicy::Choose(const JoinQuestion& q) const {
  auto score_of = [&q](int64_t story) -> const ScoredStory& {
    return *std::find_if(
        q.candidates.begin(), q.candidates.end(),
        [story](const ScoredStory& s) { return s.story == story; });
  };
  const ScoredStory* best = nullptr;
  for (const ScoredStory& s : q.candidates) {
    if (best == nullptr || s.ratio() > best->ratio()) best = &s;
  }

  JoinChoice d;
  if (q.nearest_story >= 0 &&
      q.nearest_similarity >= options_.near_duplicate_threshold) {
    d.relation = Relation::kNearDuplicate;
    d.story = q.nearest_story;
  } else if (best != nullptr && best->ratio() >= 1.0f) {
    d.relation = Relation::kSameStory;
    d.story = best->story;
  }
  if (q.preferred >= 0 && d.story != q.preferred &&
      (d.story < 0 || score_of(q.preferred).ratio() >= 1.0f)) {
    // A new version stays in its story unless it clearly left it.
    d.story = q.preferred;
    d.relation =
        q.preferred_has_members ? Relation::kSameStory : Relation::kNewStory;
  }
  if (d.relation == Relation::kNearDuplicate && d.story != q.nearest_story) {
    d.relation = Relation::kSameStory;
  }
  d.threshold = q.base_threshold;
  if (d.story >= 0) {
    d.similarity = score_of(d.story).similarity;
    d.threshold = score_of(d.story).threshold;
  }
  const ScoredStory* runner_up = nullptr;
  for (const ScoredStory& s : q.candidates) {
    if (s.story == d.story) continue;
    if (runner_up == nullptr || s.ratio() > runner_up->ratio()) runner_up = &s;
  }
  if (runner_up != nullptr) {
    d.runner_up = runner_up->story;
    d.runner_up_similarity = runner_up->similarity;
  }
  if (options_.thread_threshold > 0) {
    // The closest others by similarity: the stories a look-alike event's
    // article lands near, whatever their time.
    std::vector<const ScoredStory*> others;
    for (const ScoredStory& s : q.candidates) {
      if (s.story != d.story) others.push_back(&s);
    }
    std::sort(others.begin(), others.end(),
              [](const ScoredStory* a, const ScoredStory* b) {
                return a->similarity > b->similarity;
              });
    if (others.size() > kMaxThreadChecks) others.resize(kMaxThreadChecks);
    for (const ScoredStory* s : others) d.thread_candidates.push_back(s->story);
  }
  std::vector<const ScoredStory*> close;
  for (const ScoredStory& s : q.candidates) {
    if (s.ratio() >= kMergeCheckRatio) close.push_back(&s);
  }
  // The closest few only: each check compares two whole centroids.
  std::sort(close.begin(), close.end(),
            [](const ScoredStory* a, const ScoredStory* b) {
              return a->ratio() > b->ratio();
            });
  if (close.size() > kMaxMergeChecks) close.resize(kMaxMergeChecks);
  for (const ScoredStory* s : close) d.merge_candidates.push_back(s->story);
  return d;
}

}  // namespace internal
}  // namespace newsdedup
