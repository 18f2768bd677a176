// Configuration of the clustering engine: every threshold in one place.
//
// The defaults are the shipped configuration, chosen on three labelled sets
// of very different shape (headlines only; full text without dates; full
// text about near-identical events, dated) and checked on held-out stories:
// one configuration for all inputs, with no per-file tuning. See
// docs/quality.md for how they were measured.
#ifndef NEWSDEDUP_SERVICES_ENGINE_ENGINE_OPTIONS_H_
#define NEWSDEDUP_SERVICES_ENGINE_ENGINE_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/engine/story_scorer.h"
#include "services/index/vector_index.h"

namespace newsdedup {

struct EngineOptions {
  // Articles further apart in time than this never join the same story, and
  // index shards older than this (behind the newest article) stop being
  // searched. Longer windows follow slow stories; shorter ones keep
  // look-alike events (two shootings in one town a month apart) apart.
  absl::Duration story_window = absl::Hours(24 * 7);

  // Articles received longer than this ago (by `clock`, from when the
  // engine accepted them, not from their publication date: a backfill of
  // old news is kept as long as fresh news) are forgotten: removed from
  // memory and from the store. Their clusters keep their ids, so earlier
  // answers still resolve; a cluster left without members is reported as
  // expired. Must be at least the story window; infinite keeps everything
  // (batch tools); the server sets its own default (`--retention-days`).
  absl::Duration retention = absl::InfiniteDuration();

  // Publication times further than this ahead of `clock` are refused with
  // INVALID_ARGUMENT (a feed with a bad clock), so that no single article
  // can move the story window or the timelines into the future. Infinite
  // accepts every date: batch tools replay files whose dates have nothing
  // to do with the wall clock; the server sets 24 hours (`newsdedup
  // serve`).
  absl::Duration max_future_skew = absl::InfiniteDuration();

  // The engine's clock: when articles were received, the retention cutoff
  // and the future-date check. Null: the wall clock. Tests and log replays
  // supply their own.
  std::function<absl::Time()> clock;

  // On a replica: the sequence of the log entry being applied. Written
  // into the store's meta record with that entry's changes (one atomic
  // batch), so the store says which entry its state reflects. Null: none.
  // Set, the engine also keeps a removed article's word counts in the
  // statistics until the next checkpoint entry rebuilds them on every
  // replica alike (elsewhere they go with the article).
  std::function<uint64_t()> log_sequence;

  // Called after every retention sweep that forgot articles (under the
  // engine's lock: it must not call the engine). The server logs it.
  struct RetentionSweep {
    int64_t articles = 0;         // forgotten by this sweep
    int64_t expired_stories = 0;  // stories it left without members
    // Stories emptied more than a retention ago that it let go
    // (ClusteringEngine::GetCluster: NOT_FOUND from then on).
    int64_t forgotten_stories = 0;
    absl::Time cutoff;  // articles received before this were forgotten
  };
  std::function<void(const RetentionSweep&)> on_retention_sweep;

  // Called for every takedown, merge of two stories and change of a
  // story's representative, as it happens (under the engine's lock: it
  // must not call the engine). The server logs them, without article text.
  struct StoryChange {
    enum class Kind { kTakedown, kMerge, kRepresentativeChanged, kEdited };
    Kind kind = Kind::kTakedown;
    std::string story_id;     // the story changed (a merge's survivor)
    std::string article_id;   // taken down, or the new representative
    std::string absorbed_id;  // kMerge: the story merged into story_id
    // kEdited: the editor's action (EditorialActionName), who and why, and
    // what it did.
    std::string action;
    std::string editor;
    std::string reason;
    std::string detail;
  };
  std::function<void(const StoryChange&)> on_story_change;

  // The change feed (change_feed.h) keeps the newest this many events: in
  // the store, or (without one) the newest few thousand in memory.
  int64_t feed_events = 1'000'000;

  // Builds the nearest-neighbour index from the options the engine derives
  // (dimension, exact_search_limit, index_search_breadth). Null: the
  // time-sharded graph index (NewTimeShardedIndex). Tests pass a fake;
  // any VectorIndex works.
  std::function<absl::StatusOr<std::unique_ptr<VectorIndex>>(
      const VectorIndexOptions&)>
      new_index;

  // Most articles held at once; past it, new ids are refused with
  // RESOURCE_EXHAUSTED until retention frees room (back-pressure instead
  // of growing until the process is killed). About 2 KiB of memory per
  // headline-sized article (docs/performance.md), so the default bounds
  // the engine near 20 GiB.
  int64_t max_articles = 10'000'000;

  // How fast the join threshold rises with the gap between an article and
  // the cluster's first article: multiplied by 1 + time_penalty * log2(1 +
  // gap in days). Lets a long window follow slow stories without letting
  // look-alike events weeks apart fuse.
  float time_penalty = 0.2f;

  // The gap the time penalty counts also grows by this many days for
  // every newer look-alike story: each dated candidate story (one the
  // article's nearest neighbours are in) whose first article came after
  // the story's. Days alone make the time evidence depend on the feed's
  // density: at ten times the articles an hour, ten events of a kind
  // happen "the same day", and an old story took in the next shootings of
  // its neighbourhood. Counted in newer events of its kind, a story ages
  // as fast on a busy feed as on a quiet one. 0: days alone.
  float days_per_newer_story = 1.0f;

  // Multiplier of the join threshold for a dated article published on the
  // same day as a dated cluster (the time penalty grows from here).
  // Publication times close together are evidence of one event, so below
  // 1 this lowers the bar for close articles; undated articles and clusters
  // always use 1.
  float same_time_factor = 0.4f;
  // The same-time bonus (1 - the factor above) counts only in proportion
  // to the share of the article's match with the story carried by the
  // story's own words: features that at most `own_word_df_share` of the
  // documents hold, or at most `own_word_story_multiple` times the
  // story's members that hold them (most of their documents are the
  // story's; JoinPolicy::IsOwnWord). A join on
  // topic or stop words alone gets the plain threshold, however close in
  // time: on a busy feed such neighbours are always near, and stories
  // chained through them. False: the whole bonus, whatever is shared.
  bool time_bonus_by_own_words = true;
  float own_word_df_share = 0.01f;
  float own_word_story_multiple = 2.0f;

  // The learned join decision (services/engine/story_scorer.h): an article
  // joins the candidate story it gives the highest probability when that is at
  // least one half. Null: the hand-set thresholds below, still the
  // default: the learned model does not beat them yet (docs/quality.md).
  std::shared_ptr<const StoryScorer> scorer;

  // Called, under the engine's lock, with what was measured for each
  // candidate story of an article before it is placed (`train-scorer`
  // labels these). Must not call the engine.
  struct CandidateStory {
    absl::string_view article_id;
    absl::string_view story_id;
    StoryEvidence evidence;
  };
  std::function<void(absl::Span<const CandidateStory>)> on_candidates;

  // Nearest articles fetched from the index per new article; their clusters
  // are the candidates. More neighbours find more candidate stories at a
  // linear search cost.
  int neighbors = 24;

  // Cosine to the nearest article at or above which an article is a
  // NEAR_DUPLICATE (a syndicated or lightly edited copy).
  float near_duplicate_threshold = 0.85f;

  // Cosine to a cluster's centroid needed to join it. Short texts share few
  // words with any centroid, so the threshold depends on the article's
  // length in distinct words: `short_text_threshold` up to
  // `short_text_words`, `long_text_threshold` from `long_text_words`, and
  // log-linear in between. Lower thresholds gather more of a story (recall)
  // at the risk of swallowing a look-alike event (precision).
  //
  // With a `scorer`, these thresholds and the time factors below are not
  // used: the learned model decides.
  float short_text_threshold = 0.13f;
  float long_text_threshold = 0.24f;
  int short_text_words = 10;
  int long_text_words = 150;

  // Two live clusters whose centroids reach this cosine describe the same
  // story and are merged: the older id survives, the younger becomes an
  // alias. Length-dependent like the join threshold, by the clusters' mean
  // article length. Lower values repair more split stories and risk fusing
  // look-alike events.
  float short_text_merge_threshold = 0.25f;
  float long_text_merge_threshold = 0.50f;

  // Stories form threads (storylines: the look-alike events of one topic,
  // a summit put on hold and the talks around it). After each article,
  // the story it is in joins the thread of each of the closest other
  // candidate stories whose centroid reaches this cosine, with no time
  // factor: a story holds the days of one event, a thread links the
  // stories the candidate search finds (the story window; undated
  // articles reach every story).
  // Merged stories' threads merge; the older thread's id survives. 0 keeps
  // every story in a thread of its own.
  float thread_threshold = 0.25f;
  // Two dated stories whose days meet (one's first article within a day of
  // the other's last) join threads at thread_threshold times this: two
  // look-alike events of one topic on the same days (two earthquakes, two
  // check-ins of one star) belong to one storyline though their stories
  // stay apart. 1: time counts for nothing.
  float same_day_thread_factor = 0.9f;

  // Nearest-neighbour index: a time shard is searched exactly until it
  // holds `exact_search_limit` vectors, then rebuilt as an HNSW graph
  // searched with breadth `index_search_breadth` (see VectorIndexOptions).
  // Recall against exact search and speed are measured in
  // docs/performance.md.
  int64_t exact_search_limit = 8192;
  int index_search_breadth = 64;

  // A member replaces the representative only when its centrality (cosine
  // to the centroid) beats the current one's by this much; keeps the
  // representative stable while a story grows.
  float representative_margin = 0.02f;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_ENGINE_OPTIONS_H_
