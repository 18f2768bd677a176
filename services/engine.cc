#include "services/engine.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <limits>
#include <optional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "common/time_format.h"
#include "embeddings/normalizer.h"
#include "services/engine_store.h"
#include "services/internal/centroid.h"
#include "services/internal/engine_factory.h"
#include "services/vector_index.h"

namespace newsdedup {

const char* ClusterEventKindName(ClusterEvent::Kind kind) {
  switch (kind) {
    case ClusterEvent::Kind::kCreated:
      return "CREATED";
    case ClusterEvent::Kind::kAbsorbed:
      return "ABSORBED";
    case ClusterEvent::Kind::kRepresentativeChanged:
      return "REPRESENTATIVE_CHANGED";
  }
  return "UNKNOWN";
}

void SortClusters(ClusterOrder order, std::vector<ClusterSummary>* clusters) {
  // Stable: ties keep ListClusters' order (by size, then age).
  switch (order) {
    case ClusterOrder::kSize:
      return;
    case ClusterOrder::kLastUpdate:
      std::stable_sort(clusters->begin(), clusters->end(),
                       [](const ClusterSummary& a, const ClusterSummary& b) {
                         return a.last_seen > b.last_seen;
                       });
      return;
    case ClusterOrder::kRecentGrowth:
      std::stable_sort(clusters->begin(), clusters->end(),
                       [](const ClusterSummary& a, const ClusterSummary& b) {
                         return a.recent_articles > b.recent_articles;
                       });
      return;
  }
}

namespace {

// Full re-election of the representative is cheap for small clusters; for
// large ones it runs when the size reaches a power of two, and in between
// only the newcomer is compared with the incumbent (amortised O(1)).
constexpr int kAlwaysReelectBelow = 64;

// Only candidate clusters whose similarity to the new article reaches this
// share of their join threshold are checked for a merge with its cluster:
// a cluster the article barely resembles will not have come close to its
// story, and comparing two centroids costs O(vocabulary).
constexpr float kMergeCheckRatio = 0.5f;
constexpr size_t kMaxMergeChecks = 4;

bool IsPowerOfTwo(int n) { return n > 0 && (n & (n - 1)) == 0; }

struct NormalizedText {
  std::string title;
  std::string body;
  std::vector<std::string> title_names;
  std::vector<std::string> body_names;
  uint64_t hash = 0;
};

absl::StatusOr<NormalizedText> NormalizeArticle(const Article& article) {
  if (article.id.empty()) {
    return absl::InvalidArgumentError("id: must not be empty");
  }
  NormalizedText text;
  absl::StatusOr<std::string> title = NormalizeText(article.title);
  if (!title.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("title: ", title.status().message()));
  }
  absl::StatusOr<std::string> body = NormalizeText(article.body);
  if (!body.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("body: ", body.status().message()));
  }
  text.title = *std::move(title);
  text.body = *std::move(body);
  // Both texts are valid UTF-8 (they normalised), so these cannot fail.
  text.title_names =
      ExtractNameWords(article.title).value_or(std::vector<std::string>());
  text.body_names =
      ExtractNameWords(article.body).value_or(std::vector<std::string>());
  if (text.title.empty() && text.body.empty()) {
    return absl::InvalidArgumentError(
        "title: article has no text (title and body are empty after "
        "normalisation)");
  }
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  XXH3_64bits_update(state, text.title.data(), text.title.size());
  XXH3_64bits_update(state, "\x1f", 1);  // keeps "ab"+"c" apart from "a"+"bc"
  XXH3_64bits_update(state, text.body.data(), text.body.size());
  text.hash = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return text;
}

class ClusteringEngineImpl final : public ClusteringEngine {
 public:
  ClusteringEngineImpl(const EngineOptions& options,
                       std::unique_ptr<Embedder> embedder,
                       std::unique_ptr<VectorIndex> index, EngineStore* store)
      : options_(options),
        embedder_(std::move(embedder)),
        bucket_width_(std::max(absl::Hours(1), options.story_window)),
        store_(store),
        index_(std::move(index)) {}

  // The engine's notion of now (options_.clock, or the wall clock).
  absl::Time Now() const {
    return options_.clock ? options_.clock() : absl::Now();
  }

  absl::StatusOr<Assignment> Assign(const Article& article) override {
    uint64_t ticket = 0;
    absl::StatusOr<Assignment> answer = AssignAndStage(article, &ticket);
    // The answer leaves only once the state it reflects is durable.
    RETURN_IF_ERROR(WaitDurable(ticket));
    return answer;
  }

  std::vector<absl::StatusOr<Assignment>> AssignBatch(
      absl::Span<const Article> articles) override {
    // A worker thread normalises each article and reads its text
    // (Embedder::Prepare, no corpus statistics needed) ahead of this
    // thread, which assigns them in order exactly as Assign would.
    struct Ahead {
      absl::StatusOr<NormalizedText> text = absl::UnknownError("not read");
      absl::StatusOr<std::unique_ptr<PreparedText>> prepared = nullptr;
    };
    if (articles.size() == 1) return {Assign(articles[0])};
    std::vector<Ahead> ahead(articles.size());
    absl::Mutex mu;
    size_t ready = 0;  // guarded by mu
    std::thread reader([&] {
      for (size_t i = 0; i < articles.size(); ++i) {
        // In place: the prepared text may point into the normalised one.
        // This thread writes element i only, the other reads elements
        // below `ready` only.
        Ahead& a = ahead[i];
        a.text = NormalizeArticle(articles[i]);
        if (a.text.ok()) a.prepared = embedder_->Prepare(EmbedInputOf(*a.text));
        absl::MutexLock lock(&mu);
        ready = i + 1;
      }
    });
    std::vector<absl::StatusOr<Assignment>> answers;
    answers.reserve(articles.size());
    uint64_t last_ticket = 0;
    for (size_t i = 0; i < articles.size(); ++i) {
      {
        absl::MutexLock lock(&mu);
        auto is_ready = [&ready, i]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return ready > i;
        };
        mu.Await(absl::Condition(&is_ready));
      }
      Ahead& a = ahead[i];
      uint64_t ticket = 0;
      if (!a.text.ok()) {
        answers.push_back(a.text.status());
      } else if (!a.prepared.ok()) {
        answers.push_back(a.prepared.status());
      } else {
        answers.push_back(
            AssignNormalized(articles[i], *a.text, a.prepared->get(), &ticket));
      }
      last_ticket = std::max(last_ticket, ticket);
      a = Ahead();  // frees the text early
    }
    reader.join();
    const absl::Status durable = WaitDurable(last_ticket);
    if (!durable.ok()) {
      for (auto& answer : answers) {
        if (answer.ok()) answer = durable;
      }
    }
    return answers;
  }

  // Rebuilds the engine from its store: clusters as stored, articles in
  // arrival order, embedded again (which also rebuilds the IDF statistics)
  // into the index and the centroids. Only called by Create().
  absl::Status Recover() {
    absl::MutexLock lock(&mu_);
    const absl::Time start = absl::Now();
    const absl::Time recovered_at = Now();
    int64_t keep_from_bucket = std::numeric_limits<int64_t>::min();
    std::vector<int64_t> representative_seq;
    absl::flat_hash_map<int64_t, int64_t> index_of_seq;
    bool clusters_checked = false;
    std::vector<ForwardReference> forward_references;
    EngineStore::Visitor visitor;
    visitor.meta = [&](const storage::v1::StoreMeta& meta) {
      next_seq_ = meta.next_seq();
      if (meta.has_newest()) {
        newest_ = absl::FromUnixNanos(meta.newest_unix_nanos());
        // Vectors of shards that expiry would drop are not indexed at all.
        keep_from_bucket = BucketOf(newest_ - options_.story_window) - 1;
      }
      return absl::OkStatus();
    };
    visitor.cluster = [&](const storage::v1::StoredCluster& stored) {
      if (stored.number() < 0 || stored.number() >= kMaxClusters) {
        return absl::DataLossError(
            absl::StrCat("store: cluster number ", stored.number()));
      }
      const size_t c = static_cast<size_t>(stored.number());
      if (c >= clusters_.size()) {
        clusters_.resize(c + 1);
        representative_seq.resize(c + 1, -1);
      }
      RestoreCluster(stored, &clusters_[c]);
      cluster_by_id_[stored.id()] = static_cast<int64_t>(c);
      representative_seq[c] = stored.representative_seq();
      return absl::OkStatus();
    };
    // Articles go through two stages on two cores: a worker thread
    // normalises and embeds them (in store order), this thread puts them
    // back into the index, the clusters and the lookups.
    RecoveryQueue queue;
    std::thread worker([this, &queue] {
      absl::flat_hash_set<uint64_t> seen;
      while (std::optional<storage::v1::StoredArticle> stored = queue.Take()) {
        queue.Done(PrepareArticle(*std::move(stored), &seen));
      }
    });
    absl::Status applied = absl::OkStatus();
    auto apply = [&](PreparedArticle prepared) {
      if (applied.ok()) {
        applied =
            RecoverArticle(std::move(prepared), keep_from_bucket, recovered_at,
                           &index_of_seq, &forward_references);
      }
    };
    visitor.article = [&](const storage::v1::StoredArticle& stored) {
      if (!clusters_checked) {
        RETURN_IF_ERROR(CheckRecoveredClusters());
        clusters_checked = true;
      }
      queue.Put(stored);
      while (std::optional<PreparedArticle> ready = queue.Ready()) {
        apply(*std::move(ready));
      }
      return applied;
    };
    absl::Status loaded = store_->Load(visitor);
    queue.Close();
    while (std::optional<PreparedArticle> ready = queue.Next()) {
      apply(*std::move(ready));
    }
    worker.join();
    RETURN_IF_ERROR(loaded);
    RETURN_IF_ERROR(applied);
    if (!clusters_checked) RETURN_IF_ERROR(CheckRecoveredClusters());
    for (const ForwardReference& ref : forward_references) {
      articles_[ref.article].answer.*ref.field = IndexOfArticle(ref.id);
    }
    for (size_t c = 0; c < clusters_.size(); ++c) {
      Cluster& cluster = clusters_[c];
      if (cluster.merged_into >= 0) {
        ++stats_.merges;
        continue;
      }
      if (cluster.members.empty()) continue;
      ++live_clusters_;
      auto rep = index_of_seq.find(representative_seq[c]);
      cluster.representative =
          rep != index_of_seq.end() &&
                  Resolve(articles_[rep->second].cluster) ==
                      static_cast<int64_t>(c)
              ? rep->second
              : MostCentral(cluster);
    }
    stats_.recovered_articles = static_cast<int64_t>(articles_.size());
    stats_.recovery_seconds = absl::ToDoubleSeconds(absl::Now() - start);
    return absl::OkStatus();
  }

  absl::StatusOr<Assignment> AssignAndStage(const Article& article,
                                            uint64_t* ticket) {
    ASSIGN_OR_RETURN(NormalizedText text, NormalizeArticle(article));
    return AssignNormalized(article, text, /*prepared=*/nullptr, ticket);
  }

  // Assign for a normalised article. `prepared`: the embedder's Prepare of
  // the text if done ahead, else null.
  absl::StatusOr<Assignment> AssignNormalized(const Article& article,
                                              const NormalizedText& text,
                                              const PreparedText* prepared,
                                              uint64_t* ticket) {
    RETURN_IF_ERROR(CheckPublished(article.published));
    // A change the store could not keep is refused before it is made.
    RETURN_IF_ERROR(Writable());
    {
      // Fast path without embedding: resend or exact duplicate.
      absl::MutexLock lock(&mu_);
      StageOnExit stage(this, ticket);
      ForgetExpiredLocked();
      if (auto answer = AnswerWithoutEmbedding(article, text)) return *answer;
    }
    const absl::Time embed_start = absl::Now();
    ASSIGN_OR_RETURN(Embedding embedding,
                     prepared != nullptr ? embedder_->EmbedPrepared(
                                               *prepared, EmbedMode::kObserve)
                                         : Embed(text, EmbedMode::kObserve));
    embeddings_.fetch_add(1, std::memory_order_relaxed);
    embedding_nanos_.fetch_add(
        absl::ToInt64Nanoseconds(absl::Now() - embed_start),
        std::memory_order_relaxed);
    // The index search, the most expensive step, runs without the engine's
    // lock (the index has its own), so concurrent callers search in
    // parallel and while decisions are made; the decision takes the
    // exclusive lock and also considers every article added since.
    ASSIGN_OR_RETURN(Candidates found, SearchIndex(embedding, article.published,
                                                   options_.neighbors,
                                                   /*for_insert=*/true));
    absl::MutexLock lock(&mu_);
    StageOnExit stage(this, ticket);
    ForgetExpiredLocked();
    // Another caller may have sent the same id or text meanwhile.
    if (auto answer = AnswerWithoutEmbedding(article, text)) return *answer;
    auto known = article_by_id_.find(article.id);
    if (known == article_by_id_.end()) {
      RETURN_IF_ERROR(CheckCapacity());
      return AssignEmbedded(article, text.hash, std::move(embedding), found,
                            /*preferred=*/-1, /*version=*/1);
    }
    // A new version of a known article: the old text leaves first.
    const int64_t old = known->second;
    const int version = articles_[old].answer.version + 1;
    const int64_t preferred = Resolve(articles_[old].cluster);
    RETURN_IF_ERROR(RemoveArticle(old));
    ++stats_.updates;
    auto same_text = article_by_hash_.find(text.hash);
    if (same_text != article_by_hash_.end()) {
      return AssignExactDuplicate(article, text.hash, same_text->second,
                                  version);
    }
    return AssignEmbedded(article, text.hash, std::move(embedding), found,
                          preferred, version);
  }

  absl::StatusOr<SimilarResult> FindSimilar(const Article& article,
                                            int k) const override {
    if (k < 0) return absl::InvalidArgumentError("k: must be >= 0");
    RETURN_IF_ERROR(CheckPublished(article.published));
    ASSIGN_OR_RETURN(NormalizedText text, NormalizeArticle(article));
    ASSIGN_OR_RETURN(Embedding embedding, Embed(text, EmbedMode::kReadOnly));
    absl::ReaderMutexLock lock(&mu_);
    ASSIGN_OR_RETURN(Candidates found,
                     SearchIndex(embedding, article.published,
                                 std::max(k, options_.neighbors),
                                 /*for_insert=*/false));
    ASSIGN_OR_RETURN(Decision decision,
                     Decide(embedding, article.published, found,
                            /*preferred=*/-1));
    SimilarResult result;
    for (const auto& [a, similarity] : decision.neighbors) {
      if (static_cast<int>(result.neighbors.size()) >= k) break;
      result.neighbors.push_back({articles_[a].id,
                                  clusters_[Resolve(articles_[a].cluster)].id,
                                  similarity});
    }
    Assignment& answer = result.would_be;
    auto known = article_by_id_.find(article.id);
    auto same_text = article_by_hash_.find(text.hash);
    if (known != article_by_id_.end() &&
        articles_[known->second].content_hash == text.hash) {
      answer = View(known->second).assignment;  // a resend
    } else if (same_text != article_by_hash_.end()) {
      const int64_t original = same_text->second;
      answer.relation = Relation::kExactDuplicate;
      answer.duplicate_of = articles_[original].id;
      answer.nearest_article_id = articles_[original].id;
      answer.nearest_similarity = 1.0f;
      answer.cluster_id = clusters_[Resolve(articles_[original].cluster)].id;
    } else {
      FillDecision(decision, &answer);
      if (decision.cluster >= 0) {
        answer.cluster_id = clusters_[decision.cluster].id;
        answer.shared_terms = SharedTerms(decision.cluster, embedding);
        FillClusterView(decision.cluster, &answer);
      }
    }
    answer.article_id = article.id;
    return result;
  }

  absl::Status DeleteArticle(absl::string_view article_id) override {
    RETURN_IF_ERROR(Writable());
    uint64_t ticket = 0;
    {
      absl::MutexLock lock(&mu_);
      StageOnExit stage(this, &ticket);
      ForgetExpiredLocked();
      ASSIGN_OR_RETURN(const int64_t a, FindArticle(article_id));
      const std::string story = clusters_[Resolve(articles_[a].cluster)].id;
      RETURN_IF_ERROR(RemoveArticle(a));
      ++stats_.deletions;
      Announce({EngineOptions::StoryChange::Kind::kTakedown, story,
                std::string(article_id), std::string()});
    }
    return WaitDurable(ticket);
  }

  absl::Status ForgetExpired() override {
    RETURN_IF_ERROR(Writable());
    uint64_t ticket = 0;
    {
      absl::MutexLock lock(&mu_);
      StageOnExit stage(this, &ticket);
      ForgetExpiredLocked();
    }
    return WaitDurable(ticket);
  }

  absl::StatusOr<std::string> ResolveClusterId(
      absl::string_view cluster_id) const override {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(const int64_t c, FindLiveCluster(cluster_id));
    return clusters_[c].id;
  }

  absl::StatusOr<std::string> ClusterOfArticle(
      absl::string_view article_id) const override {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(const int64_t a, FindArticle(article_id));
    return clusters_[Resolve(articles_[a].cluster)].id;
  }

  absl::StatusOr<ArticleView> GetArticle(
      absl::string_view article_id) const override {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(const int64_t a, FindArticle(article_id));
    return View(a);
  }

  absl::StatusOr<MemberPage> ClusterMembers(absl::string_view cluster_id,
                                            int offset,
                                            int limit) const override {
    if (offset < 0 || limit < 0) {
      return absl::InvalidArgumentError("offset and limit must be >= 0");
    }
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(const int64_t c, FindLiveCluster(cluster_id));
    // Merges append the absorbed members; arrival order is article order.
    std::vector<int64_t> members = clusters_[c].members;
    std::sort(members.begin(), members.end());
    MemberPage page;
    page.total = static_cast<int>(members.size());
    for (int i = offset; i < page.total && i - offset < limit; ++i) {
      page.members.push_back(View(members[i]));
    }
    return page;
  }

  absl::StatusOr<ClusterSummary> GetCluster(
      absl::string_view cluster_id) const override {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(const int64_t c, FindLiveCluster(cluster_id));
    return Summarize(c, /*with_history=*/true);
  }

  std::vector<ClusterSummary> ListClusters(
      bool include_expired) const override {
    absl::MutexLock lock(&mu_);
    std::vector<ClusterSummary> out;
    for (size_t c = 0; c < clusters_.size(); ++c) {
      if (clusters_[c].merged_into < 0 &&
          (include_expired || !clusters_[c].members.empty())) {
        out.push_back(Summarize(c));
      }
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const ClusterSummary& a, const ClusterSummary& b) {
                       return a.size > b.size;
                     });
    return out;
  }

  absl::Status Writable() const override {
    return store_ != nullptr ? store_->Writable() : absl::OkStatus();
  }

  absl::StatusOr<EngineStore::BackupInfo> Backup(
      const std::string& backup_dir) override {
    if (store_ == nullptr) {
      return absl::FailedPreconditionError(
          "the engine keeps nothing on disk (--in-memory): nothing to back up");
    }
    // The store backs up what is durable; nothing here needs the lock.
    return store_->Backup(backup_dir);
  }

  EngineStats stats() const override {
    absl::MutexLock lock(&mu_);
    EngineStats s = stats_;
    s.articles = static_cast<int64_t>(article_by_id_.size());
    s.live_clusters = live_clusters_;
    s.indexed_vectors = index_->size();
    s.index_shards = index_->num_shards();
    s.shard_sizes = index_->ShardSizes();
    s.embeddings = embeddings_.load(std::memory_order_relaxed);
    s.embedding_seconds =
        embedding_nanos_.load(std::memory_order_relaxed) * 1e-9;
    if (store_ != nullptr) s.store_pending = store_->pending();
    return s;
  }

  const EngineOptions& options() const override { return options_; }

 private:
  // The first answer an article got, without strings: articles and
  // clusters by index (records are never erased, so indices stay valid),
  // shared terms in one string. A tenth of an Assignment's memory, which
  // matters at millions of articles; Expand() rebuilds the Assignment.
  struct CompactAnswer {
    std::string shared_terms;     // joined by kTermSeparator
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

  struct ArticleRecord {
    std::string id;
    std::string title;
    int32_t source = -1;  // in source_names_; -1 for none
    // Its place in its live cluster's `members`, for O(1) removal.
    int32_t member_slot = -1;
    absl::Time published;
    uint64_t content_hash;
    int64_t cluster;  // as assigned; Resolve() for the live one
    // Index of the article whose embedding this one shares (itself unless
    // it is an exact duplicate, which is neither embedded nor indexed).
    int64_t embedded_as;
    Embedding embedding;       // sparse part only, once indexed
    int64_t index_bucket = 0;  // index shard holding its vector
    bool removed = false;      // deleted, or replaced by a new version
    // Exact duplicates whose embedded_as is this article.
    int32_t sharers = 0;
    CompactAnswer answer;  // the first answer, replayed on resend
    int64_t seq = 0;       // arrival number; its key in the store
    // When the engine received it (never decreasing along articles_):
    // retention counts from here.
    absl::Time received;
  };

  struct Cluster {
    std::string id;
    int64_t merged_into = -1;  // survivor cluster, or -1 while live
    std::vector<std::string> aliases;
    // Article indices; in arrival order until a member leaves (its place
    // goes to the last one, see RemoveMember).
    std::vector<int64_t> members;
    internal::Centroid centroid;  // over embedded members only
    int64_t total_words = 0;      // over embedded members
    int64_t representative = -1;
    std::vector<ClusterEvent> history;
    absl::Time first_seen = absl::InfiniteFuture();
    absl::Time last_seen = absl::InfinitePast();
    bool dated = false;
  };

  // Upper bound on cluster numbers read from a store (a sanity check).
  static constexpr int64_t kMaxClusters = int64_t{1} << 40;

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

  absl::Status WaitDurable(uint64_t ticket) {
    if (store_ == nullptr || ticket == 0) return absl::OkStatus();
    return store_->WaitDurable(ticket);
  }

  void MarkDirty(int64_t c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (store_ != nullptr) dirty_clusters_.push_back(c);
  }

  // Hands the changes of the current operation to the store; returns the
  // ticket that covers them (the last one staged when there are none: an
  // answer must not leave before the state it reflects is durable).
  uint64_t StageChanges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (store_ == nullptr) return 0;
    if (new_articles_.empty() && deleted_seqs_.empty() &&
        dirty_clusters_.empty()) {
      return last_ticket_;
    }
    EngineStore::Batch batch;
    for (const auto& [a, article] : new_articles_) {
      if (!articles_[a].removed) {
        batch.put_articles.push_back(ToStored(a, *article));
      }
    }
    batch.delete_articles = std::move(deleted_seqs_);
    std::sort(dirty_clusters_.begin(), dirty_clusters_.end());
    dirty_clusters_.erase(
        std::unique(dirty_clusters_.begin(), dirty_clusters_.end()),
        dirty_clusters_.end());
    for (int64_t c : dirty_clusters_) batch.put_clusters.push_back(ToStored(c));
    batch.meta.set_next_seq(next_seq_);
    if (Dated(newest_)) {
      batch.meta.set_has_newest(true);
      batch.meta.set_newest_unix_nanos(absl::ToUnixNanos(newest_));
    }
    new_articles_.clear();
    deleted_seqs_.clear();
    dirty_clusters_.clear();
    last_ticket_ = store_->Stage(std::move(batch));
    return last_ticket_;
  }

  storage::v1::StoredArticle ToStored(int64_t a, const Article& article) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const ArticleRecord& record = articles_[a];
    storage::v1::StoredArticle out;
    out.set_seq(record.seq);
    out.set_id(article.id);
    out.set_title(article.title);
    out.set_body(article.body);
    out.set_url(article.url);
    out.set_source(article.source);
    out.set_language(article.language);
    if (Dated(article.published)) {
      out.set_dated(true);
      out.set_published_unix_nanos(absl::ToUnixNanos(article.published));
    }
    out.set_cluster(record.cluster);
    out.set_content_hash(record.content_hash);
    out.set_received_unix_nanos(absl::ToUnixNanos(record.received));
    const Assignment in = Expand(a);
    storage::v1::StoredAnswer* answer = out.mutable_answer();
    answer->set_cluster_id(in.cluster_id);
    answer->set_relation(static_cast<int>(in.relation));
    answer->set_duplicate_of(in.duplicate_of);
    answer->set_nearest_article_id(in.nearest_article_id);
    answer->set_nearest_similarity(in.nearest_similarity);
    answer->set_cluster_similarity(in.cluster_similarity);
    answer->set_threshold(in.threshold);
    answer->set_runner_up_cluster_id(in.runner_up_cluster_id);
    answer->set_runner_up_similarity(in.runner_up_similarity);
    for (const std::string& term : in.shared_terms) {
      answer->add_shared_terms(term);
    }
    answer->set_representative_id(in.representative_id);
    answer->set_representative_title(in.representative_title);
    answer->set_cluster_size(in.cluster_size);
    answer->set_version(in.version);
    return out;
  }

  static Assignment FromStored(const std::string& article_id,
                               const storage::v1::StoredAnswer& in) {
    Assignment out;
    out.article_id = article_id;
    out.cluster_id = in.cluster_id();
    out.relation = static_cast<Relation>(std::clamp(
        in.relation(), 0, static_cast<int>(Relation::kExactDuplicate)));
    out.duplicate_of = in.duplicate_of();
    out.nearest_article_id = in.nearest_article_id();
    out.nearest_similarity = in.nearest_similarity();
    out.cluster_similarity = in.cluster_similarity();
    out.threshold = in.threshold();
    out.runner_up_cluster_id = in.runner_up_cluster_id();
    out.runner_up_similarity = in.runner_up_similarity();
    out.shared_terms.assign(in.shared_terms().begin(), in.shared_terms().end());
    out.representative_id = in.representative_id();
    out.representative_title = in.representative_title();
    out.cluster_size = in.cluster_size();
    out.version = std::max(1, in.version());
    return out;
  }

  storage::v1::StoredCluster ToStored(int64_t c) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const Cluster& cluster = clusters_[c];
    storage::v1::StoredCluster out;
    out.set_number(c);
    out.set_id(cluster.id);
    out.set_merged_into(cluster.merged_into);
    for (const std::string& alias : cluster.aliases) out.add_aliases(alias);
    out.set_representative_seq(cluster.representative >= 0
                                   ? articles_[cluster.representative].seq
                                   : -1);
    for (const ClusterEvent& event : cluster.history) {
      storage::v1::StoredClusterEvent* e = out.add_history();
      e->set_kind(static_cast<int>(event.kind));
      e->set_time_unix_nanos(absl::ToUnixNanos(event.time));
      e->set_cluster_id(event.cluster_id);
      e->set_article_id(event.article_id);
    }
    if (cluster.dated) {
      out.set_dated(true);
      out.set_first_seen_unix_nanos(absl::ToUnixNanos(cluster.first_seen));
      out.set_last_seen_unix_nanos(absl::ToUnixNanos(cluster.last_seen));
    }
    return out;
  }

  static void RestoreCluster(const storage::v1::StoredCluster& in,
                             Cluster* out) {
    out->id = in.id();
    out->merged_into = in.merged_into() < 0 ? -1 : in.merged_into();
    out->aliases.assign(in.aliases().begin(), in.aliases().end());
    for (const storage::v1::StoredClusterEvent& e : in.history()) {
      out->history.push_back(
          {static_cast<ClusterEvent::Kind>(std::clamp(
               e.kind(), 0,
               static_cast<int>(ClusterEvent::Kind::kRepresentativeChanged))),
           absl::FromUnixNanos(e.time_unix_nanos()), e.cluster_id(),
           e.article_id()});
    }
    out->dated = in.dated();
    if (in.dated()) {
      out->first_seen = absl::FromUnixNanos(in.first_seen_unix_nanos());
      out->last_seen = absl::FromUnixNanos(in.last_seen_unix_nanos());
    }
  }

  // Counts one new answer by its relation.
  void CountAnswer(Relation relation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    switch (relation) {
      case Relation::kExactDuplicate:
        ++stats_.exact_duplicates;
        break;
      case Relation::kNearDuplicate:
        ++stats_.near_duplicates;
        break;
      case Relation::kSameStory:
        ++stats_.same_story;
        break;
      case Relation::kNewStory:
        ++stats_.new_stories;
        break;
    }
  }

  // Adds an embedded article (already in the index) to a cluster's
  // centroid. The index keeps its own copy of the dense vector;
  // similarities and centroids use the exact sparse vector, so the dense
  // one is dropped. Dense-only embedders keep theirs for both.
  static void AddToCentroid(Cluster* cluster, Embedding* embedding) {
    if (!embedding->sparse.empty()) {
      embedding->dense.clear();
      embedding->dense.shrink_to_fit();
    }
    cluster->centroid.Add(*embedding);
    cluster->total_words += embedding->num_words;
  }

  // Every cluster number present, merge chains in range and loop-free:
  // Resolve() relies on both.
  absl::Status CheckRecoveredClusters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t n = static_cast<int64_t>(clusters_.size());
    for (int64_t c = 0; c < n; ++c) {
      if (clusters_[c].id.empty()) {
        return absl::DataLossError(
            absl::StrCat("store: cluster number ", c, " is missing"));
      }
      int64_t at = c;
      for (int64_t steps = 0; clusters_[at].merged_into >= 0; ++steps) {
        at = clusters_[at].merged_into;
        if (at >= n || steps > n) {
          return absl::DataLossError(absl::StrCat(
              "store: merge chain of cluster ", clusters_[c].id, " is broken"));
        }
      }
    }
    return absl::OkStatus();
  }

  // A stored article read back, normalised and (unless its text was seen
  // before: an exact duplicate) embedded, ready to be put back.
  struct PreparedArticle {
    storage::v1::StoredArticle stored;
    Article article;
    absl::StatusOr<NormalizedText> text = absl::UnknownError("not prepared");
    std::optional<absl::StatusOr<Embedding>> embedding;
  };

  // Hands stored articles to the recovery worker and prepared ones back,
  // in order. At most kRecoveryBacklog articles are in flight, which
  // bounds the memory of the pipeline.
  class RecoveryQueue {
   public:
    // Queues one article; blocks while the backlog is full.
    void Put(const storage::v1::StoredArticle& stored) {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &RecoveryQueue::HasRoom));
      todo_.push_back(stored);
      ++in_flight_;
    }
    // No more articles will be put.
    void Close() {
      absl::MutexLock lock(&mu_);
      closed_ = true;
    }
    // Worker: the next article to prepare; nullopt once closed and empty.
    std::optional<storage::v1::StoredArticle> Take() {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &RecoveryQueue::HasWork));
      if (todo_.empty()) return std::nullopt;
      storage::v1::StoredArticle stored = std::move(todo_.front());
      todo_.pop_front();
      return stored;
    }
    // Worker: one prepared article.
    void Done(PreparedArticle prepared) {
      absl::MutexLock lock(&mu_);
      done_.push_back(std::move(prepared));
    }
    // A prepared article if one is waiting (does not block).
    std::optional<PreparedArticle> Ready() {
      absl::MutexLock lock(&mu_);
      return PopDone();
    }
    // The next prepared article, waiting for it; nullopt when none is left.
    std::optional<PreparedArticle> Next() {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &RecoveryQueue::HasResultOrDrained));
      return PopDone();
    }

   private:
    static constexpr int kRecoveryBacklog = 4096;

    std::optional<PreparedArticle> PopDone()
        ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (done_.empty()) return std::nullopt;
      PreparedArticle prepared = std::move(done_.front());
      done_.pop_front();
      --in_flight_;
      return prepared;
    }
    bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return in_flight_ < kRecoveryBacklog || !done_.empty();
    }
    bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !todo_.empty() || closed_;
    }
    bool HasResultOrDrained() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !done_.empty() || in_flight_ == 0;
    }

    absl::Mutex mu_;
    std::deque<storage::v1::StoredArticle> todo_ ABSL_GUARDED_BY(mu_);
    std::deque<PreparedArticle> done_ ABSL_GUARDED_BY(mu_);
    int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
    bool closed_ ABSL_GUARDED_BY(mu_) = false;
  };

  // An answer naming an article stored after it (its current version is
  // newer), resolved once everything is loaded.
  struct ForwardReference {
    int64_t article;
    int64_t CompactAnswer::*field;
    std::string id;
  };

  // The expensive, engine-independent half of recovering an article; runs
  // on the recovery worker thread, in store order (the IDF statistics see
  // the articles in the order they first did). `seen` holds the text
  // hashes met so far: exact duplicates share their original's vector.
  PreparedArticle PrepareArticle(storage::v1::StoredArticle stored,
                                 absl::flat_hash_set<uint64_t>* seen) const {
    PreparedArticle p;
    p.article.id = stored.id();
    p.article.title = stored.title();
    p.article.body = stored.body();
    p.article.source = stored.source();
    if (stored.dated()) {
      p.article.published = absl::FromUnixNanos(stored.published_unix_nanos());
    }
    p.text = NormalizeArticle(p.article);
    if (p.text.ok() && seen->insert(p.text->hash).second) {
      p.embedding = Embed(*p.text, EmbedMode::kObserve);
    }
    p.stored = std::move(stored);
    return p;
  }

  absl::Status RecoverArticle(
      PreparedArticle prepared, int64_t keep_from_bucket,
      absl::Time recovered_at,
      absl::flat_hash_map<int64_t, int64_t>* index_of_seq,
      std::vector<ForwardReference>* forward_references)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const storage::v1::StoredArticle& stored = prepared.stored;
    const Article& article = prepared.article;
    const absl::StatusOr<NormalizedText>& text = prepared.text;
    if (!text.ok() || stored.cluster() < 0 ||
        stored.cluster() >= static_cast<int64_t>(clusters_.size())) {
      return absl::DataLossError(absl::StrCat(
          "store: article ", stored.seq(), " (", stored.id(), ") is damaged"));
    }
    const int64_t a = static_cast<int64_t>(articles_.size());
    const int64_t live = Resolve(stored.cluster());
    ArticleRecord record;
    record.id = article.id;
    record.title = article.title;
    record.source = SourceNumber(article.source);
    record.published = article.published;
    record.content_hash = text->hash;
    record.cluster = stored.cluster();
    record.seq = stored.seq();
    // Stores from before ingest times were kept: count from now, which
    // keeps every article for at least the whole retention.
    record.received =
        ReceivedNow(stored.received_unix_nanos() != 0
                        ? absl::FromUnixNanos(stored.received_unix_nanos())
                        : recovered_at);
    const Assignment answer = FromStored(article.id, stored.answer());
    Cluster& cluster = clusters_[live];
    auto same_text = article_by_hash_.find(text->hash);
    if (same_text != article_by_hash_.end()) {
      record.embedded_as = articles_[same_text->second].embedded_as;
    } else {
      if (!prepared.embedding.has_value()) {  // its original was not loaded
        prepared.embedding = Embed(*text, EmbedMode::kObserve);
      }
      ASSIGN_OR_RETURN(Embedding embedding, std::move(*prepared.embedding));
      record.embedded_as = a;
      record.index_bucket = BucketOf(article.published);
      if (record.index_bucket == VectorIndex::kTimelessBucket ||
          record.index_bucket >= keep_from_bucket) {
        RETURN_IF_ERROR(index_->Add(a, record.index_bucket, embedding.dense));
      }
      AddToCentroid(&cluster, &embedding);
      record.embedding = std::move(embedding);
    }
    CountAnswer(answer.relation);
    if (answer.version > 1) ++stats_.updates;
    articles_.push_back(std::move(record));
    num_articles_.store(static_cast<int64_t>(articles_.size()),
                        std::memory_order_release);
    article_by_id_.insert_or_assign(article.id, a);
    // References to articles deleted before the restart are lost.
    CompactAnswer& compact = articles_.back().answer;
    compact = Compact(answer);
    for (const auto& [field, id] :
         {std::pair(&CompactAnswer::duplicate_of, &answer.duplicate_of),
          std::pair(&CompactAnswer::nearest, &answer.nearest_article_id),
          std::pair(&CompactAnswer::representative,
                    &answer.representative_id)}) {
      if (compact.*field < 0 && !id->empty()) {
        forward_references->push_back({a, field, *id});
      }
    }
    article_by_hash_.try_emplace(text->hash, a);
    if (articles_[a].embedded_as != a)
      ++articles_[articles_[a].embedded_as].sharers;
    AddMember(&cluster, a);
    (*index_of_seq)[stored.seq()] = a;
    next_seq_ = std::max(next_seq_, stored.seq() + 1);
    return absl::OkStatus();
  }

  int64_t BucketOf(absl::Time t) const {
    if (!Dated(t)) return VectorIndex::kTimelessBucket;
    absl::Duration remainder;
    const int64_t q =
        absl::IDivDuration(t - absl::UnixEpoch(), bucket_width_, &remainder);
    return remainder < absl::ZeroDuration() ? q - 1 : q;  // floor
  }

  // Interpolates log-linearly between the short- and long-text values.
  float LengthAdjusted(float short_value, float long_value,
                       double num_words) const {
    const double lo = std::log(std::max(1, options_.short_text_words));
    const double hi = std::log(
        std::max(options_.short_text_words + 1, options_.long_text_words));
    const double x = std::log(std::max(1.0, num_words));
    const double t = std::clamp((x - lo) / (hi - lo), 0.0, 1.0);
    return static_cast<float>(short_value + t * (long_value - short_value));
  }

  float JoinThreshold(int num_words) const {
    return LengthAdjusted(options_.short_text_threshold,
                          options_.long_text_threshold, num_words);
  }

  // Multiplier of the join threshold for an article published `t` next to
  // cluster `c`: same_time_factor at no gap, rising with the logarithm of
  // the gap in days. Coverage of one event is dense in its first days; a
  // look-alike event weeks later must match much more closely. Undated
  // articles or clusters get 1.
  float TimeFactor(const Cluster& c, absl::Time t) const {
    if (!Dated(t) || !c.dated) return 1.0f;
    absl::Duration gap = absl::ZeroDuration();
    if (t > c.last_seen) gap = t - c.last_seen;
    if (t < c.first_seen) gap = c.first_seen - t;
    const double days = absl::ToDoubleHours(gap) / 24.0;
    return options_.same_time_factor +
           options_.time_penalty * static_cast<float>(std::log2(1.0 + days));
  }

  // True if an article published at `t` may join cluster `c`.
  bool InWindow(const Cluster& c, absl::Time t) const {
    if (!Dated(t) || !c.dated) return true;
    return t <= c.last_seen + options_.story_window &&
           t >= c.first_seen - options_.story_window;
  }

  int64_t Resolve(int64_t c) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    while (clusters_[c].merged_into >= 0) c = clusters_[c].merged_into;
    return c;
  }

  const Embedding& EmbeddingOf(int64_t a) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return articles_[articles_[a].embedded_as].embedding;
  }

  // The record index of a live article. Errors: kNotFound.
  absl::StatusOr<int64_t> FindArticle(absl::string_view article_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    auto it = article_by_id_.find(article_id);
    if (it == article_by_id_.end()) {
      return absl::NotFoundError(absl::StrCat("unknown article: ", article_id));
    }
    return it->second;
  }

  // The live cluster a (possibly absorbed) cluster id belongs to.
  // Errors: kNotFound.
  absl::StatusOr<int64_t> FindLiveCluster(absl::string_view cluster_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    auto it = cluster_by_id_.find(cluster_id);
    if (it == cluster_by_id_.end()) {
      return absl::NotFoundError(absl::StrCat("unknown cluster: ", cluster_id));
    }
    return Resolve(it->second);
  }

  static EmbedInput EmbedInputOf(const NormalizedText& text) {
    return {text.title, text.body, text.title_names, text.body_names};
  }

  absl::StatusOr<Embedding> Embed(const NormalizedText& text,
                                  EmbedMode mode) const {
    return embedder_->Embed(EmbedInputOf(text), mode);
  }

  // Answers a resend or an exact duplicate of a new id; nullopt when the
  // article needs embedding (a new text, or a new version of a known id).
  std::optional<absl::StatusOr<Assignment>> AnswerWithoutEmbedding(
      const Article& article, const NormalizedText& text)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto known = article_by_id_.find(article.id);
    if (known != article_by_id_.end()) {
      if (articles_[known->second].content_hash != text.hash) {
        return std::nullopt;  // a new version
      }
      return View(known->second).assignment;  // a resend
    }
    auto same_text = article_by_hash_.find(text.hash);
    if (same_text == article_by_hash_.end()) return std::nullopt;
    if (absl::Status full = CheckCapacity(); !full.ok()) return full;
    return AssignExactDuplicate(article, text.hash, same_text->second,
                                /*version=*/1);
  }

  // Back-pressure: a new id is refused while the engine holds
  // options_.max_articles, so that memory stays bounded whatever the
  // input rate (resends and new versions still pass).
  absl::Status CheckCapacity() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (static_cast<int64_t>(article_by_id_.size()) < options_.max_articles) {
      return absl::OkStatus();
    }
    return absl::ResourceExhaustedError(absl::StrCat(
        "the engine holds its limit of ", options_.max_articles,
        " articles; retry later, shorten the retention or raise the limit"));
  }

  // Records `article` as an exact duplicate of `original`.
  Assignment AssignExactDuplicate(const Article& article, uint64_t hash,
                                  int64_t original, int version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t c = Resolve(articles_[original].cluster);
    Assignment answer;
    answer.relation = Relation::kExactDuplicate;
    answer.duplicate_of = articles_[original].id;
    answer.nearest_article_id = articles_[original].id;
    answer.nearest_similarity = 1.0f;
    answer.cluster_similarity =
        clusters_[c].centroid.Cosine(EmbeddingOf(original));
    answer.version = version;
    CountAnswer(Relation::kExactDuplicate);
    return Record(article, hash, articles_[original].embedded_as, c,
                  std::move(answer));
  }

  // Where an embedded article belongs, computed without changing anything.
  struct Decision {
    Relation relation = Relation::kNewStory;
    int64_t cluster = -1;  // live cluster to join; -1: start a new one
    int64_t nearest = -1;  // nearest live article in the window
    float nearest_similarity = 0.0f;
    float cluster_similarity = 0.0f;  // to the chosen cluster's centroid
    float threshold = 0.0f;           // in force for the chosen cluster
    int64_t runner_up = -1;           // best other candidate cluster
    float runner_up_similarity = 0.0f;
    // Neighbours in the window with their exact similarity, best first.
    std::vector<std::pair<int64_t, float>> neighbors;
    std::vector<int64_t> candidates;  // live clusters of the neighbours
    // Candidates close enough to the article to be worth a merge check.
    std::vector<int64_t> merge_candidates;
  };

  // Nearest articles from the index, and how many articles existed when
  // it was searched.
  struct Candidates {
    std::vector<Neighbor> hits;
    int64_t searched_articles = 0;
    // Where the article would be linked into the index (for_insert only).
    InsertHint insert_hint;
  };

  // The k nearest articles in the story window of time `t`. `for_insert`:
  // the article will be added if its decision allows, so the search also
  // does the graph search of the insert, outside the exclusive lock.
  absl::StatusOr<Candidates> SearchIndex(const Embedding& embedding,
                                         absl::Time t, int k,
                                         bool for_insert) const {
    int64_t min_bucket = VectorIndex::kTimelessBucket;
    int64_t max_bucket = std::numeric_limits<int64_t>::max();
    if (Dated(t)) {
      min_bucket = BucketOf(t - options_.story_window);
      max_bucket = BucketOf(t + options_.story_window);
    }
    Candidates found;
    // Read before searching: an article added meanwhile may or may not be
    // in the hits, and Decide considers everything from here on.
    found.searched_articles = num_articles_.load(std::memory_order_acquire);
    if (for_insert) {
      ASSIGN_OR_RETURN(
          found.hits,
          index_->SearchBeforeAdd(embedding.dense, k, min_bucket, max_bucket,
                                  BucketOf(t), &found.insert_hint));
    } else {
      ASSIGN_OR_RETURN(found.hits, index_->Search(embedding.dense, k,
                                                  min_bucket, max_bucket));
    }
    return found;
  }

  // Decides for an article published at `t`, from the index hits in
  // `found` plus every article embedded since that search. `preferred` is
  // the cluster of the article's previous version (or -1): it is kept while
  // it still reaches the join threshold, or when no other cluster does.
  absl::StatusOr<Decision> Decide(const Embedding& embedding, absl::Time t,
                                  const Candidates& found,
                                  int64_t preferred) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    std::vector<int64_t> ids;
    for (const Neighbor& n : found.hits) ids.push_back(n.id);
    for (int64_t a = found.searched_articles;
         a < static_cast<int64_t>(articles_.size()); ++a) {
      // Concurrent adds, unless the search already found them.
      if (articles_[a].embedded_as == a &&
          std::none_of(found.hits.begin(), found.hits.end(),
                       [a](const Neighbor& n) { return n.id == a; })) {
        ids.push_back(a);
      }
    }
    Decision d;
    // Re-score neighbours exactly; collect candidate clusters in the window.
    absl::flat_hash_set<int64_t> seen;
    for (int64_t a : ids) {
      if (articles_[a].removed) continue;  // taken down since the search
      const int64_t c = Resolve(articles_[a].cluster);
      if (!InWindow(clusters_[c], t)) continue;
      d.neighbors.push_back({a, Similarity(embedding, EmbeddingOf(a))});
      if (seen.insert(c).second) d.candidates.push_back(c);
    }
    std::stable_sort(
        d.neighbors.begin(), d.neighbors.end(),
        [](const auto& a, const auto& b) { return a.second > b.second; });
    if (!d.neighbors.empty()) {
      d.nearest = d.neighbors[0].first;
      d.nearest_similarity = d.neighbors[0].second;
    }
    if (preferred >= 0 && seen.insert(preferred).second) {
      d.candidates.push_back(preferred);
    }

    // Candidates score by how far they clear their threshold, which rises
    // with the time since the cluster last grew.
    const float base_threshold = JoinThreshold(embedding.num_words);
    struct Score {
      float similarity = 0.0f, threshold = 0.0f, ratio = 0.0f;
    };
    absl::flat_hash_map<int64_t, Score> scores;
    int64_t best = -1;
    for (int64_t c : d.candidates) {
      Score score;
      score.similarity = clusters_[c].centroid.Cosine(embedding);
      score.threshold = base_threshold * TimeFactor(clusters_[c], t);
      score.ratio = score.similarity / score.threshold;
      scores[c] = score;
      if (best < 0 || score.ratio > scores[best].ratio) best = c;
    }

    const int64_t nearest_cluster =
        d.nearest >= 0 ? Resolve(articles_[d.nearest].cluster) : -1;
    if (d.nearest >= 0 &&
        d.nearest_similarity >= options_.near_duplicate_threshold) {
      d.relation = Relation::kNearDuplicate;
      d.cluster = nearest_cluster;
    } else if (best >= 0 && scores[best].ratio >= 1.0f) {
      d.relation = Relation::kSameStory;
      d.cluster = best;
    }
    if (preferred >= 0 && d.cluster != preferred &&
        (d.cluster < 0 || scores[preferred].ratio >= 1.0f)) {
      // A new version stays in its story unless it clearly left it.
      d.cluster = preferred;
      d.relation = clusters_[preferred].members.empty() ? Relation::kNewStory
                                                        : Relation::kSameStory;
    }
    if (d.relation == Relation::kNearDuplicate &&
        d.cluster != nearest_cluster) {
      d.relation = Relation::kSameStory;
    }
    d.threshold = base_threshold;
    if (d.cluster >= 0) {
      d.cluster_similarity = scores[d.cluster].similarity;
      d.threshold = scores[d.cluster].threshold;
    }
    for (int64_t c : d.candidates) {
      if (c == d.cluster) continue;
      if (d.runner_up < 0 || scores[c].ratio > scores[d.runner_up].ratio) {
        d.runner_up = c;
      }
    }
    if (d.runner_up >= 0) {
      d.runner_up_similarity = scores[d.runner_up].similarity;
    }
    for (int64_t c : d.candidates) {
      if (scores[c].ratio >= kMergeCheckRatio) d.merge_candidates.push_back(c);
    }
    // The closest few only: each check compares two whole centroids.
    std::sort(d.merge_candidates.begin(), d.merge_candidates.end(),
              [&](int64_t a, int64_t b) {
                return scores[a].ratio > scores[b].ratio;
              });
    if (d.merge_candidates.size() > kMaxMergeChecks) {
      d.merge_candidates.resize(kMaxMergeChecks);
    }
    return d;
  }

  // Copies a decision's explanation into an answer.
  void FillDecision(const Decision& d, Assignment* answer) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    answer->relation = d.relation;
    answer->threshold = d.threshold;
    answer->cluster_similarity = d.cluster_similarity;
    if (d.nearest >= 0) {
      answer->nearest_article_id = articles_[d.nearest].id;
      answer->nearest_similarity = d.nearest_similarity;
    }
    if (d.relation == Relation::kNearDuplicate) {
      answer->duplicate_of = articles_[d.nearest].id;
    }
    if (d.runner_up >= 0) {
      answer->runner_up_cluster_id = clusters_[d.runner_up].id;
      answer->runner_up_similarity = d.runner_up_similarity;
    }
  }

  // The words `embedding` shares with cluster `c` that weigh most.
  std::vector<std::string> SharedTerms(int64_t c,
                                       const Embedding& embedding) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    constexpr int kCandidates = 16;  // features; not all of them are words
    constexpr size_t kTerms = 5;
    std::vector<std::string> terms = embedder_->DescribeFeatures(
        clusters_[c].centroid.TopSharedFeatures(embedding, kCandidates));
    if (terms.size() > kTerms) terms.resize(kTerms);
    return terms;
  }

  absl::StatusOr<Assignment> AssignEmbedded(const Article& article,
                                            uint64_t hash, Embedding embedding,
                                            const Candidates& found,
                                            int64_t preferred, int version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time t = article.published;
    ASSIGN_OR_RETURN(Decision d, Decide(embedding, t, found, preferred));
    Assignment answer;
    FillDecision(d, &answer);
    answer.version = version;
    CountAnswer(d.relation);
    const int64_t chosen = d.cluster >= 0 ? d.cluster : NewCluster();
    answer.shared_terms = SharedTerms(chosen, embedding);

    const int64_t a = static_cast<int64_t>(articles_.size());
    const int64_t bucket = BucketOf(t);
    RETURN_IF_ERROR(index_->Add(a, bucket, embedding.dense, found.insert_hint));
    AddToCentroid(&clusters_[chosen], &embedding);
    Assignment recorded = Record(article, hash, a, chosen, std::move(answer));
    articles_[a].embedding = std::move(embedding);
    articles_[a].index_bucket = bucket;
    UpdateRepresentative(chosen, a);

    const int64_t survivor = MergeSimilar(chosen, d.merge_candidates);
    ExpireOldShards(t);

    recorded.cluster_id = clusters_[survivor].id;
    FillClusterView(survivor, &recorded);
    articles_[a].answer = Compact(recorded);
    return recorded;
  }

  // Takes article `a` out of its cluster, the index and the lookups. Exact
  // duplicates that shared its vector inherit it, so they stay findable.
  absl::Status RemoveArticle(int64_t a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ArticleRecord& record = articles_[a];
    const int64_t c = Resolve(record.cluster);
    Cluster& cluster = clusters_[c];
    if (store_ != nullptr) deleted_seqs_.push_back(record.seq);
    MarkDirty(c);
    RemoveMember(&cluster, a);
    int64_t heir = -1;
    if (record.embedded_as != a) {
      --articles_[record.embedded_as].sharers;
    } else {
      // Exact duplicates share its vector only if it has sharers: the scan
      // of the members is skipped for every other article (most of them).
      for (size_t i = 0; i < cluster.members.size() && record.sharers > 0;
           ++i) {
        const int64_t m = cluster.members[i];
        if (articles_[m].embedded_as != a) continue;
        if (heir < 0) {
          heir = m;
          articles_[heir].sharers = record.sharers - 1;
        }
        articles_[m].embedded_as = heir;
      }
      if (heir >= 0) {
        articles_[heir].embedding = std::move(record.embedding);
        articles_[heir].index_bucket = record.index_bucket;
        index_->Relabel(a, heir, record.index_bucket);
      } else {
        ASSIGN_OR_RETURN(bool removed, index_->Remove(a, record.index_bucket));
        (void)removed;  // false when its shard had already expired
        cluster.centroid.Subtract(record.embedding);
        cluster.total_words -= record.embedding.num_words;
      }
      record.embedding = Embedding();
    }
    auto by_hash = article_by_hash_.find(record.content_hash);
    if (by_hash != article_by_hash_.end() && by_hash->second == a) {
      if (heir >= 0) {
        by_hash->second = heir;
      } else {
        article_by_hash_.erase(by_hash);
      }
    }
    article_by_id_.erase(record.id);
    record.removed = true;
    if (cluster.members.empty()) {
      cluster.representative = -1;
      --live_clusters_;
    } else if (cluster.representative == a) {
      SetRepresentative(c, MostCentral(cluster));
    }
    return absl::OkStatus();
  }

  // Cluster membership in O(1) each way: a leaving member's place goes to
  // the last member. (Removal by search and erase cost O(cluster size),
  // which made new versions of articles in big stories ten times dearer
  // than new articles.)
  void AddMember(Cluster* cluster, int64_t a)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    articles_[a].member_slot = static_cast<int32_t>(cluster->members.size());
    cluster->members.push_back(a);
  }
  void RemoveMember(Cluster* cluster, int64_t a)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int32_t slot = articles_[a].member_slot;
    const int64_t last = cluster->members.back();
    cluster->members[slot] = last;
    articles_[last].member_slot = slot;
    cluster->members.pop_back();
    articles_[a].member_slot = -1;
  }

  int64_t NewCluster() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t c = static_cast<int64_t>(clusters_.size());
    clusters_.emplace_back();
    // Opaque, stable and never reused: the sequence only grows.
    clusters_[c].id = absl::StrCat("story-", c + 1);
    cluster_by_id_.emplace(clusters_[c].id, c);
    MarkDirty(c);
    return c;
  }

  // Stores the article as a member of live cluster `c` and completes the
  // answer with the cluster's view.
  Assignment Record(const Article& article, uint64_t hash, int64_t embedded_as,
                    int64_t c, Assignment answer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t a = static_cast<int64_t>(articles_.size());
    ArticleRecord record;
    record.id = article.id;
    record.title = article.title;
    record.source = SourceNumber(article.source);
    record.published = article.published;
    record.content_hash = hash;
    record.cluster = c;
    record.embedded_as = embedded_as;
    record.seq = next_seq_++;
    record.received = ReceivedNow(Now());
    articles_.push_back(std::move(record));
    num_articles_.store(static_cast<int64_t>(articles_.size()),
                        std::memory_order_release);
    if (store_ != nullptr) new_articles_.push_back({a, &article});
    MarkDirty(c);
    article_by_id_.insert_or_assign(article.id, a);
    article_by_hash_.try_emplace(hash, a);

    Cluster& cluster = clusters_[c];
    if (cluster.members.empty()) ++live_clusters_;  // new, or emptied earlier
    AddMember(&cluster, a);
    if (embedded_as != a) ++articles_[embedded_as].sharers;
    if (cluster.representative < 0) {
      cluster.representative = a;
      cluster.history.push_back(
          {ClusterEvent::Kind::kCreated, Now(), cluster.id, article.id});
    }
    if (Dated(article.published)) {
      if (!Dated(newest_) || article.published > newest_) {
        newest_ = article.published;  // exact duplicates advance it too
      }
      cluster.dated = true;
      cluster.first_seen = std::min(cluster.first_seen, article.published);
      cluster.last_seen = std::max(cluster.last_seen, article.published);
    }
    answer.article_id = article.id;
    answer.cluster_id = cluster.id;
    FillClusterView(c, &answer);
    articles_.back().answer = Compact(answer);
    return answer;
  }

  void FillClusterView(int64_t c, Assignment* answer) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const Cluster& cluster = clusters_[c];
    if (cluster.representative >= 0) {  // -1 once every member is gone
      answer->representative_id = articles_[cluster.representative].id;
      answer->representative_title = articles_[cluster.representative].title;
    }
    answer->cluster_size = static_cast<int>(cluster.members.size());
  }

  // Centrality: cosine between a member and its cluster's centroid.
  float Centrality(const Cluster& cluster, int64_t a) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return cluster.centroid.Cosine(EmbeddingOf(a));
  }

  void SetRepresentative(int64_t c, int64_t a)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Cluster& cluster = clusters_[c];
    if (cluster.representative == a) return;
    cluster.representative = a;
    MarkDirty(c);
    cluster.history.push_back({ClusterEvent::Kind::kRepresentativeChanged,
                               Now(), std::string(), articles_[a].id});
    Announce({EngineOptions::StoryChange::Kind::kRepresentativeChanged,
              cluster.id, articles_[a].id, std::string()});
  }

  void Announce(const EngineOptions::StoryChange& change) const {
    if (options_.on_story_change) options_.on_story_change(change);
  }

  // The most central embedded member of a non-empty cluster, ties to the
  // earliest.
  int64_t MostCentral(const Cluster& cluster) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    int64_t best = -1;
    float best_score = 0.0f;
    for (int64_t m : cluster.members) {
      if (articles_[m].embedded_as != m) continue;  // exact duplicates
      const float score = Centrality(cluster, m);
      if (best < 0 || score > best_score + 1e-6f ||
          (score > best_score - 1e-6f && m < best)) {
        best = m;
        best_score = score;
      }
    }
    return best >= 0 ? best
                     : *std::min_element(cluster.members.begin(),
                                         cluster.members.end());
  }

  // Re-elects the most central member, ties to the earliest; the incumbent
  // keeps its place unless beaten by representative_margin. Full
  // re-election runs for small clusters and at powers of two; in between
  // only the newcomer challenges the incumbent (amortised O(1)).
  void UpdateRepresentative(int64_t c, int64_t newcomer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Cluster& cluster = clusters_[c];
    const int embedded = cluster.centroid.count();
    const int64_t challenger =
        embedded <= kAlwaysReelectBelow || IsPowerOfTwo(embedded)
            ? MostCentral(cluster)
            : newcomer;
    const float incumbent = Centrality(cluster, cluster.representative);
    if (challenger != cluster.representative &&
        Centrality(cluster, challenger) >
            incumbent + options_.representative_margin) {
      SetRepresentative(c, challenger);
    }
  }

  // Merges every candidate cluster whose centroid has come close to
  // cluster `c`'s. Returns the live cluster `c` ended up in.
  int64_t MergeSimilar(int64_t c, const std::vector<int64_t>& candidates)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (int64_t d : candidates) {
      d = Resolve(d);
      c = Resolve(c);
      if (d == c) continue;
      const Cluster& a = clusters_[c];
      const Cluster& b = clusters_[d];
      if (a.dated && b.dated &&
          (a.first_seen > b.last_seen + options_.story_window ||
           b.first_seen > a.last_seen + options_.story_window)) {
        continue;
      }
      const double words =
          (a.total_words + b.total_words) /
          std::max(1.0, static_cast<double>(a.centroid.count() +
                                            b.centroid.count()));
      const float threshold =
          LengthAdjusted(options_.short_text_merge_threshold,
                         options_.long_text_merge_threshold, words);
      if (a.centroid.Cosine(b.centroid) < threshold) continue;
      // The older cluster (smaller sequence number) survives.
      c = std::min(c, d) == c ? Absorb(c, d) : Absorb(d, c);
    }
    return Resolve(c);
  }

  // Moves everything of cluster `absorbed` into `survivor`; returns survivor.
  int64_t Absorb(int64_t survivor, int64_t absorbed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Cluster& s = clusters_[survivor];
    Cluster& x = clusters_[absorbed];
    MarkDirty(survivor);
    MarkDirty(absorbed);
    s.centroid.Merge(x.centroid);
    s.total_words += x.total_words;
    for (int64_t m : x.members) AddMember(&s, m);
    s.aliases.push_back(x.id);
    s.aliases.insert(s.aliases.end(), x.aliases.begin(), x.aliases.end());
    if (x.dated) {
      s.dated = true;
      s.first_seen = std::min(s.first_seen, x.first_seen);
      s.last_seen = std::max(s.last_seen, x.last_seen);
    }
    s.history.push_back(
        {ClusterEvent::Kind::kAbsorbed, Now(), x.id, std::string()});
    Announce(
        {EngineOptions::StoryChange::Kind::kMerge, s.id, std::string(), x.id});
    x.merged_into = survivor;
    --live_clusters_;
    x.members.clear();
    x.members.shrink_to_fit();
    x.centroid = internal::Centroid();
    ++stats_.merges;
    // The survivor's incumbent competes with the absorbed representative.
    const int64_t absorbed_rep = x.representative;
    if (Centrality(s, absorbed_rep) >
        Centrality(s, s.representative) + options_.representative_margin) {
      SetRepresentative(survivor, absorbed_rep);
    }
    return survivor;
  }

  // "Now" in news time: the newest publication time seen, but never more
  // than kMaxClockLead ahead of the clock, so that shard expiry follows no
  // article dated years ahead (where such dates are accepted, or stored
  // before they were refused). InfinitePast before any dated article.
  absl::Time NewsClock() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (!Dated(newest_)) return newest_;
    return std::min(newest_, Now() + kMaxClockLead);
  }
  static constexpr absl::Duration kMaxClockLead = absl::Hours(24);

  // Drops index shards that no article in the window can reach any more.
  // Expiry follows the newest publication time seen, but never runs ahead
  // of the wall clock by more than a day: one article dated years ahead
  // (a feed's bad clock) must not expire or forget everything else.
  // Record() has already advanced newest_ past `t`.
  void ExpireOldShards(absl::Time t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!Dated(t)) return;
    const absl::Time now = NewsClock();
    index_->DropBucketsBefore(BucketOf(now - options_.story_window) - 1);
  }

  // A time for a new record's `received`: `t`, but never before the last
  // one, so that articles_ stays in receiving order even if the clock
  // steps back (retention then walks it from the front).
  absl::Time ReceivedNow(absl::Time t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    last_received_ = std::max(last_received_, t);
    return last_received_;
  }

  // INVALID_ARGUMENT for a publication time beyond options_.max_future_skew
  // ahead of the clock (undated articles pass).
  absl::Status CheckPublished(absl::Time published) const {
    if (!Dated(published) ||
        options_.max_future_skew == absl::InfiniteDuration()) {
      return absl::OkStatus();
    }
    const absl::Time now = Now();
    if (published <= now + options_.max_future_skew) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "published: ", FormatRfc3339(published), " is more than ",
        absl::FormatDuration(options_.max_future_skew),
        " ahead of the server clock (", FormatRfc3339(now),
        "); fix the feed's clock or send the article without a date"));
  }

  // Retention: forgets every article received more than options_.retention
  // before now, in memory and in the store (the caller stages the change).
  // articles_ is in receiving order, so this walks a cursor from the front:
  // O(1) when nothing is due. Their clusters keep their ids (and aliases),
  // so answers already given still resolve; a cluster left empty is
  // reported as expired.
  void ForgetExpiredLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (options_.retention == absl::InfiniteDuration()) return;
    const absl::Time cutoff = Now() - options_.retention;
    EngineOptions::RetentionSweep sweep;
    sweep.cutoff = cutoff;
    const int64_t end = static_cast<int64_t>(articles_.size());
    for (; retention_cursor_ < end; ++retention_cursor_) {
      ArticleRecord& record = articles_[retention_cursor_];
      if (record.received >= cutoff) break;
      if (record.removed) continue;  // deleted, or replaced by a version
      const int64_t c = Resolve(record.cluster);
      if (!RemoveArticle(retention_cursor_).ok()) break;  // index error: later
      ++sweep.articles;
      if (clusters_[c].members.empty()) ++sweep.expired_stories;
      record.title.clear();
      record.title.shrink_to_fit();
      record.answer = CompactAnswer();
    }
    if (sweep.articles == 0) return;
    stats_.forgotten += sweep.articles;
    if (options_.on_retention_sweep) options_.on_retention_sweep(sweep);
  }

  // The index of the live article `id` (-1 for none or an empty id).
  int64_t IndexOfArticle(const std::string& id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (id.empty()) return -1;
    auto it = article_by_id_.find(id);
    return it == article_by_id_.end() ? -1 : it->second;
  }

  CompactAnswer Compact(const Assignment& in) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    CompactAnswer out;
    out.shared_terms =
        absl::StrJoin(in.shared_terms, absl::string_view(&kTermSeparator, 1));
    out.duplicate_of = IndexOfArticle(in.duplicate_of);
    out.nearest = IndexOfArticle(in.nearest_article_id);
    out.representative = IndexOfArticle(in.representative_id);
    if (!in.runner_up_cluster_id.empty()) {
      auto it = cluster_by_id_.find(in.runner_up_cluster_id);
      if (it != cluster_by_id_.end()) out.runner_up = it->second;
    }
    out.nearest_similarity = in.nearest_similarity;
    out.cluster_similarity = in.cluster_similarity;
    out.threshold = in.threshold;
    out.runner_up_similarity = in.runner_up_similarity;
    out.cluster_size = in.cluster_size;
    out.version = static_cast<int16_t>(
        std::min<int>(in.version, std::numeric_limits<int16_t>::max()));
    out.relation = in.relation;
    return out;
  }

  // The first answer of article `a`; cluster_id is the cluster it was
  // assigned to (View() resolves merges).
  Assignment Expand(int64_t a) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const ArticleRecord& record = articles_[a];
    const CompactAnswer& in = record.answer;
    Assignment out;
    out.article_id = record.id;
    out.cluster_id = clusters_[record.cluster].id;
    out.relation = in.relation;
    if (in.duplicate_of >= 0) out.duplicate_of = articles_[in.duplicate_of].id;
    if (in.nearest >= 0) out.nearest_article_id = articles_[in.nearest].id;
    if (in.runner_up >= 0)
      out.runner_up_cluster_id = clusters_[in.runner_up].id;
    if (in.representative >= 0) {
      out.representative_id = articles_[in.representative].id;
      out.representative_title = articles_[in.representative].title;
    }
    out.nearest_similarity = in.nearest_similarity;
    out.cluster_similarity = in.cluster_similarity;
    out.threshold = in.threshold;
    out.runner_up_similarity = in.runner_up_similarity;
    out.cluster_size = in.cluster_size;
    out.version = in.version;
    if (!in.shared_terms.empty()) {
      out.shared_terms = absl::StrSplit(in.shared_terms, kTermSeparator);
    }
    return out;
  }

  // Outlets repeat across millions of articles: each name is kept once.
  int32_t SourceNumber(const std::string& source)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (source.empty()) return -1;
    auto [it, added] = source_numbers_.try_emplace(
        source, static_cast<int32_t>(source_names_.size()));
    if (added) source_names_.push_back(source);
    return it->second;
  }

  ArticleView View(int64_t a) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const ArticleRecord& record = articles_[a];
    ArticleView view;
    view.id = record.id;
    view.title = record.title;
    if (record.source >= 0) view.source = source_names_[record.source];
    view.published = record.published;
    // The relation and explanation it first received; its story, that
    // story's representative and size as they are now (after merges).
    view.assignment = Expand(a);
    const int64_t live = Resolve(record.cluster);
    view.assignment.cluster_id = clusters_[live].id;
    FillClusterView(live, &view.assignment);
    return view;
  }

  ClusterSummary Summarize(int64_t c, bool with_history = false) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const Cluster& cluster = clusters_[c];
    ClusterSummary s;
    s.cluster_id = cluster.id;
    s.aliases = cluster.aliases;
    if (with_history) s.history = cluster.history;
    s.size = static_cast<int>(cluster.members.size());
    absl::flat_hash_set<int32_t> sources;
    for (int64_t m : cluster.members) {
      if (articles_[m].source >= 0) sources.insert(articles_[m].source);
    }
    s.num_sources = static_cast<int>(sources.size());
    s.timeline.assign(ClusterSummary::kTimelineHours, 0);
    const absl::Time now = NewsClock();
    if (Dated(now)) {
      for (int64_t m : cluster.members) {
        const absl::Time t = articles_[m].published;
        if (!Dated(t) || t > now) continue;
        const int64_t hours_ago = absl::ToInt64Hours(now - t);
        if (hours_ago >= ClusterSummary::kTimelineHours) continue;
        ++s.timeline[ClusterSummary::kTimelineHours - 1 - hours_ago];
        ++s.recent_articles;
      }
    }
    s.expired = cluster.members.empty();
    if (cluster.representative >= 0) {  // -1 once every member was deleted
      s.representative_id = articles_[cluster.representative].id;
      s.representative_title = articles_[cluster.representative].title;
    }
    if (cluster.dated) {
      s.first_seen = cluster.first_seen;
      s.last_seen = cluster.last_seen;
    }
    return s;
  }

  const EngineOptions options_;
  const std::unique_ptr<Embedder> embedder_;
  // Time span of one index shard: the story window, so a query about the
  // present searches two shards (this window's and the last). Narrower
  // shards expire sooner (less memory) but every query then searches more
  // graphs, which costs more than one larger graph (search time grows with
  // the logarithm of size): half the window meant three graphs a query.
  const absl::Duration bucket_width_;
  EngineStore* const store_;  // not owned; null: memory only

  mutable absl::Mutex mu_;
  // Synchronises itself: searches run without the engine's lock.
  const std::unique_ptr<VectorIndex> index_;
  // articles_.size(), readable without the lock: what a search started
  // without it may have missed is every article from here on.
  std::atomic<int64_t> num_articles_{0};
  // A deque: grows without copying or doubling its footprint.
  std::deque<ArticleRecord> articles_ ABSL_GUARDED_BY(mu_);
  std::vector<Cluster> clusters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> article_by_id_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, int64_t> article_by_hash_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> source_names_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int32_t> source_numbers_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> cluster_by_id_ ABSL_GUARDED_BY(mu_);
  absl::Time newest_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t live_clusters_ ABSL_GUARDED_BY(mu_) = 0;
  EngineStats stats_ ABSL_GUARDED_BY(mu_);
  // Retention: articles_ before this index are forgotten or removed, and
  // the newest `received` time handed out.
  int64_t retention_cursor_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_received_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  // Durability: the next arrival number, and the changes of the operation
  // in progress (see StageChanges).
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<int64_t, const Article*>> new_articles_
      ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> deleted_seqs_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> dirty_clusters_ ABSL_GUARDED_BY(mu_);
  uint64_t last_ticket_ ABSL_GUARDED_BY(mu_) = 0;

  // Embedding work, counted outside the lock.
  std::atomic<int64_t> embeddings_{0};
  std::atomic<int64_t> embedding_nanos_{0};
};

}  // namespace

namespace internal {

absl::StatusOr<std::unique_ptr<ClusteringEngine>> NewEngineOnStore(
    const EngineOptions& options, std::unique_ptr<Embedder> embedder,
    EngineStore* store) {
  if (embedder == nullptr) {
    return absl::InvalidArgumentError("embedder must not be null");
  }
  if (options.story_window <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("story_window must be positive");
  }
  if (options.retention < options.story_window) {
    return absl::InvalidArgumentError(
        "retention must be at least the story window");
  }
  if (options.neighbors <= 0) {
    return absl::InvalidArgumentError("neighbors must be positive");
  }
  if (options.short_text_words <= 0 ||
      options.long_text_words <= options.short_text_words) {
    return absl::InvalidArgumentError(
        "need 0 < short_text_words < long_text_words");
  }
  VectorIndexOptions index_options;
  index_options.dimension = embedder->dimension();
  index_options.exact_limit = options.exact_search_limit;
  index_options.search_breadth = options.index_search_breadth;
  ASSIGN_OR_RETURN(std::unique_ptr<VectorIndex> index,
                   options.new_index ? options.new_index(index_options)
                                     : NewTimeShardedIndex(index_options));
  if (index == nullptr) {
    return absl::InvalidArgumentError("new_index returned no index");
  }
  auto engine = std::make_unique<ClusteringEngineImpl>(
      options, std::move(embedder), std::move(index), store);
  if (store != nullptr) RETURN_IF_ERROR(engine->Recover());
  return std::unique_ptr<ClusteringEngine>(std::move(engine));
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<ClusteringEngine>> ClusteringEngine::Create(
    const EngineOptions& options, std::unique_ptr<Embedder> embedder,
    std::unique_ptr<EngineStore> store) {
  if (store == nullptr) {
    return internal::NewEngineOnStore(options, std::move(embedder), nullptr);
  }
  return internal::NewDurableEngine(options, std::move(embedder),
                                    std::move(store));
}

}  // namespace newsdedup
