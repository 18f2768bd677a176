#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "services/engine/engine_impl.h"

// The story table: clusters, their members and representative, merges,
// and the views of them that the API returns.

namespace newsdedup {
namespace internal {
namespace {

// Full re-election of the representative is cheap for small clusters; for
// large ones it runs when the size reaches a power of two, and in between
// only the newcomer is compared with the incumbent (amortised O(1)).
constexpr int kAlwaysReelectBelow = 64;

bool IsPowerOfTwo(int n) { return n > 0 && (n & (n - 1)) == 0; }

// The `most` names of `counts` (name number -> members) with the most
// members, ties in order of their numbers.
std::vector<std::string> MostMembersFirst(
    const absl::flat_hash_map<int32_t, int>& counts, const InternedNames& names,
    size_t most) {
  std::vector<std::pair<int, int32_t>> by_count;  // (-members, name)
  for (const auto& [name, count] : counts) by_count.push_back({-count, name});
  const size_t top = std::min(by_count.size(), most);
  std::partial_sort(by_count.begin(), by_count.begin() + top, by_count.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < top; ++i)
    out.push_back(names.Name(by_count[i].second));
  return out;
}

}  // namespace

std::string ClusteringEngineImpl::JoinedTerms(const Assignment& answer) {
  return absl::StrJoin(answer.shared_terms,
                       absl::string_view(&kTermSeparator, 1));
}

void ClusteringEngineImpl::AddToCentroid(Cluster* cluster,
                                         const StoredEmbedding& embedding) {
  cluster->centroid.Add(embedding.vector());
  cluster->names_centroid.Add(embedding.names());
  cluster->total_words += embedding.num_words();
}

void ClusteringEngineImpl::SubtractFromCentroid(
    Cluster* cluster, const StoredEmbedding& embedding) {
  cluster->centroid.Subtract(embedding.vector());
  cluster->names_centroid.Subtract(embedding.names());
  cluster->total_words -= embedding.num_words();
}

void ClusteringEngineImpl::AfterMemberLeft(int64_t c, int64_t a) {
  Cluster& cluster = clusters_[c];
  if (cluster.members.empty()) {
    cluster.representative = -1;
    cluster.pinned = false;
    cluster.members.shrink_to_fit();  // kept for a retention (ForgetStories)
    --live_clusters_;
    MarkEmptied(c);
  } else if (cluster.representative == a) {
    cluster.pinned = false;  // a pin lasts while its article is a member
    SetRepresentative(c, MostCentral(cluster));
  }
}

void ClusteringEngineImpl::ForgetPlacement(int64_t a) {
  const ArticleRecord& record = articles_[a];
  std::vector<int64_t>& placed = clusters_[record.cluster].placed;
  if (auto p = std::find(placed.begin(), placed.end(), record.seq);
      p != placed.end()) {
    placed.erase(p);
    MarkDirty(record.cluster);
  }
}

absl::StatusOr<int64_t> ClusteringEngineImpl::FindArticle(
    absl::string_view article_id) const {
  auto it = article_by_id_.find(article_id);
  if (it == article_by_id_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown article: ", article_id));
  }
  return *it;
}

absl::StatusOr<int64_t> ClusteringEngineImpl::FindLiveCluster(
    absl::string_view cluster_id) const {
  auto it = cluster_by_id_.find(cluster_id);
  if (it == cluster_by_id_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown cluster: ", cluster_id));
  }
  return Resolve(it->second);
}

absl::Status ClusteringEngineImpl::RemoveArticle(int64_t a) {
  ArticleRecord& record = articles_[a];
  const int64_t c = Resolve(record.cluster);
  Cluster& cluster = clusters_[c];
  CountReferences(a, -1);
  if (store_ != nullptr) deleted_seqs_.push_back(record.seq);
  MarkDirty(c);
  RemoveMember(&cluster, a);
  int64_t heir = -1;
  if (record.embedded_as != a) {
    --articles_[record.embedded_as].sharers;
  } else {
    // Exact duplicates share its vector only if it has sharers: the scan
    // of the members is skipped for every other article (most of them).
    int32_t found = 0;
    auto inherit = [&](int64_t m) {
      if (heir < 0) heir = m;
      articles_[m].embedded_as = heir;
      ++found;
    };
    for (size_t i = 0; i < cluster.members.size() && record.sharers > 0; ++i) {
      const int64_t m = cluster.members[i];
      if (articles_[m].embedded_as == a) inherit(m);
    }
    if (found < record.sharers) {
      // Some are in other clusters (an editor moved them): a rare, full
      // scan.
      for (int64_t m = articles_.begin(); m < articles_.end(); ++m) {
        if (m != a && !articles_[m].removed && articles_[m].embedded_as == a) {
          inherit(m);
        }
      }
    }
    if (heir >= 0) {
      articles_[heir].sharers = found - 1;
      articles_[heir].embedding = std::move(record.embedding);
      articles_[heir].index_bucket = record.index_bucket;
      index_->Relabel(a, heir, record.index_bucket);
      const int64_t heirs_cluster = Resolve(articles_[heir].cluster);
      if (heirs_cluster != c) {  // the vector changes clusters with it
        const StoredEmbedding& moved = articles_[heir].embedding;
        SubtractFromCentroid(&cluster, moved);
        AddToCentroid(&clusters_[heirs_cluster], moved);
        MarkDirty(heirs_cluster);
      }
    } else {
      ASSIGN_OR_RETURN(bool removed, index_->Remove(a, record.index_bucket));
      (void)removed;  // false when its shard had already expired
      SubtractFromCentroid(&cluster, record.embedding);
      // No article holds this text any more: its word counts go too, so
      // that statistics follow the articles held (as a restart rebuilds
      // them) and their memory stays bounded at the article cap. A
      // replica's engine (log_sequence set) keeps them instead: forgetting
      // made a replica recovered from a checkpoint and one that never
      // stopped differ (the failover check's digests did), and every
      // checkpoint entry rebuilds all replicas' statistics from the
      // articles held alike, which bounds them there.
      if (!options_.log_sequence) {
        embedder_->Forget(record.embedding.ForForget());
      }
    }
    record.embedding = StoredEmbedding();
  }
  auto by_hash = article_by_hash_.find(ContentHash{record.content_hash});
  if (by_hash != article_by_hash_.end() && *by_hash == a) {
    article_by_hash_.erase(by_hash);
    // The heir holds the same text: it is found by it from now on.
    if (heir >= 0) article_by_hash_.insert(heir);
  }
  article_by_id_.erase(a);
  record.removed = true;
  ForgetPlacement(a);  // a placement an editor made dies with the article
  AfterMemberLeft(c, a);
  return absl::OkStatus();
}

void ClusteringEngineImpl::AddMember(Cluster* cluster, int64_t a) {
  cluster->emptied = absl::InfiniteFuture();  // live (again)
  articles_[a].member_slot = static_cast<int32_t>(cluster->members.size());
  cluster->members.push_back(a);
}

void ClusteringEngineImpl::RemoveMember(Cluster* cluster, int64_t a) {
  const int32_t slot = articles_[a].member_slot;
  const int64_t last = cluster->members.back();
  cluster->members[slot] = last;
  articles_[last].member_slot = slot;
  cluster->members.pop_back();
  articles_[a].member_slot = -1;
}

int64_t ClusteringEngineImpl::NewCluster() {
  const int64_t c = clusters_.end();
  clusters_.emplace_back();
  // Opaque, stable and never reused: the sequence only grows.
  clusters_[c].id = absl::StrCat("story-", c + 1);
  cluster_by_id_.emplace(clusters_[c].id, c);
  MarkDirty(c);
  return c;
}

ClusteringEngineImpl::ArticleRecord ClusteringEngineImpl::NewRecord(
    const Article& article, uint64_t hash, int64_t c,
    const Assignment& answer) {
  ArticleRecord record;
  record.strings = RecordStrings(article.id, article.title, article.url,
                                 JoinedTerms(answer));
  record.source = sources_.Number(article.source);
  record.collection = collections_.Number(article.collection);
  record.published = article.published;
  record.content_hash = hash;
  record.cluster = c;
  return record;
}

int64_t ClusteringEngineImpl::AppendRecord(ArticleRecord record,
                                           Cluster* cluster) {
  const int64_t a = articles_.end();
  const int64_t embedded_as = record.embedded_as;
  articles_.push_back(std::move(record));
  // The first held article of a text stays the one found by it.
  article_by_hash_.insert(a);
  // The newest record of an id is the one found. An earlier version has
  // left already, unless a store holds two records of one id.
  if (auto [it, inserted] = article_by_id_.insert(a); !inserted) {
    article_by_id_.erase(it);
    article_by_id_.insert(a);
  }
  num_articles_.store(a + 1, std::memory_order_release);
  if (embedded_as != a) ++articles_[embedded_as].sharers;
  AddMember(cluster, a);
  return a;
}

Assignment ClusteringEngineImpl::Record(const Article& article, uint64_t hash,
                                        int64_t embedded_as, int64_t c,
                                        Assignment answer) {
  ArticleRecord record = NewRecord(article, hash, c, answer);
  record.embedded_as = embedded_as;
  record.seq = next_seq_++;
  record.received = ReceivedNow(Now());
  Cluster& cluster = clusters_[c];
  if (cluster.members.empty()) ++live_clusters_;  // new, or emptied earlier
  const int64_t a = AppendRecord(std::move(record), &cluster);
  if (store_ != nullptr) new_articles_.push_back({a, &article});
  MarkDirty(c);
  FeedEvent::Kind change =
      answer.version > 1 ? FeedEvent::Kind::kUpdated : FeedEvent::Kind::kGrew;
  if (cluster.representative < 0) {
    cluster.representative = a;
    AddEvent(&cluster, ClusterEvent::Kind::kCreated, cluster.id, article.id);
    change = FeedEvent::Kind::kCreated;
  }
  if (Dated(article.published) && article.published > newest_) {
    newest_ = article.published;  // exact duplicates advance it too
  }
  cluster.span.Extend(article.published);
  answer.article_id = article.id;
  answer.cluster_id = cluster.id;
  FillClusterView(c, &answer);
  SetAnswer(a, answer);
  CountReferences(a, +1);
  FeedEvent event = NewFeedEvent(change, c, a);
  event.relation = answer.relation;
  Publish(std::move(event));
  return answer;
}

std::string ClusteringEngineImpl::ThreadId(int64_t c) const {
  // Named like the story that started it, so the two read as a pair.
  return absl::StrCat("thread-", ThreadRoot(c) + 1);
}

void ClusteringEngineImpl::JoinThreads(int64_t c, int64_t d) {
  int64_t older = ThreadRoot(c);
  int64_t younger = ThreadRoot(d);
  if (older == younger) return;
  if (younger < older) std::swap(older, younger);
  clusters_[younger].thread_parent = older;
  clusters_[older].thread_children.push_back(younger);
  MarkDirty(younger);
  FeedEvent event = NewFeedEvent(FeedEvent::Kind::kThreadsJoined, c, -1);
  event.related_thread_id = absl::StrCat("thread-", younger + 1);
  Publish(std::move(event));
}

void ClusteringEngineImpl::LinkThreads(int64_t c,
                                       const std::vector<int64_t>& candidates) {
  for (int64_t d : candidates) {
    d = Resolve(d);
    if (ThreadRoot(d) == ThreadRoot(c)) continue;
    if (clusters_[c].centroid.Cosine(clusters_[d].centroid) >=
        policy_.ThreadThreshold(clusters_[c].span, clusters_[d].span)) {
      JoinThreads(c, d);
    }
  }
}

void ClusteringEngineImpl::FillClusterView(int64_t c,
                                           Assignment* answer) const {
  const Cluster& cluster = clusters_[c];
  answer->thread_id = ThreadId(c);
  if (cluster.representative >= 0) {  // -1 once every member is gone
    answer->representative_id =
        std::string(articles_[cluster.representative].id());
    answer->representative_title =
        std::string(articles_[cluster.representative].title());
  }
  answer->cluster_size = static_cast<int>(cluster.members.size());
}

float ClusteringEngineImpl::Centrality(const Cluster& cluster,
                                       int64_t a) const {
  return cluster.centroid.Cosine(EmbeddingOf(a).vector());
}

void ClusteringEngineImpl::SetRepresentative(int64_t c, int64_t a) {
  Cluster& cluster = clusters_[c];
  if (cluster.representative == a) return;
  cluster.representative = a;
  MarkDirty(c);
  AddEvent(&cluster, ClusterEvent::Kind::kRepresentativeChanged, "",
           std::string(articles_[a].id()));
  Announce(EngineOptions::StoryChange::Kind::kRepresentativeChanged, cluster.id,
           std::string(articles_[a].id()), "");
  Publish(FeedEvent::Kind::kRepresentativeChanged, c, a);
}

FeedEvent ClusteringEngineImpl::NewFeedEvent(FeedEvent::Kind kind, int64_t c,
                                             int64_t a) const {
  FeedEvent event;
  event.kind = kind;
  event.time = Now();
  event.cluster_id = clusters_[c].id;
  event.thread_id = ThreadId(c);
  event.cluster_size = static_cast<int>(clusters_[c].members.size());
  if (a >= 0) {
    event.article_id = std::string(articles_[a].id());
    if (articles_[a].collection >= 0) {
      event.collections.push_back(collections_.Name(articles_[a].collection));
    }
  } else {
    event.collections = StoryCollections(c);
  }
  return event;
}

std::vector<std::string> ClusteringEngineImpl::StoryCollections(
    int64_t c) const {
  absl::flat_hash_map<int32_t, int> collections;  // collection -> members
  for (int64_t m : clusters_[c].members) {
    if (articles_[m].collection >= 0) ++collections[articles_[m].collection];
  }
  return MostMembersFirst(collections, collections_, collections.size());
}

void ClusteringEngineImpl::Announce(
    const EngineOptions::StoryChange& change) const {
  if (options_.on_story_change) options_.on_story_change(change);
}

void ClusteringEngineImpl::Announce(EngineOptions::StoryChange::Kind kind,
                                    std::string story_id,
                                    std::string article_id,
                                    std::string absorbed_id) const {
  if (!options_.on_story_change) return;
  EngineOptions::StoryChange change;
  change.kind = kind;
  change.story_id = std::move(story_id);
  change.article_id = std::move(article_id);
  change.absorbed_id = std::move(absorbed_id);
  options_.on_story_change(change);
}

void ClusteringEngineImpl::AddEvent(Cluster* cluster, ClusterEvent::Kind kind,
                                    std::string cluster_id,
                                    std::string article_id) {
  ClusterEvent event;
  event.kind = kind;
  event.time = Now();
  event.cluster_id = std::move(cluster_id);
  event.article_id = std::move(article_id);
  cluster->history.push_back(std::move(event));
}

int64_t ClusteringEngineImpl::MajorityOrigin(const Cluster& cluster) const {
  // Most clusters never absorbed another: one pass, no counting.
  if (cluster.members.empty()) return -1;
  const int64_t first = articles_[cluster.members[0]].cluster;
  if (std::all_of(cluster.members.begin(), cluster.members.end(),
                  [&](int64_t m) { return articles_[m].cluster == first; })) {
    return first;
  }
  absl::flat_hash_map<int64_t, int> members_by_origin;
  int64_t majority = -1;
  int most = 0;
  for (int64_t m : cluster.members) {
    const int64_t origin = articles_[m].cluster;
    const int n = ++members_by_origin[origin];
    if (n > most || (n == most && origin < majority)) {
      majority = origin;
      most = n;
    }
  }
  return majority;
}

int64_t ClusteringEngineImpl::MostCentral(const Cluster& cluster) const {
  return MostCentralOf(cluster, MajorityOrigin(cluster));
}

int64_t ClusteringEngineImpl::MostCentralOf(const Cluster& cluster,
                                            int64_t origin) const {
  int64_t best = -1;
  float best_score = 0.0f;
  for (int64_t m : cluster.members) {
    if (articles_[m].embedded_as != m) continue;  // exact duplicates
    if (articles_[m].cluster != origin) continue;
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

void ClusteringEngineImpl::UpdateRepresentative(int64_t c, int64_t newcomer) {
  Cluster& cluster = clusters_[c];
  if (cluster.pinned) return;  // an editor chose it
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

int64_t ClusteringEngineImpl::MergeSimilar(
    int64_t c, const std::vector<int64_t>& candidates) {
  for (int64_t d : candidates) {
    d = Resolve(d);
    c = Resolve(c);
    if (d == c) continue;
    const Cluster& a = clusters_[c];
    const Cluster& b = clusters_[d];
    if (!policy_.MayMerge(a.span, b.span)) continue;
    if (KeptApart(c, d)) continue;  // an editor said so
    const double words = (a.total_words + b.total_words) /
                         std::max(1.0, static_cast<double>(a.centroid.count() +
                                                           b.centroid.count()));
    const float threshold = policy_.MergeThreshold(words);
    if (a.centroid.Cosine(b.centroid) < threshold) continue;
    // The older cluster (smaller sequence number) survives.
    c = std::min(c, d) == c ? Absorb(c, d) : Absorb(d, c);
  }
  return Resolve(c);
}

int64_t ClusteringEngineImpl::Absorb(int64_t survivor, int64_t absorbed) {
  Cluster& s = clusters_[survivor];
  Cluster& x = clusters_[absorbed];
  MarkDirty(survivor);
  MarkDirty(absorbed);
  s.centroid.Merge(x.centroid);
  s.names_centroid.Merge(x.names_centroid);
  s.total_words += x.total_words;
  for (int64_t m : x.members) AddMember(&s, m);
  s.aliases.push_back(x.id);
  s.aliases.insert(s.aliases.end(), x.aliases.begin(), x.aliases.end());
  s.span.Extend(x.span);
  FeedEvent merged = NewFeedEvent(FeedEvent::Kind::kMerged, survivor, -1);
  merged.related_cluster_id = x.id;
  Publish(std::move(merged));
  JoinThreads(survivor, absorbed);
  AddEvent(&s, ClusterEvent::Kind::kAbsorbed, x.id, "");
  Announce(EngineOptions::StoryChange::Kind::kMerge, s.id, "", x.id);

  x.merged_into = survivor;
  // Stories x absorbed earlier now point at the survivor, so that no
  // absorbed record depends on another: each can be forgotten alone.
  for (const std::string& alias : x.aliases) {
    auto it = cluster_by_id_.find(alias);
    if (it == cluster_by_id_.end()) continue;
    Cluster& y = clusters_[it->second];
    if (y.merged_into != absorbed) continue;
    y.merged_into = survivor;
    MarkDirty(it->second);
  }
  // Its id resolves to the survivor's for one retention, and while an
  // answer held names it; then it is forgotten (ForgetStories).
  MarkEmptied(absorbed);
  --live_clusters_;
  x.members.clear();
  x.members.shrink_to_fit();
  x.centroid = Centroid();
  x.names_centroid = Centroid();
  ++stats_.merges;
  s.kept_apart.insert(s.kept_apart.end(), x.kept_apart.begin(),
                      x.kept_apart.end());
  // An editor's pin holds (the survivor's first). Otherwise the
  // representative comes from the majority's side: the incumbent stays
  // while it is one of the majority and none of the majority is clearly
  // more central; never the smaller story's headline.
  const int64_t absorbed_rep = x.representative;
  // An absorbed record has no representative of its own: the one it had
  // may be forgotten while the record is still written (relinked threads,
  // flattened merges).
  x.representative = -1;
  if (s.pinned) return survivor;
  if (x.pinned) {
    SetRepresentative(survivor, absorbed_rep);
    s.pinned = true;
    x.pinned = false;
    return survivor;
  }
  const int64_t majority = MajorityOrigin(s);
  const int64_t challenger = MostCentralOf(s, majority);
  if (articles_[s.representative].cluster != majority ||
      Centrality(s, challenger) >
          Centrality(s, s.representative) + options_.representative_margin) {
    SetRepresentative(survivor, challenger);
  }
  return survivor;
}

int64_t ClusteringEngineImpl::IndexOfArticle(const std::string& id) const {
  if (id.empty()) return -1;
  auto it = article_by_id_.find(id);
  return it == article_by_id_.end() ? -1 : *it;
}

void ClusteringEngineImpl::SetAnswer(int64_t a, const Assignment& in) {
  articles_[a].strings.set_shared_terms(JoinedTerms(in));
  CompactAnswer& out = articles_[a].answer;
  out = CompactAnswer();
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
}

Assignment ClusteringEngineImpl::Expand(int64_t a) const {
  const ArticleRecord& record = articles_[a];
  const CompactAnswer& in = record.answer;
  Assignment out;
  out.article_id = std::string(record.id());
  out.cluster_id = clusters_[record.cluster].id;
  out.relation = in.relation;
  // Articles it names may have been forgotten since (as after a restart,
  // the answer then names none); the clusters it names stay while it is
  // held (Cluster::references).
  if (articles_.contains(in.duplicate_of)) {
    out.duplicate_of = std::string(articles_[in.duplicate_of].id());
  }
  if (articles_.contains(in.nearest)) {
    out.nearest_article_id = std::string(articles_[in.nearest].id());
  }
  if (in.runner_up >= 0) out.runner_up_cluster_id = clusters_[in.runner_up].id;
  if (articles_.contains(in.representative)) {
    out.representative_id = std::string(articles_[in.representative].id());
    out.representative_title =
        std::string(articles_[in.representative].title());
  }
  out.nearest_similarity = in.nearest_similarity;
  out.cluster_similarity = in.cluster_similarity;
  out.threshold = in.threshold;
  out.runner_up_similarity = in.runner_up_similarity;
  out.cluster_size = in.cluster_size;
  out.version = in.version;
  if (!record.strings.shared_terms().empty()) {
    out.shared_terms =
        absl::StrSplit(record.strings.shared_terms(), kTermSeparator);
  }
  return out;
}

ArticleView ClusteringEngineImpl::View(int64_t a) const {
  const ArticleRecord& record = articles_[a];
  ArticleView view;
  view.id = std::string(record.id());
  view.title = std::string(record.title());
  view.url = std::string(record.url());
  view.source = sources_.Name(record.source);
  view.collection = collections_.Name(record.collection);
  view.published = record.published;
  // The relation and explanation it first received; its story, that
  // story's representative and size as they are now (after merges).
  view.assignment = Expand(a);
  const int64_t live = Resolve(record.cluster);
  view.assignment.cluster_id = clusters_[live].id;
  FillClusterView(live, &view.assignment);
  return view;
}

ClusterSummary ClusteringEngineImpl::Summarize(int64_t c,
                                               bool with_history) const {
  const Cluster& cluster = clusters_[c];
  ClusterSummary s;
  s.cluster_id = cluster.id;
  s.thread_id = ThreadId(c);
  s.aliases = cluster.aliases;
  if (with_history) s.history = cluster.history;
  s.size = static_cast<int>(cluster.members.size());
  absl::flat_hash_map<int32_t, int> sources;      // source -> members
  absl::flat_hash_map<int32_t, int> collections;  // collection -> members
  for (int64_t m : cluster.members) {
    if (articles_[m].source >= 0) ++sources[articles_[m].source];
    if (articles_[m].collection >= 0) ++collections[articles_[m].collection];
  }
  s.num_sources = static_cast<int>(sources.size());
  s.top_sources = MostMembersFirst(
      sources, sources_, static_cast<size_t>(ClusterSummary::kTopSources));
  s.collections =
      MostMembersFirst(collections, collections_, collections.size());
  s.timeline.assign(ClusterSummary::kTimelineHours, 0);
  const absl::Time now = NewsClock();
  if (Dated(now)) {
    s.timeline_end = now;
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
    s.representative_id = std::string(articles_[cluster.representative].id());
    s.representative_title =
        std::string(articles_[cluster.representative].title());
  }
  if (cluster.span.dated) {
    s.first_seen = cluster.span.first_seen;
    s.last_seen = cluster.span.last_seen;
  }
  s.last_changed = cluster.last_changed;
  return s;
}

}  // namespace internal
}  // namespace newsdedup
