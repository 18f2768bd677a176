// The rules that decide whether an article joins a story and whether two
// stories merge. They are pure functions of EngineOptions and of the
// similarities the engine measured, so they are tested without an engine
// (join_policy_test.cc); the engine gathers the measurements and applies
// the choice. Internal to services/.
#ifndef NEWSDEDUP_SERVICES_ENGINE_INTERNAL_JOIN_POLICY_H_
#define NEWSDEDUP_SERVICES_ENGINE_INTERNAL_JOIN_POLICY_H_

#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "services/engine/article.h"
#include "services/engine/engine_options.h"

namespace newsdedup {
namespace internal {

// When a story's dated members were published. Undated stories (and
// undated articles) are never kept apart by time.
struct StorySpan {
  bool dated = false;
  absl::Time first_seen = absl::InfiniteFuture();
  absl::Time last_seen = absl::InfinitePast();

  // Widens the span to `t`; undated times change nothing.
  void Extend(absl::Time t);
  void Extend(const StorySpan& other);
};

// One candidate story, as the engine measured it for an article.
struct ScoredStory {
  int64_t story = -1;
  float similarity = 0.0f;  // article to the story's centroid
  float threshold = 0.0f;   // join threshold in force (time included)
  // The learned model's odds that the article belongs to the story; < 0
  // without a model.
  float odds = -1.0f;
  // False when the article is past the story's window (InWindow): the
  // story is a candidate for its thread only.
  bool joinable = true;
  // How far the story clears its bar; >= 1 means it may be joined: the
  // model's odds, else similarity over threshold; 0 when not joinable.
  float ratio() const {
    if (!joinable) return 0.0f;
    return odds >= 0 ? odds : similarity / threshold;
  }
};

// Everything a join decision depends on.
struct JoinQuestion {
  // Candidate stories, each once, in the order the neighbours named them;
  // `preferred` (if any) among them.
  std::vector<ScoredStory> candidates;
  int64_t nearest_story = -1;  // story of the nearest article; -1: none
  float nearest_similarity = 0.0f;
  // The story of the article's previous version, or -1.
  int64_t preferred = -1;
  bool preferred_has_members = false;
  float base_threshold = 0.0f;  // JoinThreshold of the article's length
};

struct JoinChoice {
  Relation relation = Relation::kNewStory;
  int64_t story = -1;       // story to join; -1: start a new one
  float similarity = 0.0f;  // to the chosen story
  float threshold = 0.0f;   // in force for it (base threshold for a new one)
  int64_t runner_up = -1;   // best other candidate
  float runner_up_similarity = 0.0f;
  // Other candidates, closest first, whose thread the story may join
  // (EngineOptions::thread_threshold); empty with threads off.
  std::vector<int64_t> thread_candidates;
  // Candidates close enough to the article to be worth a merge check with
  // the story it joins, closest first.
  std::vector<int64_t> merge_candidates;
};

class JoinPolicy {
 public:
  // `options` must outlive the policy.
  explicit JoinPolicy(const EngineOptions& options) : options_(options) {}

  // The similarity to a story's centroid an article of `num_words` needs
  // to join it: short texts need more (their vectors are noisier).
  float JoinThreshold(double num_words) const;

  // Multiplier of the join threshold for an article published at `t` next
  // to `story`: same_time_factor at no gap from the story's first article,
  // rising with the logarithm of the gap in days, to which each of
  // `newer_stories` (the article's candidate stories begun since the
  // story's first article) adds days_per_newer_story. Coverage of one event is
  // dense in its first days; a look-alike event weeks (or many events) later
  // must match much more closely, however many articles came in between. 1 when
  // either is undated.
  float TimeFactor(const StorySpan& story, absl::Time t,
                   int newer_stories = 0) const;

  // The bar `threshold` (the article's, time included) raised for an
  // article and a story of which one is dated and the other not: they
  // share no time evidence and come from different kinds of stream (an
  // archive of full texts, a live feed of headlines), so the join must also
  // clear the bar of the story's texts, `story_mean_words` long. A dated
  // headline joined an undated full-text story on "asia news on from"
  // (0.18 over 0.13), and every later headline of its own story followed.
  float MixedDatingThreshold(float threshold, const StorySpan& story,
                             absl::Time t, double story_mean_words) const;

  // Whether a feature of an article is one of a story's own words, for the
  // same-time bonus (EngineOptions::time_bonus_by_own_words): `df` of the
  // `documents` of the article's statistics hold it (the article
  // included), `members_with` of the story's `story_size` members. Own:
  // rare overall, or held mostly by the story's members (at most
  // own_word_story_multiple times the members that hold it, counting the
  // article). A large story's topic words (`apple`, `update` in a
  // 143-member iOS story) are frequent, but most of their documents are
  // other stories'.
  bool IsOwnWord(double df, double documents, double story_size,
                 double members_with) const;

  // True if `story` is near enough to an article published at `t` to be
  // among its candidates: within the story window of its nearest member.
  // Threads link such stories (a storyline goes on from story to story);
  // joining takes InWindow too.
  bool InReach(const StorySpan& story, absl::Time t) const;

  // True if an article published at `t` may join `story` at all: it is
  // within the story window of every dated member (of the first and the
  // last), so a story spans at most one window however it grew.
  bool InWindow(const StorySpan& story, absl::Time t) const;

  // The centroid similarity at which stories `a` and `b` join threads:
  // thread_threshold, times same_day_thread_factor when both are dated
  // and their days meet.
  float ThreadThreshold(const StorySpan& a, const StorySpan& b) const;

  // True if two stories are close enough in time to be merged.
  bool MayMerge(const StorySpan& a, const StorySpan& b) const;

  // The centroid similarity at which two stories whose embedded members
  // average `mean_words` merge.
  float MergeThreshold(double mean_words) const;

  // NEAR_DUPLICATE when the nearest article is close enough; else the
  // candidate that clears its threshold by the most (SAME_STORY); else a
  // new story. A new version stays in its previous story while that still
  // clears its threshold, or when no other story does.
  JoinChoice Choose(const JoinQuestion& question) const;

 private:
  // Interpolates log-linearly between the short- and long-text values.
  float LengthAdjusted(float short_value, float long_value,
                       double num_words) const;

  const EngineOptions& options_;
};

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_INTERNAL_JOIN_POLICY_H_
