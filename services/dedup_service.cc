#include "services/dedup_service.h"

#include <algorithm>
#include <deque>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace newsdedup {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share their numeric values.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

namespace {

// Timestamps beyond these bounds are rejected (protobuf's valid range).
constexpr int64_t kMinTimestampSeconds = -62135596800;  // 0001-01-01
constexpr int64_t kMaxTimestampSeconds = 253402300799;  // 9999-12-31

absl::StatusOr<absl::Time> FromTimestamp(const google::protobuf::Timestamp& t,
                                         absl::string_view field) {
  if (t.seconds() < kMinTimestampSeconds ||
      t.seconds() > kMaxTimestampSeconds || t.nanos() < 0 ||
      t.nanos() > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": not a valid timestamp"));
  }
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

bool Dated(absl::Time t) { return t != absl::InfinitePast(); }

v1::Relation ToProto(Relation relation) {
  switch (relation) {
    case Relation::kNewStory:
      return v1::NEW_STORY;
    case Relation::kSameStory:
      return v1::SAME_STORY;
    case Relation::kNearDuplicate:
      return v1::NEAR_DUPLICATE;
    case Relation::kExactDuplicate:
      return v1::EXACT_DUPLICATE;
  }
  return v1::RELATION_UNSPECIFIED;
}

void ToProto(const Assignment& a, v1::AssignResponse* out) {
  out->set_article_id(a.article_id);
  out->set_cluster_id(a.cluster_id);
  out->set_relation(ToProto(a.relation));
  out->set_duplicate_of(a.duplicate_of);
  out->set_representative_id(a.representative_id);
  out->set_representative_title(a.representative_title);
  out->set_cluster_size(a.cluster_size);
  v1::Explanation* why = out->mutable_explanation();
  why->set_nearest_article_id(a.nearest_article_id);
  why->set_nearest_similarity(a.nearest_similarity);
  why->set_cluster_similarity(a.cluster_similarity);
  why->set_threshold(a.threshold);
  why->set_runner_up_cluster_id(a.runner_up_cluster_id);
  why->set_runner_up_similarity(a.runner_up_similarity);
  for (const std::string& term : a.shared_terms) why->add_shared_terms(term);
  out->set_version(a.version);
}

v1::ClusterEvent::Kind ToProto(ClusterEvent::Kind kind) {
  switch (kind) {
    case ClusterEvent::Kind::kCreated:
      return v1::ClusterEvent::CREATED;
    case ClusterEvent::Kind::kAbsorbed:
      return v1::ClusterEvent::ABSORBED;
    case ClusterEvent::Kind::kRepresentativeChanged:
      return v1::ClusterEvent::REPRESENTATIVE_CHANGED;
  }
  return v1::ClusterEvent::KIND_UNSPECIFIED;
}

void ToProto(const ClusterSummary& c, v1::ClusterSummary* out) {
  out->set_cluster_id(c.cluster_id);
  for (const std::string& alias : c.aliases) out->add_aliases(alias);
  out->set_size(c.size);
  out->set_num_sources(c.num_sources);
  out->set_recent_articles(c.recent_articles);
  out->set_expired(c.expired);
  out->set_representative_id(c.representative_id);
  out->set_representative_title(c.representative_title);
  if (Dated(c.first_seen)) ToTimestamp(c.first_seen, out->mutable_first_seen());
  if (Dated(c.last_seen)) ToTimestamp(c.last_seen, out->mutable_last_seen());
  for (const ClusterEvent& event : c.history) {
    v1::ClusterEvent* e = out->add_history();
    e->set_kind(ToProto(event.kind));
    ToTimestamp(event.time, e->mutable_time());
    if (event.kind == ClusterEvent::Kind::kAbsorbed) {
      e->set_absorbed_cluster_id(event.cluster_id);
    }
    e->set_article_id(event.article_id);
  }
}

void ToProto(const ArticleView& a, v1::ClusterMember* out) {
  out->set_article_id(a.id);
  out->set_title(a.title);
  out->set_source(a.source);
  if (Dated(a.published)) ToTimestamp(a.published, out->mutable_published());
  out->set_relation(ToProto(a.assignment.relation));
}

void ToProto(const absl::Status& status, v1::Error* out) {
  out->set_code(static_cast<int>(status.code()));
  out->set_message(std::string(status.message()));
}

// Page tokens are the decimal offset of the page's first item.
absl::StatusOr<int> ParsePageToken(const std::string& token) {
  if (token.empty()) return 0;
  int offset = 0;
  if (!absl::SimpleAtoi(token, &offset) || offset < 0) {
    return absl::InvalidArgumentError("page_token: not a token from this API");
  }
  return offset;
}

std::string NextPageToken(int offset, int page_size, int total) {
  return offset + page_size < total ? absl::StrCat(offset + page_size) : "";
}

// Engine messages name the field ("title: ..."); say which message.
absl::Status InArticle(const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("article.", status.message()));
}

// Finishes a unary call with `status`.
grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

// Answers an AssignStream in request order while keeping the stream busy:
// the next request is read while earlier answers are still being written,
// so a client that pipelines its requests never waits for a round trip per
// article. At most `kMaxPendingWrites` answers wait for the network; past
// that, reading pauses (back-pressure on a client that does not read).
class AssignStreamReactor final
    : public grpc::ServerBidiReactor<v1::AssignRequest,
                                     v1::AssignStreamResponse> {
 public:
  explicit AssignStreamReactor(DedupServiceImpl* service) : service_(service) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side (or the call was cancelled)
      absl::MutexLock lock(&mu_);
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    // Reads are sequential, so `request_` is ours until the next StartRead.
    v1::AssignStreamResponse response;
    response.set_article_id(request_.article().id());
    v1::AssignResponse answer;
    const absl::Status status =
        service_->AssignOne(request_.article(), &answer);
    if (status.ok()) {
      *response.mutable_result()->mutable_answer() = std::move(answer);
    } else {
      ToProto(status, response.mutable_result()->mutable_error());
    }

    const v1::AssignStreamResponse* to_write = nullptr;
    bool read_next = false;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      // A deque keeps element addresses stable while it grows at the back.
      pending_.push_back(std::move(response));
      if (!writing_) {
        writing_ = true;
        to_write = &pending_.front();
      }
      read_next = pending_.size() < kMaxPendingWrites;
      read_paused_ = !read_next;
    }
    if (to_write != nullptr) StartWrite(to_write);
    if (read_next) StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    const v1::AssignStreamResponse* to_write = nullptr;
    bool read_next = false;
    {
      absl::MutexLock lock(&mu_);
      pending_.pop_front();
      writing_ = false;
      if (!ok) {
        if (!finished_) {
          finished_ = true;
          Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream broken"));
        }
        return;
      }
      if (!pending_.empty()) {
        writing_ = true;
        to_write = &pending_.front();
      }
      if (read_paused_ && !reads_done_ && pending_.size() < kMaxPendingWrites) {
        read_paused_ = false;
        read_next = true;
      }
      MaybeFinishLocked();
    }
    if (to_write != nullptr) StartWrite(to_write);
    if (read_next) StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  static constexpr size_t kMaxPendingWrites = 64;

  // Ends the call once the client has closed its side and every answer
  // has been written.
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reads_done_ && !writing_ && pending_.empty() && !finished_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }

  DedupServiceImpl* const service_;
  v1::AssignRequest request_;

  absl::Mutex mu_;
  std::deque<v1::AssignStreamResponse> pending_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;      // front of pending_
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;  // by back-pressure
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

DedupServiceImpl::DedupServiceImpl(ClusteringEngine* engine,
                                   const ServiceLimits& limits)
    : engine_(engine), limits_(limits) {}

absl::StatusOr<Article> DedupServiceImpl::ToArticle(
    const v1::Article& in) const {
  if (in.id().empty())
    return absl::InvalidArgumentError("article.id: required");
  const size_t bytes = in.id().size() + in.title().size() + in.body().size() +
                       in.url().size() + in.source().size();
  if (bytes > limits_.max_article_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("article ", in.id(), ": ", bytes, " bytes exceeds the ",
                     limits_.max_article_bytes, "-byte limit"));
  }
  Article article;
  article.id = in.id();
  article.title = in.title();
  article.body = in.body();
  article.url = in.url();
  article.source = in.source();
  article.language = in.language();
  if (in.has_published()) {
    absl::StatusOr<absl::Time> t =
        FromTimestamp(in.published(), "article.published");
    if (!t.ok()) return t.status();
    article.published = *t;
  }
  return article;
}

absl::Status DedupServiceImpl::AssignOne(const v1::Article& in,
                                         v1::AssignResponse* response) {
  absl::StatusOr<Article> article = ToArticle(in);
  if (!article.ok()) return article.status();
  absl::StatusOr<Assignment> answer = engine_->Assign(*article);
  if (!answer.ok()) return InArticle(answer.status());
  ToProto(*answer, response);
  return absl::OkStatus();
}

absl::StatusOr<int> DedupServiceImpl::PageSize(int requested) const {
  if (requested == 0) return limits_.default_page_size;
  if (requested < 0 || requested > limits_.max_page_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: must be between 1 and ", limits_.max_page_size));
  }
  return requested;
}

grpc::ServerUnaryReactor* DedupServiceImpl::Assign(
    grpc::CallbackServerContext* context, const v1::AssignRequest* request,
    v1::AssignResponse* response) {
  if (!request->has_article()) {
    return Finish(context, absl::InvalidArgumentError("article: required"));
  }
  return Finish(context, AssignOne(request->article(), response));
}

grpc::ServerUnaryReactor* DedupServiceImpl::AssignBatch(
    grpc::CallbackServerContext* context, const v1::AssignBatchRequest* request,
    v1::AssignBatchResponse* response) {
  if (request->articles_size() > limits_.max_batch_size) {
    return Finish(context,
                  absl::ResourceExhaustedError(absl::StrCat(
                      "articles: ", request->articles_size(),
                      " exceeds the batch limit of ", limits_.max_batch_size)));
  }
  // The engine takes the articles in chunks (AssignBatch reads texts
  // ahead on a second thread; the answers are those of one Assign at a
  // time); cancellation is checked between chunks.
  constexpr int kChunk = 64;
  const int n = request->articles_size();
  for (int i = 0; i < n; ++i) response->add_results();
  for (int from = 0; from < n; from += kChunk) {
    if (context->IsCancelled()) {
      // Deadline passed or client gone: what was assigned stays assigned
      // (a resend is idempotent), the rest is not attempted.
      return Finish(context, absl::DeadlineExceededError(
                                 "cancelled before the batch completed"));
    }
    std::vector<Article> articles;
    std::vector<int> positions;  // of `articles` in the request
    for (int i = from; i < std::min(n, from + kChunk); ++i) {
      absl::StatusOr<Article> article = ToArticle(request->articles(i));
      if (article.ok()) {
        articles.push_back(*std::move(article));
        positions.push_back(i);
      } else {
        ToProto(article.status(),
                response->mutable_results(i)->mutable_error());
      }
    }
    const std::vector<absl::StatusOr<Assignment>> answers =
        engine_->AssignBatch(articles);
    for (size_t k = 0; k < answers.size(); ++k) {
      v1::AssignResult* result = response->mutable_results(positions[k]);
      if (answers[k].ok()) {
        ToProto(*answers[k], result->mutable_answer());
      } else {
        ToProto(InArticle(answers[k].status()), result->mutable_error());
      }
    }
  }
  return Finish(context, absl::OkStatus());
}

grpc::ServerBidiReactor<v1::AssignRequest, v1::AssignStreamResponse>*
DedupServiceImpl::AssignStream(grpc::CallbackServerContext* /*context*/) {
  return new AssignStreamReactor(this);
}

grpc::ServerUnaryReactor* DedupServiceImpl::GetCluster(
    grpc::CallbackServerContext* context, const v1::GetClusterRequest* request,
    v1::GetClusterResponse* response) {
  if (request->cluster_id().empty()) {
    return Finish(context, absl::InvalidArgumentError("cluster_id: required"));
  }
  absl::StatusOr<int> page_size = PageSize(request->page_size());
  if (!page_size.ok()) return Finish(context, page_size.status());
  absl::StatusOr<int> offset = ParsePageToken(request->page_token());
  if (!offset.ok()) return Finish(context, offset.status());
  absl::StatusOr<ClusterSummary> summary =
      engine_->GetCluster(request->cluster_id());
  if (!summary.ok()) return Finish(context, summary.status());
  absl::StatusOr<MemberPage> page =
      engine_->ClusterMembers(request->cluster_id(), *offset, *page_size);
  if (!page.ok()) return Finish(context, page.status());
  ToProto(*summary, response->mutable_cluster());
  for (const ArticleView& member : page->members) {
    ToProto(member, response->add_members());
  }
  response->set_next_page_token(
      NextPageToken(*offset, *page_size, page->total));
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* DedupServiceImpl::ListClusters(
    grpc::CallbackServerContext* context,
    const v1::ListClustersRequest* request,
    v1::ListClustersResponse* response) {
  absl::StatusOr<int> page_size = PageSize(request->page_size());
  if (!page_size.ok()) return Finish(context, page_size.status());
  absl::StatusOr<int> offset = ParsePageToken(request->page_token());
  if (!offset.ok()) return Finish(context, offset.status());
  absl::Time since = absl::InfinitePast();
  if (request->has_updated_since()) {
    absl::StatusOr<absl::Time> t =
        FromTimestamp(request->updated_since(), "updated_since");
    if (!t.ok()) return Finish(context, t.status());
    since = *t;
  }
  std::vector<ClusterSummary> clusters =
      engine_->ListClusters(request->include_expired());  // by size
  if (request->has_updated_since()) {
    clusters.erase(std::remove_if(clusters.begin(), clusters.end(),
                                  [since](const ClusterSummary& c) {
                                    return !Dated(c.last_seen) ||
                                           c.last_seen < since;
                                  }),
                   clusters.end());
  }
  switch (request->sort_by()) {
    case v1::ListClustersRequest::LAST_UPDATE:
      SortClusters(ClusterOrder::kLastUpdate, &clusters);
      break;
    case v1::ListClustersRequest::RECENT_GROWTH:
      SortClusters(ClusterOrder::kRecentGrowth, &clusters);
      break;
    default:  // SIZE, or unspecified: as listed
      break;
  }
  const int total = static_cast<int>(clusters.size());
  for (int i = *offset; i < total && i - *offset < *page_size; ++i) {
    ToProto(clusters[i], response->add_clusters());
  }
  response->set_total(total);
  response->set_next_page_token(NextPageToken(*offset, *page_size, total));
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* DedupServiceImpl::GetArticle(
    grpc::CallbackServerContext* context, const v1::GetArticleRequest* request,
    v1::GetArticleResponse* response) {
  if (request->article_id().empty()) {
    return Finish(context, absl::InvalidArgumentError("article_id: required"));
  }
  absl::StatusOr<ArticleView> article =
      engine_->GetArticle(request->article_id());
  if (!article.ok()) return Finish(context, article.status());
  ToProto(article->assignment, response->mutable_assignment());
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* DedupServiceImpl::FindSimilar(
    grpc::CallbackServerContext* context, const v1::FindSimilarRequest* request,
    v1::FindSimilarResponse* response) {
  if (!request->has_article()) {
    return Finish(context, absl::InvalidArgumentError("article: required"));
  }
  constexpr int kDefaultNeighbors = 10;  // as documented in the proto
  const int k = request->k() == 0 ? kDefaultNeighbors : request->k();
  if (k < 1 || k > limits_.max_page_size) {
    return Finish(context,
                  absl::InvalidArgumentError(absl::StrCat(
                      "k: must be between 1 and ", limits_.max_page_size)));
  }
  absl::StatusOr<Article> article = ToArticle(request->article());
  if (!article.ok()) return Finish(context, article.status());
  absl::StatusOr<SimilarResult> result = engine_->FindSimilar(*article, k);
  if (!result.ok()) return Finish(context, InArticle(result.status()));
  for (const SimilarArticle& n : result->neighbors) {
    v1::SimilarArticle* out = response->add_neighbors();
    out->set_article_id(n.article_id);
    out->set_cluster_id(n.cluster_id);
    out->set_similarity(n.similarity);
  }
  ToProto(result->would_be, response->mutable_would_be());
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* DedupServiceImpl::DeleteArticle(
    grpc::CallbackServerContext* context,
    const v1::DeleteArticleRequest* request,
    v1::DeleteArticleResponse* /*response*/) {
  if (request->article_id().empty()) {
    return Finish(context, absl::InvalidArgumentError("article_id: required"));
  }
  return Finish(context, engine_->DeleteArticle(request->article_id()));
}

}  // namespace newsdedup
