// The engine proper: the class behind ClusteringEngine, its state first.
// Internal to services/ (LevelDB's db/db_impl.h is the model). Its methods
// live in files named for what they hold:
//
//   engine.cc            the public API: assign, find, delete, reads, stats
//   engine_decide.cc     where an article goes: normalise, embed, search
//                        the index, ask the join policy, record the answer
//   engine_stories.cc    the story table: members, representative, merges,
//                        and the views the API returns
//   engine_retention.cc  news time, shard expiry and retention
//   engine_recovery.cc   persistence: staging changes for the store, and
//                        rebuilding the engine from it
//   internal/join_policy.{h,cc}  the join and merge rules (pure functions)
//
// Locking: mu_ guards everything below it except what says otherwise.
// Embedding and the index search run without it (the index synchronises
// itself); decisions and updates hold it exclusively.
#ifndef NEWSDEDUP_SERVICES_ENGINE_ENGINE_IMPL_H_
#define NEWSDEDUP_SERVICES_ENGINE_ENGINE_IMPL_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "embeddings/embedder.h"
#include "newsdedup/storage/v1/state.pb.h"
#include "services/engine/change_feed.h"
#include "services/engine/engine.h"
#include "services/engine/engine_options.h"
#include "services/engine/engine_store.h"
#include "services/engine/internal/centroid.h"
#include "services/engine/internal/feed_log.h"
#include "services/engine/internal/interned_names.h"
#include "services/engine/internal/join_policy.h"
#include "services/engine/internal/numbered_deque.h"
#include "services/engine/internal/record_strings.h"
#include "services/engine/internal/stored_embedding.h"
#include "services/index/vector_index.h"

namespace newsdedup {
namespace internal {

class BackgroundIndexLoader;  // engine_recovery.cc

// An article's text after normalisation, and the hash of it that finds
// exact duplicates.
struct NormalizedText {
  std::string title;
  std::string body;
  std::vector<std::string> title_names;
  std::vector<std::string> body_names;
  std::string language;  // as the article gave it; may be empty
  // Whose word statistics weigh it: Article::collection, or the default
  // derived from the article's form.
  std::string collection;
  uint64_t hash = 0;
};

// Normalises an article's title and body. Errors: INVALID_ARGUMENT naming
// the field (empty id, invalid UTF-8, no text at all).
absl::StatusOr<NormalizedText> NormalizeArticle(const Article& article);

// Article::collection when valid, else DefaultCollection of its form.
// Errors: INVALID_ARGUMENT for more than kMaxCollectionBytes, a NUL byte
// or invalid UTF-8.
absl::StatusOr<std::string> CollectionOf(const Article& article);

class ClusteringEngineImpl final : public ClusteringEngine {
 public:
  ClusteringEngineImpl(const EngineOptions& options,
                       std::unique_ptr<Embedder> embedder,
                       std::unique_ptr<VectorIndex> index, EngineStore* store);

  // Rebuilds the engine from its store: clusters as stored, articles in
  // arrival order, embedded again (which also rebuilds the IDF statistics)
  // into the index and the centroids. Only called by the factory.
  absl::Status Recover();

  // Writes the index's graphs for the next start (engine_snapshot.cc),
  // once every change is durable. Only for an engine whose memory is the
  // store's state: the durable engine calls it when it closes, unless a
  // store write failed since it built this engine. Errors: the store's
  // and the file system's.
  absl::Status WriteIndexSnapshot() ABSL_LOCKS_EXCLUDED(mu_);

  // ClusteringEngine (engine.cc).
  absl::StatusOr<Assignment> Assign(const Article& article) override;
  std::vector<absl::StatusOr<Assignment>> AssignBatch(
      absl::Span<const Article> articles) override;
  absl::StatusOr<SimilarResult> FindSimilar(const Article& article,
                                            int k) const override;
  absl::Status DeleteArticle(absl::string_view article_id) override;
  absl::StatusOr<EditResult> Edit(const EditorialAction& action) override;
  absl::Status ForgetExpired() override;
  absl::StatusOr<std::string> ResolveClusterId(
      absl::string_view cluster_id) const override;
  absl::StatusOr<std::string> ResolveThreadId(
      absl::string_view thread_id) const override;
  absl::StatusOr<std::string> ClusterOfArticle(
      absl::string_view article_id) const override;
  absl::StatusOr<ArticleView> GetArticle(
      absl::string_view article_id) const override;
  absl::StatusOr<MemberPage> ClusterMembers(absl::string_view cluster_id,
                                            int offset,
                                            int limit) const override;
  absl::StatusOr<ClusterSummary> GetCluster(
      absl::string_view cluster_id) const override;
  std::vector<ClusterSummary> ListClusters(bool include_expired) const override;
  absl::Status Writable() const override;
  absl::StatusOr<EngineStore::BackupInfo> Backup(
      const std::string& backup_dir) override;
  absl::StatusOr<FeedPage> ReadFeed(const FeedQuery& query) const override;
  bool AwaitFeed(uint64_t after_cursor, absl::Duration timeout) const override;
  uint64_t FeedCursor() const override;
  EngineStats stats() const override;
  const EngineOptions& options() const override { return options_; }

 private:
  // The first answer an article got, without strings: articles and
  // clusters by number (numbers are never reused; a number whose record
  // was let go names nothing); its shared terms, joined by kTermSeparator,
  // are among the record's strings. A tenth of an Assignment's memory,
  // which matters at millions of articles; Expand() rebuilds the
  // Assignment.
  struct CompactAnswer {
    int64_t duplicate_of = -1;    // article
    int64_t nearest = -1;         // article
    int64_t runner_up = -1;       // cluster
    int64_t representative = -1;  // article
    float nearest_similarity = 0.0f;
    float cluster_similarity = 0.0f;
    float threshold = 0.0f;
    float runner_up_similarity = 0.0f;
    int32_t cluster_size = 0;
    int16_t version = 1;
    Relation relation = Relation::kNewStory;
  };

  static constexpr char kTermSeparator = '\x1f';
  // An answer's shared terms, joined by kTermSeparator.
  static std::string JoinedTerms(const Assignment& answer);

  // What the engine holds of an article. Fields are ordered to leave no
  // padding: a million of these are held.
  struct ArticleRecord {
    // Id, title, url and the first answer's shared terms.
    RecordStrings strings;
    absl::string_view id() const { return strings.id(); }
    absl::string_view title() const { return strings.title(); }
    absl::string_view url() const { return strings.url(); }

    int32_t source = -1;      // in sources_; -1 for none
    int32_t collection = -1;  // Article::collection in collections_
    // Its place in its live cluster's `members`, for O(1) removal.
    int32_t member_slot = -1;
    // Exact duplicates whose embedded_as is this article.
    int32_t sharers = 0;
    absl::Time published;
    uint64_t content_hash;
    int64_t cluster;  // as assigned; Resolve() for the live one
    // Index of the article whose embedding this one shares (itself unless
    // it is an exact duplicate, which is neither embedded nor indexed).
    int64_t embedded_as;
    StoredEmbedding embedding;  // what leaving its centroid needs
    int64_t index_bucket = 0;   // index shard holding its vector
    bool removed = false;       // deleted, or replaced by a new version
    CompactAnswer answer;       // the first answer, replayed on resend
    int64_t seq = 0;            // arrival number; its key in the store
    // When the engine received it (never decreasing along articles_):
    // retention counts from here.
    absl::Time received;
  };

  // A cluster (a story). Numbered by creation; the number is its index in
  // clusters_ and its key in the store.
  struct Cluster {
    std::string id;
    int64_t merged_into = -1;  // survivor cluster, or -1 while live
    std::vector<std::string> aliases;
    // Article indices; in arrival order until a member leaves (its place
    // goes to the last one, see RemoveMember).
    std::vector<int64_t> members;
    Centroid centroid;        // over embedded members only
    Centroid names_centroid;  // of their names-and-figures views
    int64_t total_words = 0;  // over embedded members
    int64_t representative = -1;
    std::vector<ClusterEvent> history;
    StorySpan span;  // publication times of its dated members
    // Editorial state (engine_editorial.cc). The representative stays
    // until unpinned or taken down.
    bool pinned = false;
    // Clusters this one must never merge with (by number; Resolve()).
    std::vector<int64_t> kept_apart;
    // Articles (by seq) an editor placed here; they name another cluster
    // in their own records.
    std::vector<int64_t> placed;
    // Threads (storylines) are a union-find over cluster numbers, older
    // roots surviving: the cluster this one's thread goes through, or -1
    // for a thread's root, whose number names the thread.
    int64_t thread_parent = -1;
    // Held articles whose record or first answer names this cluster (as
    // their story or runner-up): while any does, it stays, so that their
    // answers resolve. Derived from the articles, never stored.
    int32_t references = 0;
    // Clusters whose thread_parent is this one (derived, never stored).
    std::vector<int64_t> thread_children;
    // When its last member left (InfiniteFuture while it has members):
    // one retention after that, the story is forgotten (ForgetStories).
    absl::Time emptied = absl::InfiniteFuture();
    // When it last changed (MarkDirty), by the engine's clock.
    absl::Time last_changed = absl::InfinitePast();
  };

  // Where an embedded article belongs, computed without changing anything:
  // the join policy's choice (live clusters by number; story -1: start a
  // new one) and the neighbours it was made from.
  struct Decision {
    JoinChoice choice;
    int64_t nearest = -1;  // nearest live article within reach
    float nearest_similarity = 0.0f;
    // Neighbours within reach (JoinPolicy::InReach) with their exact
    // similarity, best first.
    std::vector<std::pair<int64_t, float>> neighbors;
    // What was measured for each candidate story (only with a scorer or
    // an on_candidates callback).
    std::vector<std::pair<int64_t, StoryEvidence>> evidence;
  };

  // Nearest articles from the index, and how many articles existed when
  // it was searched.
  struct Candidates {
    std::vector<Neighbor> hits;
    int64_t searched_articles = 0;
    // Where the article would be linked into the index (for_insert only).
    InsertHint insert_hint;
  };

  // A stored article read back, normalised and (unless its text was seen
  // before: an exact duplicate) embedded, ready to be put back.
  struct PreparedArticle {
    storage::v1::StoredArticle stored;
    Article article;
    absl::StatusOr<NormalizedText> text = absl::UnknownError("not prepared");
    std::optional<absl::StatusOr<Embedding>> embedding;
  };
  // An article read but not yet embedded: `text` may point into
  // prepared.text, so it stays in place (behind a pointer) until then.
  struct ReadArticle {
    PreparedArticle prepared;
    absl::StatusOr<std::unique_ptr<PreparedText>> text = nullptr;
  };

  // An answer naming an article stored after it (its current version is
  // newer), resolved once everything is loaded.
  struct ForwardReference {
    int64_t article;
    int64_t CompactAnswer::*field;
    std::string id;
  };

  // Hands stored articles to the recovery worker and prepared ones back
  // (engine_recovery.cc).
  class RecoveryQueue;

  // Stages the changes made while it lives, and reports the ticket to wait
  // for. Declared right after the lock, so it runs before the unlock and
  // batches reach the store in the order the engine made them.
  class StageOnExit {
   public:
    StageOnExit(ClusteringEngineImpl* engine, uint64_t* ticket)
        : engine_(engine), ticket_(ticket) {}
    StageOnExit(const StageOnExit&) = delete;
    StageOnExit& operator=(const StageOnExit&) = delete;
    ~StageOnExit() { *ticket_ = engine_->StageChanges(); }

   private:
    ClusteringEngineImpl* const engine_;
    uint64_t* const ticket_;
  };

  // Upper bound on cluster numbers read from a store (a sanity check).
  static constexpr int64_t kMaxClusters = int64_t{1} << 40;
  // How far news time may run ahead of the clock (see NewsClock).
  static constexpr absl::Duration kMaxClockLead = absl::Hours(24);

  // ----- State -----

  const EngineOptions options_;
  const JoinPolicy policy_{options_};
  const std::unique_ptr<Embedder> embedder_;
  // Time span of one index shard: the story window, so a query about the
  // present searches two shards (this window's and the last). Narrower
  // shards expire sooner (less memory) but every query then searches more
  // graphs, which costs more than one larger graph (search time grows with
  // the logarithm of size): half the window meant three graphs a query.
  const absl::Duration bucket_width_;
  EngineStore* const store_;  // not owned; null: memory only
  // The change feed; its staging half is ordered by mu_ (see feed_log.h).
  FeedLog feed_;

  mutable absl::Mutex mu_;
  // Synchronises itself: searches run without the engine's lock.
  const std::unique_ptr<VectorIndex> index_;
  // articles_.end(), readable without the lock: what a search started
  // without it may have missed is every article from here on.
  std::atomic<int64_t> num_articles_{0};
  // Assign calls under way (AssignNormalized): with more than one, a
  // caller skips the fast path rather than wait for the lock.
  std::atomic<int> assigns_in_flight_{0};
  // Grows without copying or doubling its footprint; retention lets the
  // forgotten front go.
  NumberedDeque<ArticleRecord> articles_ ABSL_GUARDED_BY(mu_);
  // Forgotten stories leave holes; numbers are never reused.
  NumberedTable<Cluster> clusters_ ABSL_GUARDED_BY(mu_);
  // Held articles by id, and the first held article of each text by its
  // content hash. The sets keep article numbers and hash and compare them
  // by their records' ids and content hashes: the keys are stored once, in
  // the records. As map keys they were stored twice, 32 bytes more per
  // article plus the id itself when longer than 15 bytes (a URL), and 8
  // more for the hash. A number stays in a set only while its record is
  // held and not removed.
  struct ArticleIdOf {
    const NumberedDeque<ArticleRecord>* articles;
    absl::string_view operator()(int64_t a) const {
      return (*articles)[a].id();
    }
    absl::string_view operator()(absl::string_view id) const { return id; }
  };
  // A content hash to look up (not an article number).
  struct ContentHash {
    uint64_t value;
  };
  struct ContentHashOf {
    const NumberedDeque<ArticleRecord>* articles;
    uint64_t operator()(int64_t a) const { return (*articles)[a].content_hash; }
    uint64_t operator()(ContentHash hash) const { return hash.value; }
  };
  template <typename KeyOf>
  struct RecordKeyHash {
    using is_transparent = void;
    KeyOf key_of;
    template <typename Key>
    size_t operator()(const Key& key) const {
      using Value = std::decay_t<decltype(key_of(key))>;
      return absl::Hash<Value>()(key_of(key));
    }
  };
  template <typename KeyOf>
  struct RecordKeyEq {
    using is_transparent = void;
    KeyOf key_of;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return key_of(a) == key_of(b);
    }
  };
  template <typename KeyOf>
  using RecordSet =
      absl::flat_hash_set<int64_t, RecordKeyHash<KeyOf>, RecordKeyEq<KeyOf>>;
  RecordSet<ArticleIdOf> article_by_id_ ABSL_GUARDED_BY(mu_){
      0, RecordKeyHash<ArticleIdOf>{{&articles_}},
      RecordKeyEq<ArticleIdOf>{{&articles_}}};
  RecordSet<ContentHashOf> article_by_hash_ ABSL_GUARDED_BY(mu_){
      0, RecordKeyHash<ContentHashOf>{{&articles_}},
      RecordKeyEq<ContentHashOf>{{&articles_}}};
  InternedNames sources_ ABSL_GUARDED_BY(mu_);
  InternedNames collections_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> cluster_by_id_ ABSL_GUARDED_BY(mu_);
  absl::Time newest_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t live_clusters_ ABSL_GUARDED_BY(mu_) = 0;
  EngineStats stats_ ABSL_GUARDED_BY(mu_);
  // Retention: articles_ before this index are forgotten or removed, and
  // the newest `received` time handed out.
  int64_t retention_cursor_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_received_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Emptied stories by (Cluster::emptied, number), oldest first; an entry
  // whose cluster was emptied again later, refilled or forgotten is stale.
  absl::btree_set<std::pair<absl::Time, int64_t>> emptied_stories_
      ABSL_GUARDED_BY(mu_);
  // Stories that became forgettable out of turn (their last reference or
  // thread child went): ForgetStories looks at them on its next sweep.
  std::vector<int64_t> recheck_stories_ ABSL_GUARDED_BY(mu_);

  // Durability: the next arrival number, and the changes of the operation
  // in progress (see StageChanges).
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<int64_t, const Article*>> new_articles_
      ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> deleted_seqs_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> dirty_clusters_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> forgotten_clusters_ ABSL_GUARDED_BY(mu_);
  uint64_t last_ticket_ ABSL_GUARDED_BY(mu_) = 0;

  // Embedding work, counted outside the lock.
  std::atomic<int64_t> embeddings_{0};
  std::atomic<int64_t> embedding_nanos_{0};

  // ----- engine.cc: helpers of the API -----

  // The engine's notion of now (options_.clock, or the wall clock).
  absl::Time Now() const {
    return options_.clock ? options_.clock() : absl::Now();
  }

  // INVALID_ARGUMENT for a publication time beyond options_.max_future_skew
  // ahead of the clock (undated articles pass).
  absl::Status CheckPublished(absl::Time published) const;

  // Back-pressure: a new id is refused while the engine holds
  // options_.max_articles, so that memory stays bounded whatever the
  // input rate (resends and new versions still pass).
  absl::Status CheckCapacity() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // ----- engine_decide.cc: where an article goes -----

  absl::StatusOr<Assignment> AssignAndStage(const Article& article,
                                            uint64_t* ticket);

  // Assign for a normalised article. `prepared`: the embedder's Prepare of
  // the text if done ahead, else null.
  absl::StatusOr<Assignment> AssignNormalized(const Article& article,
                                              const NormalizedText& text,
                                              const PreparedText* prepared,
                                              uint64_t* ticket);

  // Answers a resend or an exact duplicate of a new id; nullopt when the
  // article needs embedding (a new text, or a new version of a known id).
  std::optional<absl::StatusOr<Assignment>> AnswerWithoutEmbedding(
      const Article& article, const NormalizedText& text)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The assign's fast path: forgets what expired, then answers as
  // AnswerWithoutEmbedding; stages the changes for `ticket`.
  std::optional<absl::StatusOr<Assignment>> FastPathLocked(
      const Article& article, const NormalizedText& text, uint64_t* ticket)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The relation and explanation of an exact duplicate of `original`.
  Assignment ExactDuplicateAnswer(int64_t original) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Records `article` as an exact duplicate of `original`.
  Assignment AssignExactDuplicate(const Article& article, uint64_t hash,
                                  int64_t original, int version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::StatusOr<Assignment> AssignEmbedded(const Article& article,
                                            uint64_t hash, Embedding embedding,
                                            const Candidates& found,
                                            int64_t preferred, int version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  static EmbedInput EmbedInputOf(const NormalizedText& text);
  // Embeds `text` (from `prepared`, the embedder's Prepare of it, when
  // given); drops the views no decision of this engine reads.
  absl::StatusOr<Embedding> Embed(const NormalizedText& text, EmbedMode mode,
                                  const PreparedText* prepared = nullptr) const;

  // The index shard of publication time `t`.
  int64_t BucketOf(absl::Time t) const;

  // The k nearest articles in the story window of time `t`. `for_insert`:
  // the article will be added if its decision allows, so the search also
  // does the graph search of the insert, outside the exclusive lock.
  absl::StatusOr<Candidates> SearchIndex(const Embedding& embedding,
                                         absl::Time t, int k,
                                         bool for_insert) const;

  // Decides for an article published at `t`, from the index hits in
  // `found` plus every article embedded since that search. `preferred` is
  // the cluster of the article's previous version (or -1): it is kept while
  // it still reaches the join threshold, or when no other cluster does.
  absl::StatusOr<Decision> Decide(const Embedding& embedding, absl::Time t,
                                  const Candidates& found,
                                  int64_t preferred) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The cosine of `embedding` with the story's centroid; and in
  // *time_factor JoinPolicy::TimeFactor for a dated story, its bonus (a
  // factor under 1) scaled by the share of that cosine the story's own
  // words carry (EngineOptions::time_bonus_by_own_words).
  float Similarity(const Cluster& cluster, const Embedding& embedding,
                   absl::Time t, int newer_stories, float* time_factor) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // How many of the dated `candidates` began after dated `story` did and
  // by `t` (the article's time): the newer stories of
  // EngineOptions::days_per_newer_story.
  int NewerStories(int64_t story, absl::Span<const int64_t> candidates,
                   absl::Time t) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // What the scorer reads for the story `score` names, as the hand rule
  // scored it (d.neighbors filled).
  StoryEvidence Evidence(const Embedding& embedding, const ScoredStory& score,
                         const Decision& d) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Copies a decision's explanation into an answer.
  void FillDecision(const Decision& d, Assignment* answer) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // The words `embedding` shares with cluster `c` that weigh most.
  std::vector<std::string> SharedTerms(int64_t c,
                                       const Embedding& embedding) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Counts one new answer by its relation.
  void CountAnswer(Relation relation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ----- engine_stories.cc: the story table -----

  int64_t Resolve(int64_t c) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    while (clusters_[c].merged_into >= 0) c = clusters_[c].merged_into;
    return c;
  }

  // The root of cluster `c`'s thread, and the thread's id.
  int64_t ThreadRoot(int64_t c) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    while (clusters_[c].thread_parent >= 0) c = clusters_[c].thread_parent;
    return c;
  }
  std::string ThreadId(int64_t c) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Puts clusters `c` and `d` in one thread; the older root stays root.
  void JoinThreads(int64_t c, int64_t d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Joins story `c`'s thread with each candidate's whose centroid reaches
  // options_.thread_threshold (see EngineOptions).
  void LinkThreads(int64_t c, const std::vector<int64_t>& candidates)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const StoredEmbedding& EmbeddingOf(int64_t a) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return articles_[articles_[a].embedded_as].embedding;
  }

  // The record index of a live article. Errors: kNotFound.
  absl::StatusOr<int64_t> FindArticle(absl::string_view article_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // The live cluster a (possibly absorbed) cluster id belongs to.
  // Errors: kNotFound.
  absl::StatusOr<int64_t> FindLiveCluster(absl::string_view cluster_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // The index of the live article `id` (-1 for none or an empty id).
  int64_t IndexOfArticle(const std::string& id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  int64_t NewCluster() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // A record of `article` in cluster `c`, with the shared terms of its
  // answer (number, embedding and times unset).
  ArticleRecord NewRecord(const Article& article, uint64_t hash, int64_t c,
                          const Assignment& answer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Appends `record` as the next article and makes it a member of
  // `cluster`, findable by id and by text; returns its number.
  int64_t AppendRecord(ArticleRecord record, Cluster* cluster)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Stores the article as a member of live cluster `c` and completes the
  // answer with the cluster's view.
  Assignment Record(const Article& article, uint64_t hash, int64_t embedded_as,
                    int64_t c, Assignment answer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Takes article `a` out of its cluster, the index and the lookups. Exact
  // duplicates that shared its vector inherit it, so they stay findable.
  absl::Status RemoveArticle(int64_t a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Cluster membership in O(1) each way: a leaving member's place goes to
  // the last member. (Removal by search and erase cost O(cluster size),
  // which made new versions of articles in big stories ten times dearer
  // than new articles.)
  void AddMember(Cluster* cluster, int64_t a)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveMember(Cluster* cluster, int64_t a)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Adds an embedded article's vector to a cluster's centroid. The index
  // keeps its own copy of the dense vector; similarities and centroids use
  // the exact sparse vector (dense-only embedders: the dense one).
  static void AddToCentroid(Cluster* cluster, const StoredEmbedding& embedding);
  // Takes an embedded member's vector out of its cluster's centroid again.
  static void SubtractFromCentroid(Cluster* cluster,
                                   const StoredEmbedding& embedding);

  // After article `a` left live cluster `c`: an emptied cluster is no
  // longer live; if `a` was the representative (pinned or not), the
  // cluster elects another.
  void AfterMemberLeft(int64_t c, int64_t a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Drops the editor's placement of article `a`, if it has one (it is kept
  // with the cluster its record names now).
  void ForgetPlacement(int64_t a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Centrality: cosine between a member and its cluster's centroid.
  float Centrality(const Cluster& cluster, int64_t a) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // The story a cluster's majority of members first joined (the number
  // their records name; merges keep it), ties to the older: after a merge
  // of look-alike events, the event most of its articles report.
  int64_t MajorityOrigin(const Cluster& cluster) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // The most central embedded member of a non-empty cluster among those of
  // its MajorityOrigin, ties to the earliest: a representative is never a
  // headline of the smaller of two merged stories.
  int64_t MostCentral(const Cluster& cluster) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The same among the members whose records name `origin` (the earliest
  // member when none of them is embedded).
  int64_t MostCentralOf(const Cluster& cluster, int64_t origin) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Re-elects the most central member, ties to the earliest; the incumbent
  // keeps its place unless beaten by representative_margin. Full
  // re-election runs for small clusters and at powers of two; in between
  // only the newcomer challenges the incumbent (amortised O(1)).
  void UpdateRepresentative(int64_t c, int64_t newcomer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void SetRepresentative(int64_t c, int64_t a)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Merges every candidate cluster whose centroid has come close to
  // cluster `c`'s. Returns the live cluster `c` ended up in.
  int64_t MergeSimilar(int64_t c, const std::vector<int64_t>& candidates)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Moves everything of cluster `absorbed` into `survivor`; returns survivor.
  int64_t Absorb(int64_t survivor, int64_t absorbed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ----- engine_editorial.cc: editors' corrections -----

  // Validates and applies `action`; nothing changes on an error.
  absl::StatusOr<EditResult> EditLocked(const EditorialAction& action)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // A live cluster with members, for an editor. Errors: kNotFound,
  // kFailedPrecondition for one with no members left.
  absl::StatusOr<int64_t> FindEditableCluster(
      absl::string_view cluster_id) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Moves article `a` into live cluster `to`, centroid and all, and
  // records the placement so that a restart puts it there too.
  void MoveMember(int64_t a, int64_t to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // True when live clusters `c` and `d` may never merge.
  bool KeptApart(int64_t c, int64_t d) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Adds an editorial event to cluster `c`'s history and announces it.
  void RecordEdit(int64_t c, const EditorialAction& action,
                  std::string other_cluster, std::string article,
                  std::string detail) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Tells options_.on_story_change (if set).
  void Announce(const EngineOptions::StoryChange& change) const;
  void Announce(EngineOptions::StoryChange::Kind kind, std::string story_id,
                std::string article_id, std::string absorbed_id) const;

  // A change feed event about cluster `c`, with its thread and size; `a`
  // (-1: none) is the article it is about, whose collection is the
  // event's (the story's members' otherwise). Publish queues one for the
  // operation in progress (the store gets it with the operation's
  // changes).
  FeedEvent NewFeedEvent(FeedEvent::Kind kind, int64_t c, int64_t a) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void Publish(FeedEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    feed_.Add(std::move(event));
  }
  void Publish(FeedEvent::Kind kind, int64_t c, int64_t a)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    feed_.Add(NewFeedEvent(kind, c, a));
  }
  // The collections cluster `c`'s members gave, most members first.
  std::vector<std::string> StoryCollections(int64_t c) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Appends an event, timed now, to a cluster's history.
  void AddEvent(Cluster* cluster, ClusterEvent::Kind kind,
                std::string cluster_id, std::string article_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The answer in memory (CompactAnswer and the record's shared terms)
  // and back. SetAnswer: keeps `in` as article `a`'s first answer. Expand:
  // the first answer of article `a`; cluster_id is the cluster it was
  // assigned to (View() resolves merges).
  void SetAnswer(int64_t a, const Assignment& in)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Assignment Expand(int64_t a) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // The story's current representative and size, into an answer.
  void FillClusterView(int64_t c, Assignment* answer) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  ArticleView View(int64_t a) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  ClusterSummary Summarize(int64_t c, bool with_history = false) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // ----- engine_retention.cc: news time and retention -----

  // "Now" in news time: the newest publication time seen, but never more
  // than kMaxClockLead ahead of the clock, so that shard expiry follows no
  // article dated years ahead (where such dates are accepted, or stored
  // before they were refused). InfinitePast before any dated article.
  absl::Time NewsClock() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Drops index shards that no article in the window can reach any more.
  // Expiry follows the newest publication time seen, but never runs ahead
  // of the wall clock by more than a day: one article dated years ahead
  // (a feed's bad clock) must not expire or forget everything else.
  // Record() has already advanced newest_ past `t`.
  void ExpireOldShards(absl::Time t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // A time for a new record's `received`: `t`, but never before the last
  // one, so that articles_ stays in receiving order even if the clock
  // steps back (retention then walks it from the front).
  absl::Time ReceivedNow(absl::Time t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Retention: forgets every article received more than options_.retention
  // before now, in memory and in the store (the caller stages the change).
  // articles_ is in receiving order, so this walks a cursor from the front:
  // O(1) when nothing is due. Their clusters keep their ids (and aliases),
  // so answers already given still resolve; a cluster left empty is
  // reported as expired.
  void ForgetExpiredLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Stories: a story left without members (Cluster::emptied) is forgotten
  // one retention later, with the clusters merged into it, once no held
  // article's record or answer names any of them: its id is then unknown,
  // and its store record deleted. Younger stories whose thread went
  // through it link to the thread's root instead (which names the thread,
  // so it stays while another story is in its thread). Returns how many
  // stories went.
  int64_t ForgetStories(absl::Time cutoff) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Live cluster `root` and the clusters merged into it, when the story
  // may be forgotten at `cutoff`; empty otherwise.
  std::vector<int64_t> ForgettableStory(int64_t root, absl::Time cutoff) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // {c} when absorbed cluster `c` may be forgotten at `cutoff` (absorbed
  // before it, no held answer naming it) while its survivor lives on;
  // empty otherwise.
  std::vector<int64_t> ForgettableAlias(int64_t c, absl::Time cutoff) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Retention for a story's history: events before `cutoff` go, except
  // its creation and editors' actions (an audit trail, and rare), so a
  // story that lives for months keeps a retention's worth of
  // representative changes and merges, not every one. The caller marks
  // the cluster dirty.
  void ForgetOldEvents(Cluster* cluster, absl::Time cutoff)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Notes that live cluster `c` has no members from now on.
  void MarkEmptied(int64_t c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts (delta +1) or uncounts (-1) the clusters article `a`'s record
  // and first answer name in their `references`.
  void CountReferences(int64_t a, int delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ----- engine_recovery.cc: persistence -----

  absl::Status WaitDurable(uint64_t ticket);
  void MarkDirty(int64_t c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The mean length of a story's embedded members (duplicates share their
  // original's vector and are not counted twice), as the join and merge
  // thresholds read text length.
  static double MeanWords(const Cluster& cluster) {
    return static_cast<double>(cluster.total_words) /
           std::max(1.0, static_cast<double>(cluster.centroid.count()));
  }

  // Hands the changes of the current operation to the store; returns the
  // ticket that covers them (the last one staged when there are none: an
  // answer must not leave before the state it reflects is durable).
  uint64_t StageChanges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The article and cluster records as the store keeps them, and back.
  storage::v1::StoredArticle ToStored(int64_t a, const Article& article) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  storage::v1::StoredCluster ToStored(int64_t c) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  static absl::Status RestoreCluster(const storage::v1::StoredCluster& in,
                                     Cluster* out);

  // Every cluster number present, merge chains in range and loop-free:
  // Resolve() relies on both.
  absl::Status CheckRecoveredClusters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The expensive, engine-independent half of recovering an article, in
  // two steps on two threads. Reading (normalising, Embedder::Prepare)
  // needs no corpus statistics; embedding runs in store order (the IDF
  // statistics see the articles in the order they first did). `seen`
  // holds the text hashes met so far: exact duplicates share their
  // original's vector.
  std::unique_ptr<ReadArticle> ReadStoredArticle(
      storage::v1::StoredArticle stored) const;
  PreparedArticle EmbedReadArticle(std::unique_ptr<ReadArticle> read,
                                   absl::flat_hash_set<uint64_t>* seen) const;

  // Reads the index snapshot the last clean stop wrote, if it is of the
  // store at `stored_next_seq` and `stored_newest`, into the index; then
  // deletes it. Returns the bucket of every vector it held by article
  // seq; those vectors carry ProvisionalId(seq) until RecoverArticle
  // relabels them. Errors (the start then rebuilds the graphs): a damaged
  // snapshot or one of another store position or embedder.
  absl::StatusOr<absl::flat_hash_map<int64_t, int64_t>> ReadIndexSnapshot(
      int64_t stored_next_seq, absl::Time stored_newest,
      int64_t keep_from_bucket) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The id a snapshot gives the vector of the article with `seq`: stable
  // across restarts, unlike article numbers, and negative, unlike them.
  // Its own inverse: ProvisionalId(ProvisionalId(seq)) == seq.
  static int64_t ProvisionalId(int64_t seq);

  // The oldest bucket whose vectors a start indexes: older ones would
  // expire at once.
  int64_t OldestIndexedBucket() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Puts one prepared article back into its cluster and the lookups, and
  // its vector into the index: by relabelling it when `from_snapshot`
  // (seq -> bucket) holds it, else through `index_loader`.
  absl::Status RecoverArticle(
      PreparedArticle prepared, int64_t keep_from_bucket,
      absl::Time recovered_at, BackgroundIndexLoader* index_loader,
      absl::flat_hash_map<int64_t, int64_t>* from_snapshot,
      absl::flat_hash_map<int64_t, int64_t>* index_of_seq,
      std::vector<ForwardReference>* forward_references)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_ENGINE_IMPL_H_
