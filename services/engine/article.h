// The article as the engine receives it, and the engine's answer for it.
#ifndef NEWSDEDUP_SERVICES_ENGINE_ARTICLE_H_
#define NEWSDEDUP_SERVICES_ENGINE_ARTICLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace newsdedup {

struct Article {
  std::string id;     // required, unique per article
  std::string title;  // required unless body is set
  std::string body;   // may be empty (headline-only feeds)
  std::string url;
  std::string source;  // outlet name, for counting distinct sources
  std::string language;
  // Whose document statistics weigh the article's words (a feed, source
  // group or tenant). Empty: derived from its form (DefaultCollection).
  std::string collection;
  // Publication time; absl::InfinitePast() when unknown. Undated articles
  // are compared with everything: no story window applies to them.
  absl::Time published = absl::InfinitePast();
};

// One byte: every held article's first answer keeps one.
enum class Relation : uint8_t {
  kNewStory,        // started a new cluster
  kSameStory,       // joined a cluster: different text, same event
  kNearDuplicate,   // a copy with small edits of `duplicate_of`
  kExactDuplicate,  // same normalised text as `duplicate_of`
};

// "NEW_STORY", "SAME_STORY", "NEAR_DUPLICATE" or "EXACT_DUPLICATE".
const char* RelationName(Relation relation);

// Whether `t` is a known time (Article::published and the times derived
// from it use absl::InfinitePast() for "unknown").
inline bool Dated(absl::Time t) { return t != absl::InfinitePast(); }

// Longest Article::collection accepted.
inline constexpr size_t kMaxCollectionBytes = 128;

// The collection of an article that names none, from what every article
// shows: "dated" when it has a publication time (live feeds), "undated"
// when it has none (archive pages, crawls, backfills). An archive of one
// kind of event should not make a live feed's common words look rare, nor
// the other way round. (Splitting headline-only from full-text articles
// was measured too and hurt: many one-sentence articles come as a title
// alone; docs/quality.md.)
absl::string_view DefaultCollection(absl::Time published);

struct Assignment {
  std::string article_id;
  std::string cluster_id;  // as assigned; later merges are resolved by
                           // ClusteringEngine::ResolveClusterId
  // The storyline the story belongs to (ClusterSummary::thread_id).
  std::string thread_id;
  Relation relation = Relation::kNewStory;
  std::string duplicate_of;  // set for the two duplicate relations
  // Nearest earlier article in the window and its cosine similarity
  // (empty / 0 when there was none).
  std::string nearest_article_id;
  float nearest_similarity = 0.0f;
  // Similarity to the chosen cluster's centroid and the threshold in force
  // for this article.
  float cluster_similarity = 0.0f;
  float threshold = 0.0f;
  // The best other candidate cluster and its centroid similarity (empty /
  // 0 when there was none): how close the decision was.
  std::string runner_up_cluster_id;
  float runner_up_similarity = 0.0f;
  // Words the article shares with the chosen cluster that weigh most in
  // their similarity, strongest first.
  std::vector<std::string> shared_terms;
  // The cluster's canonical representative and size after this article.
  std::string representative_id;
  std::string representative_title;
  int cluster_size = 0;
  // 1 for the first text sent under this id, then 2, 3, ... for updates.
  int version = 1;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_ARTICLE_H_
