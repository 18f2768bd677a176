#include <algorithm>
#include <deque>
#include <limits>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/engine/engine_impl.h"
#include "services/engine/internal/stored_relation.h"

// Persistence: what the engine hands its store after each change, and how
// it rebuilds itself from the store at start.

namespace newsdedup {
namespace internal {

using storage::v1::StoredAnswer;
using storage::v1::StoredClusterEvent;

StoredAnswer::Relation ToStoredRelation(Relation relation) {
  switch (relation) {
    case Relation::kNewStory:
      return StoredAnswer::NEW_STORY;
    case Relation::kSameStory:
      return StoredAnswer::SAME_STORY;
    case Relation::kNearDuplicate:
      return StoredAnswer::NEAR_DUPLICATE;
    case Relation::kExactDuplicate:
      return StoredAnswer::EXACT_DUPLICATE;
  }
  return StoredAnswer::NEW_STORY;  // not reached: the switch is complete
}

absl::StatusOr<Relation> FromStoredRelation(StoredAnswer::Relation relation) {
  switch (relation) {
    case StoredAnswer::NEW_STORY:
      return Relation::kNewStory;
    case StoredAnswer::SAME_STORY:
      return Relation::kSameStory;
    case StoredAnswer::NEAR_DUPLICATE:
      return Relation::kNearDuplicate;
    case StoredAnswer::EXACT_DUPLICATE:
      return Relation::kExactDuplicate;
    default:
      break;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "a stored answer has relation number ", static_cast<int>(relation),
      ", which this build does not know: the store was written by a newer "
      "newsdedup"));
}

namespace {

// The stored enums have numbers of their own (state.proto), mapped here
// one by one (see internal/stored_relation.h for Relation's).
StoredClusterEvent::Kind ToStoredEventKind(ClusterEvent::Kind kind) {
  switch (kind) {
    case ClusterEvent::Kind::kCreated:
      return StoredClusterEvent::CREATED;
    case ClusterEvent::Kind::kAbsorbed:
      return StoredClusterEvent::ABSORBED;
    case ClusterEvent::Kind::kRepresentativeChanged:
      return StoredClusterEvent::REPRESENTATIVE_CHANGED;
    case ClusterEvent::Kind::kEdited:
      return StoredClusterEvent::EDITED;
  }
  return StoredClusterEvent::CREATED;  // not reached: the switch is complete
}

absl::StatusOr<ClusterEvent::Kind> FromStoredEventKind(
    StoredClusterEvent::Kind kind) {
  switch (kind) {
    case StoredClusterEvent::CREATED:
      return ClusterEvent::Kind::kCreated;
    case StoredClusterEvent::ABSORBED:
      return ClusterEvent::Kind::kAbsorbed;
    case StoredClusterEvent::REPRESENTATIVE_CHANGED:
      return ClusterEvent::Kind::kRepresentativeChanged;
    case StoredClusterEvent::EDITED:
      return ClusterEvent::Kind::kEdited;
    default:
      break;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "a stored cluster event has kind number ", static_cast<int>(kind),
      ", which this build does not know: the store was written by a newer "
      "newsdedup"));
}

// The one mapping between an answer and its stored form, each way.
storage::v1::StoredAnswer ToStoredAnswer(const Assignment& in) {
  storage::v1::StoredAnswer out;
  out.set_cluster_id(in.cluster_id);
  out.set_relation(ToStoredRelation(in.relation));
  out.set_duplicate_of(in.duplicate_of);
  out.set_nearest_article_id(in.nearest_article_id);
  out.set_nearest_similarity(in.nearest_similarity);
  out.set_cluster_similarity(in.cluster_similarity);
  out.set_threshold(in.threshold);
  out.set_runner_up_cluster_id(in.runner_up_cluster_id);
  out.set_runner_up_similarity(in.runner_up_similarity);
  for (const std::string& term : in.shared_terms) out.add_shared_terms(term);
  out.set_representative_id(in.representative_id);
  out.set_representative_title(in.representative_title);
  out.set_cluster_size(in.cluster_size);
  out.set_version(in.version);
  return out;
}

absl::StatusOr<Assignment> FromStoredAnswer(
    const std::string& article_id, const storage::v1::StoredAnswer& in) {
  Assignment out;
  out.article_id = article_id;
  out.cluster_id = in.cluster_id();
  ASSIGN_OR_RETURN(out.relation, FromStoredRelation(in.relation()));
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

}  // namespace

// Hands stored articles to the recovery's reader, read ones to its
// embedder and prepared ones back, in order. At most kRecoveryBacklog
// articles are in flight, which bounds the memory of the pipeline.
class ClusteringEngineImpl::RecoveryQueue {
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
  // Reader: the next article to read; nullopt once closed and empty.
  std::optional<storage::v1::StoredArticle> Take() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &RecoveryQueue::HasWork));
    if (todo_.empty()) return std::nullopt;
    storage::v1::StoredArticle stored = std::move(todo_.front());
    todo_.pop_front();
    return stored;
  }
  // Reader: one read article; nullptr once every article was read.
  void Read(std::unique_ptr<ReadArticle> read) {
    absl::MutexLock lock(&mu_);
    if (read == nullptr) {
      all_read_ = true;
    } else {
      read_.push_back(std::move(read));
    }
  }
  // Embedder: the next read article; nullptr once all were taken.
  std::unique_ptr<ReadArticle> TakeRead() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &RecoveryQueue::HasRead));
    if (read_.empty()) return nullptr;
    std::unique_ptr<ReadArticle> read = std::move(read_.front());
    read_.pop_front();
    return read;
  }
  // Embedder: one prepared article.
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

  std::optional<PreparedArticle> PopDone() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
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
  bool HasRead() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !read_.empty() || all_read_;
  }
  bool HasResultOrDrained() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !done_.empty() || in_flight_ == 0;
  }

  absl::Mutex mu_;
  std::deque<storage::v1::StoredArticle> todo_ ABSL_GUARDED_BY(mu_);
  // Behind pointers: a read text points into its normalised text.
  std::deque<std::unique_ptr<ReadArticle>> read_ ABSL_GUARDED_BY(mu_);
  std::deque<PreparedArticle> done_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool all_read_ ABSL_GUARDED_BY(mu_) = false;
};

// Puts recovered vectors into the index on a thread of its own, in the
// order they come, while the recovering thread goes on with the next
// articles: graph inserts are most of a restart's work. One thread
// inserts every vector in store order, so the graph is the one a single
// thread builds, on every run and replica.
class BackgroundIndexLoader {
 public:
  explicit BackgroundIndexLoader(VectorIndex* index)
      : index_(index), thread_([this] { Run(); }) {}
  ~BackgroundIndexLoader() { Finish().IgnoreError(); }

  BackgroundIndexLoader(const BackgroundIndexLoader&) = delete;
  BackgroundIndexLoader& operator=(const BackgroundIndexLoader&) = delete;

  // Queues one vector; blocks while the backlog is full. After a failed
  // insert it only drops the vectors (Finish reports the failure).
  void Add(int64_t id, int64_t bucket, std::vector<float> vector) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &BackgroundIndexLoader::HasRoom));
    if (!status_.ok()) return;
    todo_.push_back({id, bucket, std::move(vector)});
  }

  // Waits until every queued vector is in the index; the first failed
  // insert's status.
  absl::Status Finish() {
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
    }
    if (thread_.joinable()) thread_.join();
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  struct Job {
    int64_t id;
    int64_t bucket;
    std::vector<float> vector;
  };
  static constexpr size_t kBacklog = 4096;

  void Run() {
    while (std::optional<Job> job = Take()) {
      absl::Status added = index_->Add(job->id, job->bucket, job->vector);
      if (!added.ok()) {
        absl::MutexLock lock(&mu_);
        status_ = std::move(added);
        todo_.clear();
        return;
      }
    }
  }

  // The next vector to insert; nullopt once closed and drained.
  std::optional<Job> Take() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &BackgroundIndexLoader::HasWork));
    if (todo_.empty()) return std::nullopt;
    Job job = std::move(todo_.front());
    todo_.pop_front();
    return job;
  }

  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return todo_.size() < kBacklog || !status_.ok();
  }
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !todo_.empty() || closed_;
  }

  VectorIndex* const index_;
  absl::Mutex mu_;
  std::deque<Job> todo_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: starts once the rest is constructed
};

absl::Status ClusteringEngineImpl::Recover() {
  absl::MutexLock lock(&mu_);
  const absl::Time start = absl::Now();
  const absl::Time recovered_at = Now();
  int64_t keep_from_bucket = std::numeric_limits<int64_t>::min();
  absl::flat_hash_map<int64_t, int64_t> index_of_seq;
  // By cluster number (stored clusters are few next to articles).
  absl::flat_hash_map<int64_t, int64_t> representative_seq_of;
  bool clusters_checked = false;
  int64_t next_cluster = 0;
  std::vector<ForwardReference> forward_references;
  // Articles an editor moved: seq -> the cluster that holds them now.
  absl::flat_hash_map<int64_t, int64_t> placements;
  // Vectors the index snapshot held: seq -> bucket.
  absl::flat_hash_map<int64_t, int64_t> from_snapshot;
  // Whether articles are embedded on a thread apart from the one reading
  // them: with the graphs from a snapshot; without, one thread does both
  // and leaves the other core to the graph inserts. Set before the first
  // article is queued (the queue's lock orders it for the reader).
  bool embed_apart = false;
  EngineStore::Visitor visitor;
  visitor.meta = [&](const storage::v1::StoreMeta& meta) {
    next_seq_ = meta.next_seq();
    next_cluster = meta.next_cluster();
    if (meta.has_newest()) {
      newest_ = absl::FromUnixNanos(meta.newest_unix_nanos());
      // Vectors of shards that expiry would drop are not indexed at all.
      keep_from_bucket = OldestIndexedBucket();
    }
    feed_.Restore(meta);
    absl::StatusOr<absl::flat_hash_map<int64_t, int64_t>> snapshot =
        ReadIndexSnapshot(next_seq_, newest_, keep_from_bucket);
    if (snapshot.ok()) {
      from_snapshot = *std::move(snapshot);
      embed_apart = !from_snapshot.empty();
    } else {
      stats_.snapshot_refused = std::string(snapshot.status().message());
    }
    return absl::OkStatus();
  };
  visitor.cluster = [&](const storage::v1::StoredCluster& stored) {
    if (stored.number() < 0 || stored.number() >= kMaxClusters) {
      return absl::DataLossError(
          absl::StrCat("store: cluster number ", stored.number()));
    }
    // In increasing order; forgotten stories leave gaps.
    const int64_t c = stored.number();
    if (c < clusters_.end()) {
      return absl::DataLossError(
          absl::StrCat("store: cluster number ", c, " out of order"));
    }
    RETURN_IF_ERROR(RestoreCluster(stored, &clusters_.EmplaceAt(c)));
    cluster_by_id_[stored.id()] = c;
    representative_seq_of[c] = stored.representative_seq();
    return absl::OkStatus();
  };
  // Articles go through four stages, each on a thread of its own: the
  // reader normalises them and reads their texts, the embedder embeds them
  // (in store order), this thread puts them back into the clusters and
  // the lookups, and the index loader into the index.
  BackgroundIndexLoader index_loader(index_.get());
  RecoveryQueue queue;
  std::thread reader([this, &queue, &embed_apart] {
    absl::flat_hash_set<uint64_t> seen;  // when it embeds them itself
    while (std::optional<storage::v1::StoredArticle> stored = queue.Take()) {
      std::unique_ptr<ReadArticle> read = ReadStoredArticle(*std::move(stored));
      if (embed_apart) {
        queue.Read(std::move(read));
      } else {
        queue.Done(EmbedReadArticle(std::move(read), &seen));
      }
    }
    queue.Read(nullptr);
  });
  std::thread embedder([this, &queue] {
    absl::flat_hash_set<uint64_t> seen;
    while (std::unique_ptr<ReadArticle> read = queue.TakeRead()) {
      queue.Done(EmbedReadArticle(std::move(read), &seen));
    }
  });
  absl::Status applied = absl::OkStatus();
  auto apply = [&](PreparedArticle prepared) {
    if (applied.ok()) {
      auto placed = placements.find(prepared.stored.seq());
      if (placed != placements.end()) {
        prepared.stored.set_cluster(placed->second);
      }
      applied = RecoverArticle(std::move(prepared), keep_from_bucket,
                               recovered_at, &index_loader, &from_snapshot,
                               &index_of_seq, &forward_references);
    }
  };
  visitor.article = [&](const storage::v1::StoredArticle& stored) {
    if (!clusters_checked) {
      RETURN_IF_ERROR(CheckRecoveredClusters());
      clusters_checked = true;
      for (int64_t c = clusters_.begin(); c < clusters_.end(); ++c) {
        if (!clusters_.contains(c)) continue;
        for (int64_t seq : clusters_[c].placed) placements[seq] = c;
      }
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
  reader.join();
  embedder.join();
  const absl::Status indexed = index_loader.Finish();
  RETURN_IF_ERROR(loaded);
  RETURN_IF_ERROR(applied);
  RETURN_IF_ERROR(indexed);
  // Snapshot vectors no stored article claimed stay as waypoints.
  for (const auto& [seq, bucket] : from_snapshot) {
    RETURN_IF_ERROR(index_->Remove(ProvisionalId(seq), bucket).status());
  }
  if (!clusters_checked) RETURN_IF_ERROR(CheckRecoveredClusters());
  clusters_.SkipTo(next_cluster);
  for (const ForwardReference& ref : forward_references) {
    articles_[ref.article].answer.*ref.field = IndexOfArticle(ref.id);
  }
  for (int64_t c = clusters_.begin(); c < clusters_.end(); ++c) {
    if (!clusters_.contains(c)) continue;
    Cluster& cluster = clusters_[c];
    if (cluster.thread_parent >= 0) {
      clusters_[cluster.thread_parent].thread_children.push_back(c);
    }
    if (cluster.merged_into >= 0) {
      ++stats_.merges;
      // Stores from before absorbed stories were timed: from now.
      if (cluster.emptied == absl::InfiniteFuture()) {
        cluster.emptied = recovered_at;
      }
      if (options_.retention != absl::InfiniteDuration()) {
        emptied_stories_.insert({cluster.emptied, c});
      }
      continue;
    }
    if (cluster.members.empty()) {
      // Stores from before emptied stories were timed: from now.
      if (cluster.emptied == absl::InfiniteFuture()) {
        cluster.emptied = recovered_at;
      }
      if (options_.retention != absl::InfiniteDuration()) {
        emptied_stories_.insert({cluster.emptied, c});
      }
      continue;
    }
    cluster.emptied = absl::InfiniteFuture();
    ++live_clusters_;
    auto rep = index_of_seq.find(representative_seq_of[c]);
    if (rep != index_of_seq.end() &&
        Resolve(articles_[rep->second].cluster) == c) {
      cluster.representative = rep->second;
    } else {
      cluster.representative = MostCentral(cluster);
      ++stats_.repaired_representatives;
    }
  }
  feed_.DiscardPending();  // rebuilding the state changed no story
  stats_.recovered_articles = articles_.end();
  stats_.recovery_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return absl::OkStatus();
}

absl::Status ClusteringEngineImpl::WaitDurable(uint64_t ticket) {
  if (store_ == nullptr || ticket == 0) return absl::OkStatus();
  RETURN_IF_ERROR(store_->WaitDurable(ticket));
  feed_.Durable(ticket);
  return absl::OkStatus();
}

void ClusteringEngineImpl::MarkDirty(int64_t c) {
  clusters_[c].last_changed = Now();
  if (store_ != nullptr) dirty_clusters_.push_back(c);
}

uint64_t ClusteringEngineImpl::StageChanges() {
  if (store_ == nullptr) {
    feed_.Stage(nullptr);
    feed_.Staged(0);
    return 0;
  }
  if (new_articles_.empty() && deleted_seqs_.empty() &&
      dirty_clusters_.empty() && forgotten_clusters_.empty() &&
      !feed_.has_pending()) {
    return last_ticket_;
  }
  EngineStore::Batch batch;
  for (const auto& [a, article] : new_articles_) {
    if (articles_.contains(a) && !articles_[a].removed) {
      batch.put_articles.push_back(ToStored(a, *article));
    }
  }
  batch.delete_articles = std::move(deleted_seqs_);
  std::sort(dirty_clusters_.begin(), dirty_clusters_.end());
  dirty_clusters_.erase(
      std::unique(dirty_clusters_.begin(), dirty_clusters_.end()),
      dirty_clusters_.end());
  for (int64_t c : dirty_clusters_) {
    if (clusters_.contains(c)) batch.put_clusters.push_back(ToStored(c));
  }
  batch.delete_clusters = std::move(forgotten_clusters_);
  batch.meta.set_next_seq(next_seq_);
  batch.meta.set_next_cluster(clusters_.end());
  if (options_.log_sequence) {
    batch.meta.set_log_sequence(options_.log_sequence());
  }
  if (Dated(newest_)) {
    batch.meta.set_has_newest(true);
    batch.meta.set_newest_unix_nanos(absl::ToUnixNanos(newest_));
  }
  feed_.Stage(&batch);
  new_articles_.clear();
  deleted_seqs_.clear();
  dirty_clusters_.clear();
  forgotten_clusters_.clear();
  last_ticket_ = store_->Stage(std::move(batch));
  feed_.Staged(last_ticket_);
  return last_ticket_;
}

storage::v1::StoredArticle ClusteringEngineImpl::ToStored(
    int64_t a, const Article& article) const {
  const ArticleRecord& record = articles_[a];
  storage::v1::StoredArticle out;
  out.set_seq(record.seq);
  out.set_id(article.id);
  out.set_title(article.title);
  out.set_body(article.body);
  out.set_url(article.url);
  out.set_source(article.source);
  out.set_language(article.language);
  out.set_collection(article.collection);
  if (Dated(article.published)) {
    out.set_dated(true);
    out.set_published_unix_nanos(absl::ToUnixNanos(article.published));
  }
  out.set_cluster(record.cluster);
  out.set_content_hash(record.content_hash);
  out.set_received_unix_nanos(absl::ToUnixNanos(record.received));
  *out.mutable_answer() = ToStoredAnswer(Expand(a));
  return out;
}

storage::v1::StoredCluster ClusteringEngineImpl::ToStored(int64_t c) const {
  const Cluster& cluster = clusters_[c];
  storage::v1::StoredCluster out;
  out.set_number(c);
  out.set_id(cluster.id);
  out.set_merged_into(cluster.merged_into);
  for (const std::string& alias : cluster.aliases) out.add_aliases(alias);
  out.set_representative_seq(cluster.representative >= 0 &&
                                     articles_.contains(cluster.representative)
                                 ? articles_[cluster.representative].seq
                                 : -1);
  for (const ClusterEvent& event : cluster.history) {
    storage::v1::StoredClusterEvent* e = out.add_history();
    e->set_kind(ToStoredEventKind(event.kind));
    e->set_time_unix_nanos(absl::ToUnixNanos(event.time));
    e->set_cluster_id(event.cluster_id);
    e->set_article_id(event.article_id);
    e->set_action(event.action);
    e->set_editor(event.editor);
    e->set_reason(event.reason);
    e->set_detail(event.detail);
  }
  out.set_pinned(cluster.pinned);
  for (int64_t k : cluster.kept_apart) out.add_kept_apart(k);
  for (int64_t seq : cluster.placed) out.add_placed_seqs(seq);
  if (cluster.thread_parent >= 0) out.set_thread_parent(cluster.thread_parent);
  if (cluster.members.empty() && cluster.emptied != absl::InfiniteFuture()) {
    out.set_emptied_unix_nanos(absl::ToUnixNanos(cluster.emptied));
  }
  out.set_last_changed_unix_nanos(absl::ToUnixNanos(cluster.last_changed));
  if (cluster.span.dated) {
    out.set_dated(true);
    out.set_first_seen_unix_nanos(absl::ToUnixNanos(cluster.span.first_seen));
    out.set_last_seen_unix_nanos(absl::ToUnixNanos(cluster.span.last_seen));
  }
  return out;
}

absl::Status ClusteringEngineImpl::RestoreCluster(
    const storage::v1::StoredCluster& in, Cluster* out) {
  out->id = in.id();
  out->merged_into = in.merged_into() < 0 ? -1 : in.merged_into();
  out->aliases.assign(in.aliases().begin(), in.aliases().end());
  for (const storage::v1::StoredClusterEvent& e : in.history()) {
    ASSIGN_OR_RETURN(const ClusterEvent::Kind kind,
                     FromStoredEventKind(e.kind()));
    out->history.push_back({kind, absl::FromUnixNanos(e.time_unix_nanos()),
                            e.cluster_id(), e.article_id(), e.action(),
                            e.editor(), e.reason(), e.detail()});
  }
  out->pinned = in.pinned();
  out->kept_apart.assign(in.kept_apart().begin(), in.kept_apart().end());
  out->placed.assign(in.placed_seqs().begin(), in.placed_seqs().end());
  out->thread_parent = in.has_thread_parent() ? in.thread_parent() : -1;
  if (in.has_emptied_unix_nanos()) {
    out->emptied = absl::FromUnixNanos(in.emptied_unix_nanos());
  }
  // Stores written before the field: the newest event (the members'
  // arrival times are read later; the recovery fills those in).
  out->last_changed = absl::InfinitePast();
  if (in.has_last_changed_unix_nanos()) {
    out->last_changed = absl::FromUnixNanos(in.last_changed_unix_nanos());
  } else {
    for (const ClusterEvent& event : out->history) {
      out->last_changed = std::max(out->last_changed, event.time);
    }
  }
  out->span.dated = in.dated();
  if (in.dated()) {
    out->span.first_seen = absl::FromUnixNanos(in.first_seen_unix_nanos());
    out->span.last_seen = absl::FromUnixNanos(in.last_seen_unix_nanos());
  }
  return absl::OkStatus();
}

absl::Status ClusteringEngineImpl::CheckRecoveredClusters() {
  const int64_t n = clusters_.end();
  for (int64_t c = clusters_.begin(); c < n; ++c) {
    if (!clusters_.contains(c)) continue;  // forgotten
    if (clusters_[c].id.empty()) {
      return absl::DataLossError(
          absl::StrCat("store: cluster number ", c, " has no id"));
    }
    // A story kept apart from one forgotten since keeps its number:
    // KeptApart() skips it.
    for (int64_t k : clusters_[c].kept_apart) {
      if (k < 0 || k >= n) {
        return absl::DataLossError(absl::StrCat("store: cluster ",
                                                clusters_[c].id,
                                                " is kept apart from cluster "
                                                "number ",
                                                k, ", which does not exist"));
      }
    }
    // Thread links point to older clusters only, so no walk can loop; a
    // story is forgotten only once no thread goes through it (its younger
    // stories relinked to the root first).
    const int64_t parent = clusters_[c].thread_parent;
    if (parent != -1 &&
        (parent < 0 || parent >= c || !clusters_.contains(parent))) {
      return absl::DataLossError(absl::StrCat(
          "store: cluster ", clusters_[c].id, " names thread parent number ",
          parent, ", which is not an older cluster"));
    }
    int64_t at = c;
    for (int64_t steps = 0; clusters_[at].merged_into >= 0; ++steps) {
      at = clusters_[at].merged_into;
      if (!clusters_.contains(at) || steps > n) {
        return absl::DataLossError(absl::StrCat(
            "store: merge chain of cluster ", clusters_[c].id, " is broken"));
      }
    }
  }
  return absl::OkStatus();
}

std::unique_ptr<ClusteringEngineImpl::ReadArticle>
ClusteringEngineImpl::ReadStoredArticle(
    storage::v1::StoredArticle stored) const {
  auto read = std::make_unique<ReadArticle>();
  PreparedArticle& p = read->prepared;
  p.article.id = stored.id();
  p.article.title = stored.title();
  p.article.body = stored.body();
  p.article.source = stored.source();
  p.article.url = stored.url();
  p.article.language = stored.language();
  p.article.collection = stored.collection();
  if (stored.dated()) {
    p.article.published = absl::FromUnixNanos(stored.published_unix_nanos());
  }
  p.text = NormalizeArticle(p.article);
  if (p.text.ok()) read->text = embedder_->Prepare(EmbedInputOf(*p.text));
  p.stored = std::move(stored);
  return read;
}

ClusteringEngineImpl::PreparedArticle ClusteringEngineImpl::EmbedReadArticle(
    std::unique_ptr<ReadArticle> read,
    absl::flat_hash_set<uint64_t>* seen) const {
  PreparedArticle& p = read->prepared;
  if (p.text.ok() && seen->insert(p.text->hash).second) {
    if (read->text.ok()) {
      p.embedding = Embed(*p.text, EmbedMode::kObserve, read->text->get());
    } else {
      p.embedding = read->text.status();
    }
  }
  read->text = nullptr;  // before the text it points into moves
  return std::move(p);
}

absl::Status ClusteringEngineImpl::RecoverArticle(
    PreparedArticle prepared, int64_t keep_from_bucket, absl::Time recovered_at,
    BackgroundIndexLoader* index_loader,
    absl::flat_hash_map<int64_t, int64_t>* from_snapshot,
    absl::flat_hash_map<int64_t, int64_t>* index_of_seq,
    std::vector<ForwardReference>* forward_references) {
  const storage::v1::StoredArticle& stored = prepared.stored;
  const Article& article = prepared.article;
  const absl::StatusOr<NormalizedText>& text = prepared.text;
  if (!text.ok() || !clusters_.contains(stored.cluster())) {
    return absl::DataLossError(absl::StrCat("store: article ", stored.seq(),
                                            " (", stored.id(), ") is damaged"));
  }
  const int64_t a = articles_.end();
  const int64_t live = Resolve(stored.cluster());
  ASSIGN_OR_RETURN(const Assignment answer,
                   FromStoredAnswer(article.id, stored.answer()));
  ArticleRecord record =
      NewRecord(article, text->hash, stored.cluster(), answer);
  record.seq = stored.seq();
  // Stores from before ingest times were kept: count from now, which
  // keeps every article for at least the whole retention.
  record.received =
      ReceivedNow(stored.received_unix_nanos() != 0
                      ? absl::FromUnixNanos(stored.received_unix_nanos())
                      : recovered_at);
  Cluster& cluster = clusters_[live];
  auto same_text = article_by_hash_.find(ContentHash{text->hash});
  if (same_text != article_by_hash_.end()) {
    record.embedded_as = articles_[*same_text].embedded_as;
  } else {
    if (!prepared.embedding.has_value()) {  // its original was not loaded
      prepared.embedding = Embed(*text, EmbedMode::kObserve);
    }
    ASSIGN_OR_RETURN(Embedding embedding, std::move(*prepared.embedding));
    record.embedded_as = a;
    record.index_bucket = BucketOf(article.published);
    record.embedding = StoredEmbedding(embedding);
    if (record.index_bucket == VectorIndex::kTimelessBucket ||
        record.index_bucket >= keep_from_bucket) {
      auto snapshot = from_snapshot->find(stored.seq());
      if (snapshot != from_snapshot->end() &&
          snapshot->second == record.index_bucket &&
          index_->Relabel(ProvisionalId(stored.seq()), a,
                          record.index_bucket)) {
        from_snapshot->erase(snapshot);
        ++stats_.snapshot_vectors;
      } else {
        index_loader->Add(a, record.index_bucket, std::move(embedding.dense));
      }
    }
    AddToCentroid(&cluster, record.embedding);
  }
  CountAnswer(answer.relation);
  if (answer.version > 1) ++stats_.updates;
  // A store from before last_changed was kept: its newest arrival (a no-op
  // otherwise: every arrival changed the story).
  cluster.last_changed = std::max(cluster.last_changed, record.received);
  AppendRecord(std::move(record), &cluster);
  // References to articles deleted before the restart are lost.
  SetAnswer(a, answer);
  const CompactAnswer& compact = articles_[a].answer;
  CountReferences(a, +1);
  for (const auto& [field, id] :
       {std::pair(&CompactAnswer::duplicate_of, &answer.duplicate_of),
        std::pair(&CompactAnswer::nearest, &answer.nearest_article_id),
        std::pair(&CompactAnswer::representative, &answer.representative_id)}) {
    if (compact.*field < 0 && !id->empty()) {
      forward_references->push_back({a, field, *id});
    }
  }
  (*index_of_seq)[stored.seq()] = a;
  next_seq_ = std::max(next_seq_, stored.seq() + 1);
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace newsdedup
