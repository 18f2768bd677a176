#include "services/engine/engine.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "common/time_format.h"
#include "services/engine/engine_impl.h"
#include "services/engine/internal/engine_factory.h"

namespace newsdedup {

const char* ClusterEventKindName(ClusterEvent::Kind kind) {
  switch (kind) {
    case ClusterEvent::Kind::kCreated:
      return "CREATED";
    case ClusterEvent::Kind::kAbsorbed:
      return "ABSORBED";
    case ClusterEvent::Kind::kRepresentativeChanged:
      return "REPRESENTATIVE_CHANGED";
    case ClusterEvent::Kind::kEdited:
      return "EDITED";
  }
  return "UNKNOWN";
}

const char* EditorialActionName(EditorialAction::Kind kind) {
  switch (kind) {
    case EditorialAction::Kind::kMergeClusters:
      return "merge";
    case EditorialAction::Kind::kSplitCluster:
      return "split";
    case EditorialAction::Kind::kMoveArticle:
      return "move";
    case EditorialAction::Kind::kPinRepresentative:
      return "pin";
    case EditorialAction::Kind::kUnpinRepresentative:
      return "unpin";
    case EditorialAction::Kind::kKeepApart:
      return "keep_apart";
    case EditorialAction::Kind::kAllowMerging:
      return "allow_merging";
  }
  return "unknown";
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

namespace internal {

ClusteringEngineImpl::ClusteringEngineImpl(const EngineOptions& options,
                                           std::unique_ptr<Embedder> embedder,
                                           std::unique_ptr<VectorIndex> index,
                                           EngineStore* store)
    : options_(options),
      embedder_(std::move(embedder)),
      bucket_width_(std::max(absl::Hours(1), options.story_window)),
      store_(store),
      feed_(store, options.feed_events),
      index_(std::move(index)) {}

absl::StatusOr<Assignment> ClusteringEngineImpl::Assign(
    const Article& article) {
  uint64_t ticket = 0;
  absl::StatusOr<Assignment> answer = AssignAndStage(article, &ticket);
  // The answer leaves only once the state it reflects is durable.
  RETURN_IF_ERROR(WaitDurable(ticket));
  return answer;
}

std::vector<absl::StatusOr<Assignment>> ClusteringEngineImpl::AssignBatch(
    absl::Span<const Article> articles) {
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
      auto is_ready = [&ready, i]()
                          ABSL_NO_THREAD_SAFETY_ANALYSIS { return ready > i; };
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

absl::StatusOr<SimilarResult> ClusteringEngineImpl::FindSimilar(
    const Article& article, int k) const {
  if (k < 0) return absl::InvalidArgumentError("k: must be >= 0");
  RETURN_IF_ERROR(CheckPublished(article.published));
  ASSIGN_OR_RETURN(NormalizedText text, NormalizeArticle(article));
  ASSIGN_OR_RETURN(Embedding embedding, Embed(text, EmbedMode::kReadOnly));
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(
      Candidates found,
      SearchIndex(embedding, article.published, std::max(k, options_.neighbors),
                  /*for_insert=*/false));
  ASSIGN_OR_RETURN(Decision decision,
                   Decide(embedding, article.published, found,
                          /*preferred=*/-1));
  SimilarResult result;
  for (const auto& [a, similarity] : decision.neighbors) {
    if (static_cast<int>(result.neighbors.size()) >= k) break;
    // The index's hashed vectors find near-misses that share no word with
    // the article: listed, a search showed stories at similarity 0.00.
    if (similarity <= 0) continue;
    const Cluster& cluster = clusters_[Resolve(articles_[a].cluster)];
    result.neighbors.push_back(
        {std::string(articles_[a].id()), cluster.id, similarity,
         std::string(articles_[a].title()),
         cluster.representative >= 0
             ? std::string(articles_[cluster.representative].title())
             : std::string()});
  }
  Assignment& answer = result.would_be;
  auto known = article_by_id_.find(article.id);
  auto same_text = article_by_hash_.find(ContentHash{text.hash});
  if (known != article_by_id_.end() &&
      articles_[*known].content_hash == text.hash) {
    answer = View(*known).assignment;  // a resend
  } else if (same_text != article_by_hash_.end()) {
    const int64_t original = *same_text;
    answer = ExactDuplicateAnswer(original);
    answer.cluster_id = clusters_[Resolve(articles_[original].cluster)].id;
  } else {
    FillDecision(decision, &answer);
    if (const int64_t c = decision.choice.story; c >= 0) {
      answer.cluster_id = clusters_[c].id;
      answer.shared_terms = SharedTerms(c, embedding);
      FillClusterView(c, &answer);
    }
  }
  answer.article_id = article.id;
  return result;
}

absl::Status ClusteringEngineImpl::DeleteArticle(absl::string_view article_id) {
  RETURN_IF_ERROR(Writable());
  uint64_t ticket = 0;
  {
    absl::MutexLock lock(&mu_);
    StageOnExit stage(this, &ticket);
    ForgetExpiredLocked();
    ASSIGN_OR_RETURN(const int64_t a, FindArticle(article_id));
    const int64_t c = Resolve(articles_[a].cluster);
    const std::string story = clusters_[c].id;
    RETURN_IF_ERROR(RemoveArticle(a));
    ++stats_.deletions;
    Publish(FeedEvent::Kind::kTakenDown, c, a);
    Announce(EngineOptions::StoryChange::Kind::kTakedown, story,
             std::string(article_id), "");
  }
  return WaitDurable(ticket);
}

absl::StatusOr<EditResult> ClusteringEngineImpl::Edit(
    const EditorialAction& action) {
  RETURN_IF_ERROR(Writable());
  uint64_t ticket = 0;
  absl::StatusOr<EditResult> result;
  {
    absl::MutexLock lock(&mu_);
    StageOnExit stage(this, &ticket);
    ForgetExpiredLocked();
    result = EditLocked(action);
  }
  RETURN_IF_ERROR(WaitDurable(ticket));
  return result;
}

absl::Status ClusteringEngineImpl::ForgetExpired() {
  RETURN_IF_ERROR(Writable());
  uint64_t ticket = 0;
  {
    absl::MutexLock lock(&mu_);
    StageOnExit stage(this, &ticket);
    ForgetExpiredLocked();
  }
  return WaitDurable(ticket);
}

absl::StatusOr<std::string> ClusteringEngineImpl::ResolveClusterId(
    absl::string_view cluster_id) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const int64_t c, FindLiveCluster(cluster_id));
  return clusters_[c].id;
}

absl::StatusOr<std::string> ClusteringEngineImpl::ResolveThreadId(
    absl::string_view thread_id) const {
  absl::MutexLock lock(&mu_);
  absl::string_view digits = thread_id;
  int64_t number = 0;
  if (!absl::ConsumePrefix(&digits, "thread-") ||
      !absl::SimpleAtoi(digits, &number) || !clusters_.contains(number - 1)) {
    return absl::NotFoundError(absl::StrCat("no thread ", thread_id));
  }
  return ThreadId(number - 1);
}

absl::StatusOr<std::string> ClusteringEngineImpl::ClusterOfArticle(
    absl::string_view article_id) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const int64_t a, FindArticle(article_id));
  return clusters_[Resolve(articles_[a].cluster)].id;
}

absl::StatusOr<ArticleView> ClusteringEngineImpl::GetArticle(
    absl::string_view article_id) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const int64_t a, FindArticle(article_id));
  return View(a);
}

absl::StatusOr<MemberPage> ClusteringEngineImpl::ClusterMembers(
    absl::string_view cluster_id, int offset, int limit) const {
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

absl::StatusOr<ClusterSummary> ClusteringEngineImpl::GetCluster(
    absl::string_view cluster_id) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const int64_t c, FindLiveCluster(cluster_id));
  return Summarize(c, /*with_history=*/true);
}

std::vector<ClusterSummary> ClusteringEngineImpl::ListClusters(
    bool include_expired) const {
  absl::MutexLock lock(&mu_);
  std::vector<ClusterSummary> out;
  for (int64_t c = clusters_.begin(); c < clusters_.end(); ++c) {
    if (!clusters_.contains(c)) continue;  // forgotten
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

absl::StatusOr<FeedPage> ClusteringEngineImpl::ReadFeed(
    const FeedQuery& query) const {
  return feed_.Read(query);
}

bool ClusteringEngineImpl::AwaitFeed(uint64_t after_cursor,
                                     absl::Duration timeout) const {
  return feed_.AwaitNewer(after_cursor, timeout);
}

uint64_t ClusteringEngineImpl::FeedCursor() const {
  absl::ReaderMutexLock lock(&mu_);
  return feed_.last_cursor();
}

absl::Status ClusteringEngineImpl::Writable() const {
  return store_ != nullptr ? store_->Writable() : absl::OkStatus();
}

absl::StatusOr<EngineStore::BackupInfo> ClusteringEngineImpl::Backup(
    const std::string& backup_dir) {
  if (store_ == nullptr) {
    return absl::FailedPreconditionError(
        "the engine keeps nothing on disk (--in-memory): nothing to back up");
  }
  // The store backs up what is durable; nothing here needs the lock.
  return store_->Backup(backup_dir);
}

EngineStats ClusteringEngineImpl::stats() const {
  absl::MutexLock lock(&mu_);
  EngineStats s = stats_;
  s.articles = static_cast<int64_t>(article_by_id_.size());
  s.live_clusters = live_clusters_;
  s.indexed_vectors = index_->size();
  s.index_shards = index_->num_shards();
  s.shard_sizes = index_->ShardSizes();
  s.index_waypoints = index_->waypoints();
  s.embeddings = embeddings_.load(std::memory_order_relaxed);
  s.embedding_seconds = embedding_nanos_.load(std::memory_order_relaxed) * 1e-9;
  if (store_ != nullptr) s.store_pending = store_->pending();
  return s;
}

absl::Status ClusteringEngineImpl::CheckCapacity() const {
  if (static_cast<int64_t>(article_by_id_.size()) < options_.max_articles) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "the engine holds its limit of ", options_.max_articles,
      " articles; retry later, shorten the retention or raise the limit"));
}

absl::Status ClusteringEngineImpl::CheckPublished(absl::Time published) const {
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
  if (!(options.thread_threshold >= 0.0f && options.thread_threshold <= 1.0f)) {
    return absl::InvalidArgumentError("thread_threshold must be in [0, 1]");
  }
  if (!(options.same_day_thread_factor > 0.0f &&
        options.same_day_thread_factor <= 1.0f)) {
    return absl::InvalidArgumentError(
        "same_day_thread_factor must be in (0, 1]");
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
