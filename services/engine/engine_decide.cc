#include <xxhash.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "embeddings/normalizer.h"
#include "services/engine/engine_impl.h"

// Where an article goes: normalise, embed, search the index, ask the join
// policy, record the answer.

namespace newsdedup {
namespace internal {

absl::StatusOr<std::string> CollectionOf(const Article& article) {
  if (article.collection.empty()) {
    return std::string(DefaultCollection(article.published));
  }
  if (article.collection.size() > kMaxCollectionBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("collection: ", article.collection.size(),
                     " bytes exceeds the limit of ", kMaxCollectionBytes));
  }
  if (absl::StrContains(article.collection, '\0')) {
    return absl::InvalidArgumentError("collection: contains a NUL byte");
  }
  if (absl::Status utf8 = NormalizeText(article.collection).status();
      !utf8.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("collection: ", utf8.message()));
  }
  return article.collection;
}

absl::StatusOr<NormalizedText> NormalizeArticle(const Article& article) {
  if (absl::StripAsciiWhitespace(article.id).empty()) {
    return absl::InvalidArgumentError(
        "id: must not be empty or only whitespace");
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
  text.language = article.language;
  ASSIGN_OR_RETURN(text.collection, CollectionOf(article));
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

void ClusteringEngineImpl::CountAnswer(Relation relation) {
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

int64_t ClusteringEngineImpl::BucketOf(absl::Time t) const {
  if (!Dated(t)) return VectorIndex::kTimelessBucket;
  absl::Duration remainder;
  const int64_t q =
      absl::IDivDuration(t - absl::UnixEpoch(), bucket_width_, &remainder);
  return remainder < absl::ZeroDuration() ? q - 1 : q;  // floor
}

int64_t ClusteringEngineImpl::OldestIndexedBucket() const {
  if (!Dated(newest_)) return std::numeric_limits<int64_t>::min();
  return BucketOf(newest_ - options_.story_window) - 1;
}

absl::StatusOr<Assignment> ClusteringEngineImpl::AssignAndStage(
    const Article& article, uint64_t* ticket) {
  ASSIGN_OR_RETURN(NormalizedText text, NormalizeArticle(article));
  return AssignNormalized(article, text, /*prepared=*/nullptr, ticket);
}

absl::StatusOr<Assignment> ClusteringEngineImpl::AssignNormalized(
    const Article& article, const NormalizedText& text,
    const PreparedText* prepared, uint64_t* ticket) {
  RETURN_IF_ERROR(CheckPublished(article.published));
  // A change the store could not keep is refused before it is made.
  RETURN_IF_ERROR(Writable());
  // Fast path without embedding: a resend or an exact duplicate. While
  // another caller's assign is under way, it is taken only if the lock is
  // free: waiting here idled a core for most of the other caller's
  // decision (docs/performance.md), and the decision below makes the same
  // checks again. A lone caller (a replica's applier, the cluster
  // command) always takes it, so that what expires before the embedding
  // reads the statistics never depends on a reader holding the lock at
  // that moment.
  const bool others_in_flight =
      assigns_in_flight_.fetch_add(1, std::memory_order_relaxed) > 0;
  absl::Cleanup done = [this] {
    assigns_in_flight_.fetch_sub(1, std::memory_order_relaxed);
  };
  if (!others_in_flight) {
    absl::MutexLock lock(&mu_);
    if (auto answer = FastPathLocked(article, text, ticket)) return *answer;
  } else if (mu_.TryLock()) {
    std::optional<absl::StatusOr<Assignment>> answer =
        FastPathLocked(article, text, ticket);
    mu_.Unlock();
    if (answer) return *answer;
  }
  const absl::Time embed_start = absl::Now();
  ASSIGN_OR_RETURN(Embedding embedding,
                   Embed(text, EmbedMode::kObserve, prepared));
  embeddings_.fetch_add(1, std::memory_order_relaxed);
  embedding_nanos_.fetch_add(
      absl::ToInt64Nanoseconds(absl::Now() - embed_start),
      std::memory_order_relaxed);
  // The index search, the most expensive step, runs without the engine's
  // lock (the index has its own), so concurrent callers search in
  // parallel and while decisions are made; the decision takes the
  // exclusive lock and also considers every article added since.
  ASSIGN_OR_RETURN(Candidates found,
                   SearchIndex(embedding, article.published, options_.neighbors,
                               /*for_insert=*/true));
  absl::MutexLock lock(&mu_);
  StageOnExit stage(this, ticket);
  // The embedder counted this text; unless a record keeps the embedding,
  // the counts go again (statistics follow the articles held).
  bool kept = false;
  absl::Cleanup uncount = [&] {
    if (!kept) embedder_->Forget(embedding);
  };
  ForgetExpiredLocked();
  // Another caller may have sent the same id or text meanwhile.
  if (auto answer = AnswerWithoutEmbedding(article, text)) return *answer;
  auto known = article_by_id_.find(article.id);
  if (known == article_by_id_.end()) {
    RETURN_IF_ERROR(CheckCapacity());
    kept = true;
    return AssignEmbedded(article, text.hash, std::move(embedding), found,
                          /*preferred=*/-1, /*version=*/1);
  }
  // A new version of a known article: the old text leaves first.
  const int64_t old = *known;
  const int version = articles_[old].answer.version + 1;
  const int64_t preferred = Resolve(articles_[old].cluster);
  RETURN_IF_ERROR(RemoveArticle(old));
  ++stats_.updates;
  auto same_text = article_by_hash_.find(ContentHash{text.hash});
  if (same_text != article_by_hash_.end()) {
    return AssignExactDuplicate(article, text.hash, *same_text, version);
  }
  kept = true;
  return AssignEmbedded(article, text.hash, std::move(embedding), found,
                        preferred, version);
}

std::optional<absl::StatusOr<Assignment>> ClusteringEngineImpl::FastPathLocked(
    const Article& article, const NormalizedText& text, uint64_t* ticket) {
  StageOnExit stage(this, ticket);
  ForgetExpiredLocked();
  return AnswerWithoutEmbedding(article, text);
}

EmbedInput ClusteringEngineImpl::EmbedInputOf(const NormalizedText& text) {
  return {text.title,      text.body,     text.title_names,
          text.body_names, text.language, text.collection};
}

absl::StatusOr<Embedding> ClusteringEngineImpl::Embed(
    const NormalizedText& text, EmbedMode mode,
    const PreparedText* prepared) const {
  absl::StatusOr<Embedding> embedding =
      prepared != nullptr ? embedder_->EmbedPrepared(*prepared, mode)
                          : embedder_->Embed(EmbedInputOf(text), mode);
  // The names-and-figures view feeds the learned join model only: without
  // one, it would cost a copy per centroid update and memory per article.
  if (embedding.ok() && options_.scorer == nullptr && !options_.on_candidates) {
    embedding->names_view = nullptr;
  }
  return embedding;
}

std::optional<absl::StatusOr<Assignment>>
ClusteringEngineImpl::AnswerWithoutEmbedding(const Article& article,
                                             const NormalizedText& text) {
  auto known = article_by_id_.find(article.id);
  if (known != article_by_id_.end()) {
    if (articles_[*known].content_hash != text.hash) {
      return std::nullopt;  // a new version
    }
    return View(*known).assignment;  // a resend
  }
  auto same_text = article_by_hash_.find(ContentHash{text.hash});
  if (same_text == article_by_hash_.end()) return std::nullopt;
  if (absl::Status full = CheckCapacity(); !full.ok()) return full;
  return AssignExactDuplicate(article, text.hash, *same_text,
                              /*version=*/1);
}

Assignment ClusteringEngineImpl::ExactDuplicateAnswer(int64_t original) const {
  Assignment answer;
  answer.relation = Relation::kExactDuplicate;
  answer.duplicate_of = std::string(articles_[original].id());
  answer.nearest_article_id = std::string(articles_[original].id());
  answer.nearest_similarity = 1.0f;
  return answer;
}

Assignment ClusteringEngineImpl::AssignExactDuplicate(const Article& article,
                                                      uint64_t hash,
                                                      int64_t original,
                                                      int version) {
  const int64_t c = Resolve(articles_[original].cluster);
  Assignment answer = ExactDuplicateAnswer(original);
  answer.cluster_similarity =
      clusters_[c].centroid.Cosine(EmbeddingOf(original).vector());
  answer.version = version;
  CountAnswer(Relation::kExactDuplicate);
  return Record(article, hash, articles_[original].embedded_as, c,
                std::move(answer));
}

absl::StatusOr<ClusteringEngineImpl::Candidates>
ClusteringEngineImpl::SearchIndex(const Embedding& embedding, absl::Time t,
                                  int k, bool for_insert) const {
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
    ASSIGN_OR_RETURN(found.hits, index_->SearchBeforeAdd(
                                     embedding.dense, k, min_bucket, max_bucket,
                                     BucketOf(t), &found.insert_hint));
  } else {
    ASSIGN_OR_RETURN(
        found.hits, index_->Search(embedding.dense, k, min_bucket, max_bucket));
  }
  return found;
}

absl::StatusOr<ClusteringEngineImpl::Decision> ClusteringEngineImpl::Decide(
    const Embedding& embedding, absl::Time t, const Candidates& found,
    int64_t preferred) const {
  std::vector<int64_t> ids;
  for (const Neighbor& n : found.hits) ids.push_back(n.id);
  for (int64_t a = std::max(found.searched_articles, articles_.begin());
       a < articles_.end(); ++a) {
    // Concurrent adds, unless the search already found them.
    if (articles_[a].embedded_as == a &&
        std::none_of(found.hits.begin(), found.hits.end(),
                     [a](const Neighbor& n) { return n.id == a; })) {
      ids.push_back(a);
    }
  }
  // The neighbours' records lie anywhere among the articles held, each a
  // cache miss past a few hundred thousand: ask for all of them, then for
  // what they point to (story, stored vector), before reading any.
  for (int64_t a : ids) {
    if (!articles_.contains(a)) continue;
    const char* record = reinterpret_cast<const char*>(&articles_[a]);
    for (size_t line = 0; line < sizeof(ArticleRecord); line += 64) {
      __builtin_prefetch(record + line);
    }
  }
  for (int64_t a : ids) {
    if (!articles_.contains(a)) continue;
    const ArticleRecord& record = articles_[a];
    if (record.removed || !clusters_.contains(record.cluster)) continue;
    const Cluster& story = clusters_[record.cluster];
    __builtin_prefetch(&story.merged_into);
    __builtin_prefetch(&story.span);
    if (record.embedded_as == a) record.embedding.Prefetch();
  }
  Decision d;
  // Re-score neighbours exactly; collect candidate clusters within reach.
  std::vector<int64_t> candidates;
  absl::flat_hash_set<int64_t> seen;
  for (int64_t a : ids) {
    // Taken down or forgotten since the search.
    if (!articles_.contains(a) || articles_[a].removed) continue;
    const int64_t c = Resolve(articles_[a].cluster);
    if (!policy_.InReach(clusters_[c].span, t)) continue;
    d.neighbors.push_back({a, Dot(embedding, EmbeddingOf(a).vector())});
    if (seen.insert(c).second) candidates.push_back(c);
  }
  std::stable_sort(
      d.neighbors.begin(), d.neighbors.end(),
      [](const auto& a, const auto& b) { return a.second > b.second; });
  if (!d.neighbors.empty()) {
    d.nearest = d.neighbors[0].first;
    d.nearest_similarity = d.neighbors[0].second;
  }
  if (preferred >= 0 && seen.insert(preferred).second) {
    candidates.push_back(preferred);
  }

  // Candidates score by how far they clear their threshold, which rises
  // with the time since the cluster last grew; or by the learned model's
  // odds.
  JoinQuestion question;
  question.base_threshold = policy_.JoinThreshold(embedding.num_words);
  const bool measure = options_.scorer != nullptr || options_.on_candidates;
  std::vector<std::pair<int64_t, StoryEvidence>> evidence;
  for (int64_t c : candidates) {
    ScoredStory score;
    score.story = c;
    const Cluster& cluster = clusters_[c];
    float time_factor = 1.0f;
    score.similarity = Similarity(cluster, embedding, t,
                                  NewerStories(c, candidates, t), &time_factor);
    score.threshold =
        policy_.MixedDatingThreshold(question.base_threshold * time_factor,
                                     cluster.span, t, MeanWords(cluster));
    if (measure) {
      evidence.emplace_back(c, Evidence(embedding, score, d));
      if (options_.scorer != nullptr) {
        score.odds = static_cast<float>(std::exp(
            std::min(options_.scorer->LogOdds(evidence.back().second), 30.0)));
      }
    }
    // Past its window, a candidate for its thread only.
    score.joinable = policy_.InWindow(cluster.span, t);
    question.candidates.push_back(score);
  }
  if (d.nearest >= 0) {
    question.nearest_story = Resolve(articles_[d.nearest].cluster);
    question.nearest_similarity = d.nearest_similarity;
  }
  question.preferred = preferred;
  question.preferred_has_members =
      preferred >= 0 && !clusters_[preferred].members.empty();
  d.choice = policy_.Choose(question);
  d.evidence = std::move(evidence);
  return d;
}

int ClusteringEngineImpl::NewerStories(int64_t story,
                                       absl::Span<const int64_t> candidates,
                                       absl::Time t) const {
  const StorySpan& span = clusters_[story].span;
  if (!span.dated || !Dated(t)) return 0;
  // Events between the story's start and the article: a backfilled
  // article is not made late by stories that began after it.
  int newer = 0;
  for (int64_t other : candidates) {
    const StorySpan& other_span = clusters_[other].span;
    newer += other_span.dated && other_span.first_seen > span.first_seen &&
             other_span.first_seen <= t;
  }
  return newer;
}

float ClusteringEngineImpl::Similarity(const Cluster& cluster,
                                       const Embedding& embedding, absl::Time t,
                                       int newer_stories,
                                       float* time_factor) const {
  const float factor = policy_.TimeFactor(cluster.span, t, newer_stories);
  *time_factor = factor;
  if (factor >= 1.0f || !options_.time_bonus_by_own_words ||
      embedding.sparse.empty() || embedding.document_frequencies == nullptr) {
    return cluster.centroid.Cosine(embedding);
  }
  // The share of the match that the story's own words carry: both
  // cosines divide by the centroid's norm, so their ratio is the dot
  // products'. One pass gives both.
  const std::vector<uint32_t>& df = *embedding.document_frequencies;
  const double documents = static_cast<double>(embedding.statistics_documents);
  const double story_size = static_cast<double>(cluster.members.size());
  const auto [similarity, own] = cluster.centroid.CosineAndPart(
      embedding.sparse, [&](size_t i, int members) {
        return i < df.size() &&
               policy_.IsOwnWord(df[i], documents, story_size, members);
      });
  float share = 0.0f;
  if (similarity > 0.0f) share = std::clamp(own / similarity, 0.0f, 1.0f);
  *time_factor = 1.0f - (1.0f - factor) * share;
  return similarity;
}

StoryEvidence ClusteringEngineImpl::Evidence(const Embedding& embedding,
                                             const ScoredStory& score,
                                             const Decision& d) const {
  const int64_t c = score.story;
  const Cluster& cluster = clusters_[c];
  StoryEvidence e;
  e.centroid_similarity = score.similarity;
  e.hand_threshold = score.threshold;
  e.num_words = embedding.num_words;
  e.story_size = static_cast<int>(cluster.members.size());
  if (!embedding.names().empty() && cluster.names_centroid.has_weight()) {
    e.names_similarity = cluster.names_centroid.Cosine(embedding.names());
  }
  for (const auto& [a, similarity] : d.neighbors) {
    if (Resolve(articles_[a].cluster) != c) continue;
    e.member_similarity = std::max(e.member_similarity, similarity);
    const StoredEmbedding& member = EmbeddingOf(a);
    if (!embedding.names().empty() && !member.names().empty()) {
      e.member_names_similarity =
          std::max(e.member_names_similarity,
                   SparseDot(embedding.names(), member.names()));
    }
  }
  return e;
}

void ClusteringEngineImpl::FillDecision(const Decision& d,
                                        Assignment* answer) const {
  const JoinChoice& choice = d.choice;
  answer->relation = choice.relation;
  answer->threshold = choice.threshold;
  answer->cluster_similarity = choice.similarity;
  if (d.nearest >= 0) {
    answer->nearest_article_id = std::string(articles_[d.nearest].id());
    answer->nearest_similarity = d.nearest_similarity;
  }
  if (choice.relation == Relation::kNearDuplicate) {
    answer->duplicate_of = std::string(articles_[d.nearest].id());
  }
  if (choice.runner_up >= 0) {
    answer->runner_up_cluster_id = clusters_[choice.runner_up].id;
    answer->runner_up_similarity = choice.runner_up_similarity;
  }
}

std::vector<std::string> ClusteringEngineImpl::SharedTerms(
    int64_t c, const Embedding& embedding) const {
  constexpr int kCandidates = 16;  // features; not all of them are words
  constexpr size_t kTerms = 5;
  std::vector<std::string> terms = embedder_->DescribeFeatures(
      clusters_[c].centroid.TopSharedFeatures(embedding, kCandidates));
  if (terms.size() > kTerms) terms.resize(kTerms);
  return terms;
}

absl::StatusOr<Assignment> ClusteringEngineImpl::AssignEmbedded(
    const Article& article, uint64_t hash, Embedding embedding,
    const Candidates& found, int64_t preferred, int version) {
  const absl::Time t = article.published;
  ASSIGN_OR_RETURN(Decision d, Decide(embedding, t, found, preferred));
  if (options_.on_candidates) {
    std::vector<EngineOptions::CandidateStory> measured;
    for (const auto& [c, evidence] : d.evidence) {
      measured.push_back({article.id, clusters_[c].id, evidence});
    }
    options_.on_candidates(measured);
  }
  Assignment answer;
  FillDecision(d, &answer);
  answer.version = version;
  CountAnswer(d.choice.relation);
  const int64_t chosen = d.choice.story >= 0 ? d.choice.story : NewCluster();
  answer.shared_terms = SharedTerms(chosen, embedding);

  const int64_t a = articles_.end();
  const int64_t bucket = BucketOf(t);
  RETURN_IF_ERROR(index_->Add(a, bucket, embedding.dense, found.insert_hint));
  StoredEmbedding stored(embedding);
  AddToCentroid(&clusters_[chosen], stored);
  Assignment recorded = Record(article, hash, a, chosen, std::move(answer));
  articles_[a].embedding = std::move(stored);
  articles_[a].index_bucket = bucket;
  UpdateRepresentative(chosen, a);

  const int64_t survivor = MergeSimilar(chosen, d.choice.merge_candidates);
  LinkThreads(survivor, d.choice.thread_candidates);
  ExpireOldShards(t);

  recorded.cluster_id = clusters_[survivor].id;
  FillClusterView(survivor, &recorded);
  SetAnswer(a, recorded);
  return recorded;
}

}  // namespace internal
}  // namespace newsdedup
