#include "services/dedup_service.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "google/protobuf/stubs/common.h"
#include "services/wire_messages.h"

namespace newsdedup {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share their numeric values.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

namespace {

using absl::StrCat;

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

// Ids name articles and stories in logs, URLs and the store: printable
// enough to be shown, short enough to be kept.
absl::Status ValidateId(absl::string_view field, absl::string_view id) {
  if (id.empty())
    return absl::InvalidArgumentError(StrCat(field, ": required"));
  if (id.size() > DedupServiceImpl::kMaxIdBytes) {
    return absl::InvalidArgumentError(StrCat(field, ": ", id.size(),
                                             " bytes exceeds the limit of ",
                                             DedupServiceImpl::kMaxIdBytes));
  }
  if (id.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(StrCat(field, ": contains a NUL byte"));
  }
  if (absl::StripAsciiWhitespace(id).empty()) {
    return absl::InvalidArgumentError(StrCat(field, ": only whitespace"));
  }
  return absl::OkStatus();
}

}  // namespace

// Answers an AssignStream in request order while keeping the stream busy:
// the next request is read while earlier answers are still being written,
// so a client that pipelines its requests never waits for a round trip per
// article. At most `kMaxPendingWrites` answers wait for the network; past
// that, reading pauses (back-pressure on a client that does not read).
// Every request gets an answer: one that does not parse (invalid UTF-8)
// gets its error, like one the engine refuses. A cancelled call stops
// reading at once, so no work is done for a client that has gone.
class AssignStreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
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
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || cancelled_) return;
    }
    // Reads are sequential, so `request_` is ours until the next StartRead.
    v1::AssignStreamResponse response;
    v1::AssignRequest request;
    absl::Status status = ParseRequest(request_, &request);
    v1::AssignResponse answer;
    if (status.ok()) {
      response.set_article_id(request.article().id());
      status = request.has_article()
                   ? service_->AssignOne(request.article(), &answer)
                   : absl::InvalidArgumentError("article: required");
    } else {
      // The id, if it is there, even when it is what does not parse.
      response.set_article_id(ValidUtf8Prefix(FindStringField(
          request_, *v1::AssignRequest::descriptor(), "article.id")));
    }
    if (status.ok()) {
      *response.mutable_result()->mutable_answer() = std::move(answer);
    } else {
      ToProto(status, response.mutable_result()->mutable_error());
    }
    grpc::ByteBuffer bytes;
    if (absl::Status serialised = SerializeResponse(response, &bytes);
        !serialised.ok()) {
      absl::MutexLock lock(&mu_);
      FinishLocked(ToGrpcStatus(serialised));
      return;
    }

    const grpc::ByteBuffer* to_write = nullptr;
    bool read_next = false;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      // A deque keeps element addresses stable while it grows at the back.
      pending_.push_back(std::move(bytes));
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
    const grpc::ByteBuffer* to_write = nullptr;
    bool read_next = false;
    {
      absl::MutexLock lock(&mu_);
      pending_.pop_front();
      writing_ = false;
      if (!ok) {
        FinishLocked(
            grpc::Status(grpc::StatusCode::CANCELLED, "stream broken"));
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

  // The deadline passed or the client went away: nothing more is read or
  // assigned (writes and reads in flight complete with ok = false).
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }

  void OnDone() override { delete this; }

 private:
  static constexpr size_t kMaxPendingWrites = 64;

  // `s` cut before its first invalid UTF-8 byte, for an answer's id.
  static std::string ValidUtf8Prefix(std::string s) {
    // One pass: the id can be as long as the message (a quadratic trim of
    // a megabyte-long id would stall this thread).
    s.resize(google::protobuf::internal::UTF8SpnStructurallyValid(s));
    return s;
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  // Ends the call once the client has closed its side and every answer
  // has been written.
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reads_done_ && !writing_ && pending_.empty()) {
      FinishLocked(cancelled_ ? grpc::Status::CANCELLED : grpc::Status::OK);
    }
  }

  DedupServiceImpl* const service_;
  grpc::ByteBuffer request_;

  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> pending_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;      // front of pending_
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;  // by back-pressure
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

DedupServiceImpl::DedupServiceImpl(ClusteringEngine* engine,
                                   const ServiceLimits& limits)
    : engine_(engine), limits_(limits) {}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* DedupServiceImpl::Unary(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response,
    absl::Status (DedupServiceImpl::*handle)(grpc::CallbackServerContext*,
                                             const Request&, Response*)) {
  Request parsed;
  absl::Status status = ParseRequest(*request, &parsed);
  Response answer;
  if (status.ok()) status = (this->*handle)(context, parsed, &answer);
  if (status.ok()) status = SerializeResponse(answer, response);
  return Finish(context, status);
}

grpc::ServerUnaryReactor* DedupServiceImpl::Assign(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, &DedupServiceImpl::DoAssign);
}
grpc::ServerUnaryReactor* DedupServiceImpl::AssignBatch(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, &DedupServiceImpl::DoAssignBatch);
}
grpc::ServerUnaryReactor* DedupServiceImpl::GetCluster(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, &DedupServiceImpl::DoGetCluster);
}
grpc::ServerUnaryReactor* DedupServiceImpl::ListClusters(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, &DedupServiceImpl::DoListClusters);
}
grpc::ServerUnaryReactor* DedupServiceImpl::GetArticle(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, &DedupServiceImpl::DoGetArticle);
}
grpc::ServerUnaryReactor* DedupServiceImpl::FindSimilar(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, &DedupServiceImpl::DoFindSimilar);
}
grpc::ServerUnaryReactor* DedupServiceImpl::DeleteArticle(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, &DedupServiceImpl::DoDeleteArticle);
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
DedupServiceImpl::AssignStream(grpc::CallbackServerContext* /*context*/) {
  return new AssignStreamReactor(this);
}

absl::StatusOr<Article> DedupServiceImpl::ToArticle(
    const v1::Article& in) const {
  RETURN_IF_ERROR(ValidateId("article.id", in.id()));
  const size_t bytes = in.id().size() + in.title().size() + in.body().size() +
                       in.url().size() + in.source().size();
  if (bytes > limits_.max_article_bytes) {
    return absl::ResourceExhaustedError(
        StrCat("article ", in.id(), ": ", bytes, " bytes exceeds the ",
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
    ASSIGN_OR_RETURN(article.published,
                     FromTimestamp(in.published(), "article.published"));
  }
  return article;
}

absl::Status DedupServiceImpl::AssignOne(const v1::Article& in,
                                         v1::AssignResponse* response) {
  ASSIGN_OR_RETURN(const Article article, ToArticle(in));
  absl::StatusOr<Assignment> answer = engine_->Assign(article);
  if (!answer.ok()) return InArticle(answer.status());
  ToProto(*answer, response);
  return absl::OkStatus();
}

absl::StatusOr<int> DedupServiceImpl::PageSize(int requested) const {
  if (requested == 0) return limits_.default_page_size;
  if (requested < 0 || requested > limits_.max_page_size) {
    return absl::InvalidArgumentError(
        StrCat("page_size: must be between 1 and ", limits_.max_page_size));
  }
  return requested;
}

// A call whose deadline has passed (or whose client has gone) is not
// started: its answer could not arrive, and what it stored would surprise.
absl::Status NotCancelled(grpc::CallbackServerContext* context) {
  if (!context->IsCancelled()) return absl::OkStatus();
  return absl::DeadlineExceededError(
      "cancelled or past its deadline before it started; nothing was stored");
}

absl::Status DedupServiceImpl::DoAssign(grpc::CallbackServerContext* context,
                                        const v1::AssignRequest& request,
                                        v1::AssignResponse* response) {
  if (!request.has_article()) {
    return absl::InvalidArgumentError("article: required");
  }
  RETURN_IF_ERROR(NotCancelled(context));
  return AssignOne(request.article(), response);
}

absl::Status DedupServiceImpl::DoAssignBatch(
    grpc::CallbackServerContext* context, const v1::AssignBatchRequest& request,
    v1::AssignBatchResponse* response) {
  if (request.articles_size() > limits_.max_batch_size) {
    return absl::ResourceExhaustedError(
        StrCat("articles: ", request.articles_size(),
               " exceeds the batch limit of ", limits_.max_batch_size));
  }
  // The engine takes the articles in chunks (AssignBatch reads texts
  // ahead on a second thread; the answers are those of one Assign at a
  // time); cancellation is checked between chunks.
  constexpr int kChunk = 64;
  const int n = request.articles_size();
  for (int i = 0; i < n; ++i) response->add_results();
  for (int from = 0; from < n; from += kChunk) {
    if (context->IsCancelled()) {
      // Deadline passed or client gone: what was assigned stays assigned
      // (a resend is idempotent), the rest is not attempted; the message
      // says which.
      return absl::DeadlineExceededError(StrCat(
          "cancelled or past its deadline after ", from, " of ", n,
          " articles: articles[0..", from,
          ") were assigned and stored, the rest were not attempted; resend "
          "the batch (resends are idempotent)"));
    }
    std::vector<Article> articles;
    std::vector<int> positions;  // of `articles` in the request
    for (int i = from; i < std::min(n, from + kChunk); ++i) {
      absl::StatusOr<Article> article = ToArticle(request.articles(i));
      if (article.ok()) {
        articles.push_back(*std::move(article));
        positions.push_back(i);
      } else {
        ToProto(absl::Status(
                    article.status().code(),
                    StrCat("articles[", i, "]: ", article.status().message())),
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
  return absl::OkStatus();
}

absl::Status DedupServiceImpl::DoGetCluster(
    grpc::CallbackServerContext* /*context*/,
    const v1::GetClusterRequest& request, v1::GetClusterResponse* response) {
  RETURN_IF_ERROR(ValidateId("cluster_id", request.cluster_id()));
  ASSIGN_OR_RETURN(const int page_size, PageSize(request.page_size()));
  ASSIGN_OR_RETURN(const ClusterSummary summary,
                   engine_->GetCluster(request.cluster_id()));
  ToProto(summary, response->mutable_cluster());
  PageSnapshots::Page page;
  if (request.page_token().empty()) {
    // Members in arrival order, as of now; later pages keep this order.
    ASSIGN_OR_RETURN(MemberPage members,
                     engine_->ClusterMembers(request.cluster_id(), 0,
                                             std::numeric_limits<int>::max()));
    std::vector<std::string> ids;
    for (const ArticleView& member : members.members) ids.push_back(member.id);
    page = member_pages_.First(std::move(ids), page_size);
    for (int i = 0; i < static_cast<int>(page.ids.size()); ++i) {
      ToProto(members.members[i], response->add_members());
    }
  } else {
    ASSIGN_OR_RETURN(page, member_pages_.Next(request.page_token(), page_size));
    for (const std::string& id : page.ids) {
      // Taken down or expired since the first page: left out.
      absl::StatusOr<ArticleView> member = engine_->GetArticle(id);
      if (member.ok()) ToProto(*member, response->add_members());
    }
  }
  response->set_next_page_token(page.next_token);
  return absl::OkStatus();
}

absl::Status DedupServiceImpl::DoListClusters(
    grpc::CallbackServerContext* /*context*/,
    const v1::ListClustersRequest& request,
    v1::ListClustersResponse* response) {
  if (!v1::ListClustersRequest::SortBy_IsValid(request.sort_by())) {
    return absl::InvalidArgumentError(
        StrCat("sort_by: ", request.sort_by(),
               " is not a value of ListClustersRequest.SortBy"));
  }
  ASSIGN_OR_RETURN(const int page_size, PageSize(request.page_size()));
  if (!request.page_token().empty()) {
    // Later pages: the order the first page computed (see page_tokens.h).
    ASSIGN_OR_RETURN(const PageSnapshots::Page page,
                     cluster_pages_.Next(request.page_token(), page_size));
    for (const std::string& id : page.ids) {
      absl::StatusOr<ClusterSummary> cluster = engine_->GetCluster(id);
      // Merged into another story (listed under its own id) or expired
      // since the first page: left out, never shown twice.
      if (!cluster.ok() || cluster->cluster_id != id ||
          (cluster->expired && !request.include_expired())) {
        continue;
      }
      ToProto(*cluster, response->add_clusters());
    }
    response->set_total(static_cast<int>(page.total));
    response->set_next_page_token(page.next_token);
    return absl::OkStatus();
  }
  absl::Time since = absl::InfinitePast();
  if (request.has_updated_since()) {
    ASSIGN_OR_RETURN(since,
                     FromTimestamp(request.updated_since(), "updated_since"));
  }
  std::vector<ClusterSummary> clusters =
      engine_->ListClusters(request.include_expired());  // by size
  if (request.has_updated_since()) {
    clusters.erase(std::remove_if(clusters.begin(), clusters.end(),
                                  [since](const ClusterSummary& c) {
                                    return !Dated(c.last_seen) ||
                                           c.last_seen < since;
                                  }),
                   clusters.end());
  }
  switch (request.sort_by()) {
    case v1::ListClustersRequest::LAST_UPDATE:
      SortClusters(ClusterOrder::kLastUpdate, &clusters);
      break;
    case v1::ListClustersRequest::RECENT_GROWTH:
      SortClusters(ClusterOrder::kRecentGrowth, &clusters);
      break;
    default:  // SIZE, or unspecified: as listed
      break;
  }
  std::vector<std::string> ids;
  for (const ClusterSummary& c : clusters) ids.push_back(c.cluster_id);
  const PageSnapshots::Page page =
      cluster_pages_.First(std::move(ids), page_size);
  for (size_t i = 0; i < page.ids.size(); ++i) {
    ToProto(clusters[i], response->add_clusters());
  }
  response->set_total(static_cast<int>(page.total));
  response->set_next_page_token(page.next_token);
  return absl::OkStatus();
}

absl::Status DedupServiceImpl::DoGetArticle(
    grpc::CallbackServerContext* /*context*/,
    const v1::GetArticleRequest& request, v1::GetArticleResponse* response) {
  RETURN_IF_ERROR(ValidateId("article_id", request.article_id()));
  ASSIGN_OR_RETURN(const ArticleView article,
                   engine_->GetArticle(request.article_id()));
  ToProto(article.assignment, response->mutable_assignment());
  return absl::OkStatus();
}

absl::Status DedupServiceImpl::DoFindSimilar(
    grpc::CallbackServerContext* /*context*/,
    const v1::FindSimilarRequest& request, v1::FindSimilarResponse* response) {
  if (!request.has_article()) {
    return absl::InvalidArgumentError("article: required");
  }
  constexpr int kDefaultNeighbors = 10;  // as documented in the proto
  const int k = request.k() == 0 ? kDefaultNeighbors : request.k();
  if (k < 1 || k > limits_.max_page_size) {
    return absl::InvalidArgumentError(
        StrCat("k: must be between 1 and ", limits_.max_page_size));
  }
  ASSIGN_OR_RETURN(const Article article, ToArticle(request.article()));
  absl::StatusOr<SimilarResult> result = engine_->FindSimilar(article, k);
  if (!result.ok()) return InArticle(result.status());
  for (const SimilarArticle& n : result->neighbors) {
    v1::SimilarArticle* out = response->add_neighbors();
    out->set_article_id(n.article_id);
    out->set_cluster_id(n.cluster_id);
    out->set_similarity(n.similarity);
  }
  ToProto(result->would_be, response->mutable_would_be());
  return absl::OkStatus();
}

absl::Status DedupServiceImpl::DoDeleteArticle(
    grpc::CallbackServerContext* context,
    const v1::DeleteArticleRequest& request,
    v1::DeleteArticleResponse* /*response*/) {
  RETURN_IF_ERROR(ValidateId("article_id", request.article_id()));
  RETURN_IF_ERROR(NotCancelled(context));
  return engine_->DeleteArticle(request.article_id());
}

}  // namespace newsdedup
