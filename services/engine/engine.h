// The clustering engine: turns a stream of articles into story clusters.
//
// For each article: normalise; exact-duplicate lookup by a hash of the
// normalised text; embed; fetch the nearest live articles within the story
// window from the time-sharded index; decide NEAR_DUPLICATE (very close to
// one article), SAME_STORY (close enough to a cluster's centroid) or
// NEW_STORY; update the cluster, its representative, and merge clusters that
// have come to describe the same story (the older id survives; the absorbed
// id stays an alias, so every answer already given still resolves).
//
//   ASSIGN_OR_RETURN(auto embedder, NewLexicalEmbedder({}));
//   ASSIGN_OR_RETURN(auto engine,
//                    ClusteringEngine::Create(EngineOptions(),
//                                             std::move(embedder)));
//   ASSIGN_OR_RETURN(Assignment a, engine->Assign(article));
//   ASSIGN_OR_RETURN(std::string story,
//   engine->ResolveClusterId(a.cluster_id));
//
// Thread safety: all methods may be called concurrently. Embedding and the
// index search (which the index synchronises itself) run outside the
// engine's lock, so callers embed and search in parallel with each other
// and with decisions; the decision and the update run under the exclusive
// lock, and a decision also scores every article added since its search
// began, so concurrent callers see one consistent order of assignments.
#ifndef NEWSDEDUP_SERVICES_ENGINE_ENGINE_H_
#define NEWSDEDUP_SERVICES_ENGINE_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "embeddings/embedder.h"
#include "services/engine/article.h"
#include "services/engine/change_feed.h"
#include "services/engine/engine_options.h"
#include "services/engine/engine_store.h"

namespace newsdedup {

// Something that happened to a cluster, for its history.
struct ClusterEvent {
  enum class Kind {
    kCreated,                // first article; `article_id` is it
    kAbsorbed,               // cluster `cluster_id` was merged into this one
    kRepresentativeChanged,  // `article_id` became the representative
    kEdited,                 // an editor's action (the fields below)
  };
  Kind kind = Kind::kCreated;
  absl::Time time;  // wall-clock time of the event
  std::string cluster_id;
  std::string article_id;
  // kEdited: EditorialActionName of the action, who did it and why, and
  // what it did in words ("moved a1 here from story-3").
  std::string action;
  std::string editor;
  std::string reason;
  std::string detail;
};

// "CREATED", "ABSORBED", "REPRESENTATIVE_CHANGED" or "EDITED".
const char* ClusterEventKindName(ClusterEvent::Kind kind);

// An editor's correction of the clusters (docs/editorial.md). The engine
// respects it from then on: a split-off group is kept apart from the
// cluster it left, a pinned representative stays through new members and
// merges, clusters kept apart never merge (automatically, or through later
// articles), and a moved article stays where the editor put it unless a
// new version of it changes its content.
struct EditorialAction {
  enum class Kind {
    kMergeClusters,        // cluster_id into target_cluster_id (whose id
                           // stays; cluster_id then resolves to it)
    kSplitCluster,         // article_ids leave cluster_id for a new cluster
    kMoveArticle,          // article_id to target_cluster_id
    kPinRepresentative,    // article_id stays cluster_id's representative
    kUnpinRepresentative,  // cluster_id's representative is elected again
    kKeepApart,            // cluster_id and target_cluster_id never merge
    kAllowMerging,         // undoes kKeepApart
  };
  Kind kind = Kind::kMergeClusters;
  std::string cluster_id;
  std::string target_cluster_id;
  std::string article_id;
  std::vector<std::string> article_ids;
  std::string editor;  // who: the name on the caller's credential
  std::string reason;  // why: required
};

// "merge", "split", "move", "pin", "unpin", "keep_apart", "allow_merging".
const char* EditorialActionName(EditorialAction::Kind kind);

struct EditResult {
  // The live cluster the action leaves its articles in: the target of a
  // merge or move, the new cluster of a split, the cluster itself
  // otherwise.
  std::string cluster_id;
};

struct ClusterSummary {
  std::string cluster_id;
  // The storyline: stories of one topic (look-alike events, the talks
  // around a summit) share it. Named after the thread's oldest story
  // ("thread-3" began with "story-3"); stable like cluster ids (a merge
  // of two threads keeps the older id).
  std::string thread_id;
  std::vector<std::string> aliases;  // ids of clusters merged into this one
  int size = 0;                      // articles, duplicates included
  int num_sources = 0;               // distinct non-empty sources
  // The sources with the most members, most first (at most kTopSources).
  std::vector<std::string> top_sources;
  static constexpr int kTopSources = 10;
  // Every collection its members gave (Article::collection), most members
  // first: a tenant's or feed's stories are those that name it.
  std::vector<std::string> collections;
  std::string representative_id;
  std::string representative_title;
  absl::Time first_seen = absl::InfinitePast();
  absl::Time last_seen = absl::InfinitePast();
  // When the story last changed, by the engine's clock: an article joined
  // or left (a backfilled one too), its representative, thread or
  // editorial state changed, it absorbed another story. ListClusters'
  // updated_since compares with this.
  absl::Time last_changed = absl::InfinitePast();
  std::vector<ClusterEvent> history;  // oldest first; GetCluster only
  // Recent growth: members published in the last kTimelineHours hours
  // before the newest article the engine has seen, and the same per hour
  // (oldest hour first). Zero for undated clusters.
  static constexpr int kTimelineHours = 24;
  int recent_articles = 0;
  std::vector<int> timeline;
  // The time they count back from: the newest publication time the engine
  // has seen (a replay of archived news has its own "now", and the clock
  // would show it empty). InfinitePast before any dated article.
  absl::Time timeline_end = absl::InfinitePast();
  // No members left: all past the retention, or taken down. The id (and
  // its aliases) still resolve for one more retention, then the story is
  // forgotten (NOT_FOUND) unless an article still held names it.
  bool expired = false;
};

// An article as the engine stores it.
struct ArticleView {
  std::string id;
  std::string title;
  std::string source;
  std::string url;
  std::string collection;  // as the article gave it (may be empty)
  absl::Time published = absl::InfinitePast();
  // The relation and explanation the article first received, with its
  // story (cluster_id), that story's representative and size as they are
  // now, after merges and later members.
  Assignment assignment;
};

// One page of a cluster's members, in arrival order.
struct MemberPage {
  std::vector<ArticleView> members;
  int total = 0;  // members over all pages
};

// A live article near a query, for FindSimilar.
struct SimilarArticle {
  std::string article_id;
  std::string cluster_id;  // its live cluster
  float similarity = 0.0f;
  std::string title;
  std::string representative_title;  // of its live cluster
};

struct SimilarResult {
  std::vector<SimilarArticle> neighbors;  // most similar first
  Assignment would_be;
};

struct EngineStats {
  int64_t articles = 0;
  int64_t live_clusters = 0;  // non-empty clusters not absorbed by a merge
  int64_t merges = 0;
  int64_t exact_duplicates = 0;
  int64_t near_duplicates = 0;
  int64_t updates = 0;  // new versions of known ids
  int64_t deletions = 0;
  int64_t indexed_vectors = 0;  // vectors in the live (windowed) index
  int index_shards = 0;
  int64_t forgotten = 0;  // articles past the retention, since start
  // Stories forgotten a retention after their last article left, since
  // start.
  int64_t forgotten_stories = 0;
  // Answers by relation (resends not counted).
  int64_t new_stories = 0;
  int64_t same_story = 0;
  // Embedding work of Assign, since start.
  int64_t embeddings = 0;
  double embedding_seconds = 0.0;
  // Vectors per live index shard: (time bucket, size).
  std::vector<std::pair<int64_t, int64_t>> shard_sizes;
  // Removed vectors graph shards keep as waypoints (VectorIndex).
  int64_t index_waypoints = 0;
  // Change batches waiting to become durable (0 without a store).
  int64_t store_pending = 0;
  // Articles read back from the store at start, and how long that took.
  int64_t recovered_articles = 0;
  double recovery_seconds = 0.0;
  // Of their vectors, those whose graph links came from the index snapshot
  // of the last clean stop instead of being built again; and why a
  // snapshot found at start was not used ("" when none was refused).
  int64_t snapshot_vectors = 0;
  std::string snapshot_refused;
  // Stories whose stored representative was not one of their articles;
  // the recovery chose the most central member instead (`admin check`
  // reports them).
  int64_t repaired_representatives = 0;
};

// Orders in which stories are listed.
enum class ClusterOrder {
  kSize,          // largest first (ties: oldest first): ListClusters' own
  kLastUpdate,    // most recent last_seen first
  kRecentGrowth,  // most recent_articles first (ties: larger first)
};

// Re-orders `clusters`, as ListClusters() returns them, into `order`.
void SortClusters(ClusterOrder order, std::vector<ClusterSummary>* clusters);

class ClusteringEngine {
 public:
  // With a `store`, every change is durable before its answer leaves, and
  // the engine starts from what the store holds (see engine_store.h).
  // Errors: kInvalidArgument for inconsistent options or a null embedder;
  // kDataLoss for a store whose records are damaged or inconsistent.
  static absl::StatusOr<std::unique_ptr<ClusteringEngine>> Create(
      const EngineOptions& options, std::unique_ptr<Embedder> embedder,
      std::unique_ptr<EngineStore> store = nullptr);

  virtual ~ClusteringEngine() = default;

  // Assigns one article to a story and returns the answer. Every change
  // first forgets what the retention has expired (ForgetExpired).
  // Re-sending an id with the same content returns the answer of its
  // current version again, as GetArticle gives it (its story,
  // representative and size as they are now).
  // The same id with different content is a new version: it replaces the
  // old text (in the index, the centroid and the duplicate lookup), keeps
  // its cluster unless it now clearly belongs elsewhere (the old cluster no
  // longer reaches the join threshold and another does), and answers with
  // `version` incremented.
  // Errors: kInvalidArgument for a missing id, text that is empty after
  // normalisation, invalid UTF-8 (the message names the field), or a
  // publication time beyond options().max_future_skew ahead of the clock;
  // kInternal if the index fails.
  virtual absl::StatusOr<Assignment> Assign(const Article& article) = 0;

  // Assigns `articles` in order, with the answers consecutive Assign calls
  // would give, one per article (an error for a rejected one), but uses a
  // second thread: normalising and reading the texts runs ahead of the
  // searches and decisions. Answers return once all are durable.
  virtual std::vector<absl::StatusOr<Assignment>> AssignBatch(
      absl::Span<const Article> articles) = 0;

  // Dry run of Assign: the `k` nearest live articles that share a word
  // with it (similarity above 0) and the answer the article would get, changing
  // nothing (statistics included). In the answer, cluster_id is empty for
  // NEW_STORY and article_id is the request's. Errors: as Assign.
  virtual absl::StatusOr<SimilarResult> FindSimilar(const Article& article,
                                                    int k) const = 0;

  // Takedown: the article leaves the index, the duplicate lookup and its
  // cluster (whose representative is re-elected if it was this one); its id
  // becomes unknown, so it may be sent again as a new article. A cluster
  // left empty keeps its id but is no longer listed.
  // Errors: kNotFound for an unknown id; kInternal if the index fails.
  virtual absl::Status DeleteArticle(absl::string_view article_id) = 0;

  // Applies an editor's action (see EditorialAction), recorded with who,
  // when and why in the history of each cluster it touches, durable like
  // any change. Errors, with nothing changed: kInvalidArgument for a
  // missing reason or editor, a merge of a cluster into itself, a split of
  // no member or of every member, a move to the article's own cluster, a
  // pin of an article that is not a member; kNotFound for an unknown
  // cluster or article id; kFailedPrecondition for a cluster with no
  // members left, or a merge of clusters kept apart; the store's errors,
  // as for Assign.
  virtual absl::StatusOr<EditResult> Edit(const EditorialAction& action) = 0;

  // The live cluster a (possibly absorbed) cluster id now belongs to.
  // Errors: kNotFound for an unknown id.
  virtual absl::StatusOr<std::string> ResolveClusterId(
      absl::string_view cluster_id) const = 0;

  // The thread a thread id now belongs to: itself, or the older thread it
  // joined (ClusterSummary::thread_id). Errors: kNotFound for an unknown id.
  virtual absl::StatusOr<std::string> ResolveThreadId(
      absl::string_view thread_id) const = 0;

  // The live cluster of an article. Errors: kNotFound for an unknown id.
  virtual absl::StatusOr<std::string> ClusterOfArticle(
      absl::string_view article_id) const = 0;

  // A stored article. Errors: kNotFound for an unknown id.
  virtual absl::StatusOr<ArticleView> GetArticle(
      absl::string_view article_id) const = 0;

  // Members [offset, offset + limit) of a live or absorbed cluster (resolved
  // to the live one), in arrival order. Errors: kNotFound for an unknown id;
  // kInvalidArgument for a negative offset or limit.
  virtual absl::StatusOr<MemberPage> ClusterMembers(
      absl::string_view cluster_id, int offset, int limit) const = 0;

  // Summary of one live or absorbed cluster (resolved to the live one),
  // expired ones included. Errors: kNotFound for an unknown id.
  virtual absl::StatusOr<ClusterSummary> GetCluster(
      absl::string_view cluster_id) const = 0;

  // Live clusters, largest first (ties: oldest first); expired ones (no
  // members left) only when `include_expired`.
  virtual std::vector<ClusterSummary> ListClusters(
      bool include_expired) const = 0;
  std::vector<ClusterSummary> ListClusters() const {
    return ListClusters(/*include_expired=*/false);
  }

  // Runs the retention now (it also runs at every change): forgets the
  // articles received more than options().retention ago. Errors: the
  // store's, as for Assign.
  virtual absl::Status ForgetExpired() = 0;

  // OK while changes can be made durable; otherwise why not (kUnavailable;
  // see EngineStore::Writable). Changes are refused, unchanged, meanwhile.
  virtual absl::Status Writable() const = 0;

  // A consistent backup of the store in `backup_dir` (see
  // EngineStore::Backup), while the engine goes on. Errors:
  // kFailedPrecondition without a store; the store's.
  virtual absl::StatusOr<EngineStore::BackupInfo> Backup(
      const std::string& backup_dir) = 0;

  // The change feed's events after query.after_cursor that the query's
  // filters take, up to query.max_events (see change_feed.h). Errors:
  // kOutOfRange for a cursor older than the feed keeps (resync from
  // ListClusters); kInvalidArgument for max_events below 1; the store's.
  virtual absl::StatusOr<FeedPage> ReadFeed(const FeedQuery& query) const = 0;
  // Waits up to `timeout` for an event after `after_cursor` to become
  // readable; true once one is (at once if one is already), false when
  // the time ran out. A watcher reads, then waits, then reads again.
  virtual bool AwaitFeed(uint64_t after_cursor,
                         absl::Duration timeout) const = 0;
  // The newest feed cursor given: every state read afterwards reflects the
  // events up to it (a consumer that lists the clusters watches from it).
  virtual uint64_t FeedCursor() const = 0;

  virtual EngineStats stats() const = 0;
  virtual const EngineOptions& options() const = 0;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_ENGINE_H_
