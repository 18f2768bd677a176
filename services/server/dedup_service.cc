#include "services/server/dedup_service.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "google/protobuf/stubs/common.h"
#include "services/api/wire_messages.h"

namespace newsdedup {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share their numeric values.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

absl::StatusOr<Caller> AuthorizeCall(const AccessControl* access,
                                     const grpc::ServerContextBase& context,
                                     Role needed, absl::string_view action) {
  if (access == nullptr) return Caller{"anonymous", Role::kAdmin};
  absl::string_view header;
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    header = absl::string_view(it->second.data(), it->second.size());
  }
  return access->Authorize(header, needed, action);
}

namespace {

using absl::StrCat;

// Finishes a unary call with `status`.
grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

namespace {

// Ends a stream call at once with the refusal it gets.
class RefusedStreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit RefusedStreamReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

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
  AssignStreamReactor(DedupServiceImpl* service,
                      grpc::CallbackServerContext* context)
      : service_(service), context_(context) {
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
      if (finished_) return;
      if (cancelled_) {
        // A request that arrived before the cancel: not assigned. The call
        // must still be finished (gRPC's rule, even once cancelled), or it
        // never ends and the server's shutdown waits for it for good.
        reads_done_ = true;
        MaybeFinishLocked();
        return;
      }
    }
    // Reads are sequential, so `request_` is ours until the next StartRead.
    v1::AssignRequest request;
    const absl::Status parsed = ParseRequest(request_, &request);
    // The id, if it is there, even when it is what does not parse.
    const v1::AssignStreamResponse response = service_->intake_.AssignStreamed(
        parsed.ok() ? absl::StatusOr<v1::AssignRequest>(std::move(request))
                    : absl::StatusOr<v1::AssignRequest>(parsed),
        parsed.ok()
            ? ""
            : ValidUtf8Prefix(FindStringField(
                  request_, *v1::AssignRequest::descriptor(), "article.id")));
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
        // Once cancelled, nothing more is read: reading is over.
        read_next = !cancelled_;
        reads_done_ = cancelled_;
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
    // On a replica, how far it had applied the log once the last answer
    // was made: what a client passes as --min-sequence to read its writes
    // through another replica.
    service_->AddSequenceMetadata(context_, /*trailing=*/true);
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
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer request_;

  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> pending_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;      // front of pending_
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;  // by back-pressure
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// Serves one WatchClusterEvents stream from a thread of its own, which
// reads the feed, writes each event and waits for the write before the
// next (gRPC allows one write in flight), and between events waits on the
// feed in short slices, so that a cancel or StopWatchers ends the stream
// within a slice. The reactor deletes itself once both its thread and gRPC
// are done with it.
class WatchReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  WatchReactor(DedupServiceImpl* service, FeedQuery query)
      : service_(service), query_(std::move(query)) {
    std::thread([this] { Run(); }).detach();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_pending_ = false;
    write_ok_ = ok;
  }
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }
  void OnDone() override {
    bool last = false;
    {
      absl::MutexLock lock(&mu_);
      grpc_done_ = true;
      last = thread_done_;
    }
    if (last) Release();
  }

 private:
  static constexpr absl::Duration kWaitSlice = absl::Milliseconds(200);

  void Run() {
    const grpc::Status status = ToGrpcStatus(Stream());
    Finish(status);
    bool last = false;
    {
      absl::MutexLock lock(&mu_);
      thread_done_ = true;
      last = grpc_done_;
    }
    if (last) Release();
  }

  // Streams events until the client goes, the server stops or the feed
  // fails; the status to finish with.
  absl::Status Stream() {
    for (;;) {
      if (Stopped()) {
        return absl::UnavailableError(
            "the server is stopping; resume from the last cursor received");
      }
      {
        absl::MutexLock lock(&mu_);
        if (cancelled_) return absl::CancelledError("cancelled");
      }
      ASSIGN_OR_RETURN(std::vector<v1::ClusterChangeEvent> events,
                       service_->feed_.Next(&query_, kWaitSlice));
      for (const v1::ClusterChangeEvent& event : events) {
        RETURN_IF_ERROR(SerializeResponse(event, &buffer_));
        {
          absl::MutexLock lock(&mu_);
          write_pending_ = true;
        }
        // One write at a time, each waited for. (Not buffer_hint on all
        // but a read's last: a stream's first write so held back never
        // completed, and the stream stalled.)
        StartWrite(&buffer_);
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](bool* pending) { return !*pending; }, &write_pending_));
        if (!write_ok_) return absl::CancelledError("the stream broke");
      }
    }
  }

  bool Stopped() {
    absl::MutexLock lock(&service_->watchers_mu_);
    return service_->stopping_watchers_;
  }

  void Release() {
    DedupServiceImpl* service = service_;
    delete this;
    absl::MutexLock lock(&service->watchers_mu_);
    --service->watchers_;
  }

  DedupServiceImpl* const service_;
  FeedQuery query_;  // its after_cursor follows the stream
  grpc::ByteBuffer buffer_;

  absl::Mutex mu_;
  bool write_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool write_ok_ ABSL_GUARDED_BY(mu_) = true;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool thread_done_ ABSL_GUARDED_BY(mu_) = false;
  bool grpc_done_ ABSL_GUARDED_BY(mu_) = false;
};

namespace {

// Ends a server stream at once with the refusal it gets.
class RefusedWriteReactor final
    : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RefusedWriteReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

DedupServiceImpl::~DedupServiceImpl() {
  StopWatchers();
  absl::MutexLock lock(&watchers_mu_);
  watchers_mu_.Await(absl::Condition(
      +[](int* watchers) { return *watchers == 0; }, &watchers_));
}

void DedupServiceImpl::StopWatchers() {
  absl::MutexLock lock(&watchers_mu_);
  stopping_watchers_ = true;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>*
DedupServiceImpl::WatchClusterEvents(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request) {
  v1::WatchClusterEventsRequest parsed;
  absl::Status status =
      AuthorizeCall(access_, *context, Role::kRead, "WatchClusterEvents")
          .status();
  if (status.ok()) status = ParseRequest(*request, &parsed);
  absl::StatusOr<FeedQuery> query = ClusterFeed::QueryOf(parsed);
  if (status.ok()) status = query.status();
  if (status.ok()) {
    absl::MutexLock lock(&watchers_mu_);
    if (stopping_watchers_) {
      status = absl::UnavailableError("the server is stopping");
    } else if (watchers_ >= limits_.max_watchers) {
      status = absl::ResourceExhaustedError(
          StrCat("the server serves ", limits_.max_watchers,
                 " change feed streams at most; try again later"));
    } else {
      ++watchers_;
    }
  }
  if (!status.ok()) return new RefusedWriteReactor(ToGrpcStatus(status));
  return new WatchReactor(this, *std::move(query));
}

DedupServiceImpl::DedupServiceImpl(ClusteringEngine* engine,
                                   const ServiceLimits& limits,
                                   const ReplicaProgress* replica,
                                   const AccessControl* access)
    : engine_(engine),
      limits_(limits),
      replica_(replica),
      access_(access),
      intake_(engine, limits),
      reads_(engine, limits),
      edits_(engine, limits),
      feed_(engine) {}

absl::Status DedupServiceImpl::AwaitMinSequence(
    grpc::CallbackServerContext* context) const {
  if (replica_ == nullptr) return absl::OkStatus();
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(kMinSequenceKey);
  if (it == metadata.end()) return absl::OkStatus();
  // Up to shortly before the call's deadline, so that the answer saying
  // why reaches the client before its deadline does (gRPC's "none" is far
  // in the future; cap it).
  const absl::Time now = absl::Now();
  const absl::Duration left =
      std::min(absl::FromChrono(context->deadline()) - now, absl::Minutes(1));
  const absl::Time deadline =
      now + left - std::min(left / 4, absl::Milliseconds(500));
  return AwaitSequence(*replica_, kMinSequenceKey,
                       absl::string_view(it->second.data(), it->second.size()),
                       deadline);
}

void DedupServiceImpl::AddSequenceMetadata(grpc::CallbackServerContext* context,
                                           bool trailing) const {
  if (replica_ == nullptr) return;
  const auto add = trailing ? &grpc::CallbackServerContext::AddTrailingMetadata
                            : &grpc::CallbackServerContext::AddInitialMetadata;
  (context->*add)(kAppliedSequenceKey, StrCat(replica_->applied_sequence()));
  (context->*add)(kLogSequenceKey, StrCat(replica_->log_sequence()));
}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* DedupServiceImpl::Unary(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response, Role needed, absl::string_view action,
    absl::Status (DedupServiceImpl::*handle)(grpc::CallbackServerContext*,
                                             const Request&, Response*)) {
  Request parsed;
  absl::Status status =
      AuthorizeCall(access_, *context, needed, action).status();
  if (status.ok()) status = ParseRequest(*request, &parsed);
  if (status.ok()) status = AwaitMinSequence(context);
  Response answer;
  if (status.ok()) status = (this->*handle)(context, parsed, &answer);
  if (status.ok()) status = SerializeResponse(answer, response);
  AddSequenceMetadata(context);
  return Finish(context, status);
}

grpc::ServerUnaryReactor* DedupServiceImpl::Assign(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, Role::kIngest, "Assign",
               &DedupServiceImpl::DoAssign);
}
grpc::ServerUnaryReactor* DedupServiceImpl::AssignBatch(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, Role::kIngest, "AssignBatch",
               &DedupServiceImpl::DoAssignBatch);
}
grpc::ServerUnaryReactor* DedupServiceImpl::GetCluster(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, Role::kRead, "GetCluster",
               &DedupServiceImpl::DoGetCluster);
}
grpc::ServerUnaryReactor* DedupServiceImpl::ListClusters(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, Role::kRead, "ListClusters",
               &DedupServiceImpl::DoListClusters);
}
grpc::ServerUnaryReactor* DedupServiceImpl::GetArticle(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, Role::kRead, "GetArticle",
               &DedupServiceImpl::DoGetArticle);
}
grpc::ServerUnaryReactor* DedupServiceImpl::FindSimilar(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, Role::kRead, "FindSimilar",
               &DedupServiceImpl::DoFindSimilar);
}
grpc::ServerUnaryReactor* DedupServiceImpl::DeleteArticle(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, Role::kIngest, "DeleteArticle",
               &DedupServiceImpl::DoDeleteArticle);
}

grpc::ServerUnaryReactor* DedupServiceImpl::MergeClusters(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, Role::kEdit, "MergeClusters",
               &DedupServiceImpl::DoMergeClusters);
}

grpc::ServerUnaryReactor* DedupServiceImpl::SplitCluster(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, Role::kEdit, "SplitCluster",
               &DedupServiceImpl::DoSplitCluster);
}

grpc::ServerUnaryReactor* DedupServiceImpl::MoveArticle(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, Role::kEdit, "MoveArticle",
               &DedupServiceImpl::DoMoveArticle);
}

grpc::ServerUnaryReactor* DedupServiceImpl::PinRepresentative(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, Role::kEdit, "PinRepresentative",
               &DedupServiceImpl::DoPinRepresentative);
}

grpc::ServerUnaryReactor* DedupServiceImpl::KeepApart(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, Role::kEdit, "KeepApart",
               &DedupServiceImpl::DoKeepApart);
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
DedupServiceImpl::AssignStream(grpc::CallbackServerContext* context) {
  const absl::Status allowed =
      AuthorizeCall(access_, *context, Role::kIngest, "AssignStream").status();
  if (!allowed.ok()) return new RefusedStreamReactor(ToGrpcStatus(allowed));
  return new AssignStreamReactor(this, context);
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
  RETURN_IF_ERROR(NotCancelled(context));
  return intake_.Assign(request, response);
}

absl::Status DedupServiceImpl::DoAssignBatch(
    grpc::CallbackServerContext* context, const v1::AssignBatchRequest& request,
    v1::AssignBatchResponse* response) {
  return intake_.AssignBatch(
      request, [context] { return context->IsCancelled(); }, response);
}

absl::Status DedupServiceImpl::DoGetCluster(
    grpc::CallbackServerContext* /*context*/,
    const v1::GetClusterRequest& request, v1::GetClusterResponse* response) {
  return reads_.GetCluster(request, response);
}

absl::Status DedupServiceImpl::DoListClusters(
    grpc::CallbackServerContext* /*context*/,
    const v1::ListClustersRequest& request,
    v1::ListClustersResponse* response) {
  return reads_.ListClusters(request, response);
}

absl::Status DedupServiceImpl::DoGetArticle(
    grpc::CallbackServerContext* /*context*/,
    const v1::GetArticleRequest& request, v1::GetArticleResponse* response) {
  return reads_.GetArticle(request, response);
}

absl::Status DedupServiceImpl::DoFindSimilar(
    grpc::CallbackServerContext* /*context*/,
    const v1::FindSimilarRequest& request, v1::FindSimilarResponse* response) {
  return reads_.FindSimilar(request, response);
}

absl::Status DedupServiceImpl::DoDeleteArticle(
    grpc::CallbackServerContext* context,
    const v1::DeleteArticleRequest& request,
    v1::DeleteArticleResponse* /*response*/) {
  RETURN_IF_ERROR(NotCancelled(context));
  return intake_.DeleteArticle(request);
}

absl::Status DedupServiceImpl::DoMergeClusters(
    grpc::CallbackServerContext* context,
    const v1::MergeClustersRequest& request, v1::EditResponse* response) {
  ASSIGN_OR_RETURN(const std::string editor, EditorOf(context));
  return edits_.MergeClusters(request, editor, response);
}

absl::Status DedupServiceImpl::DoSplitCluster(
    grpc::CallbackServerContext* context,
    const v1::SplitClusterRequest& request, v1::EditResponse* response) {
  ASSIGN_OR_RETURN(const std::string editor, EditorOf(context));
  return edits_.SplitCluster(request, editor, response);
}

absl::Status DedupServiceImpl::DoMoveArticle(
    grpc::CallbackServerContext* context, const v1::MoveArticleRequest& request,
    v1::EditResponse* response) {
  ASSIGN_OR_RETURN(const std::string editor, EditorOf(context));
  return edits_.MoveArticle(request, editor, response);
}

absl::Status DedupServiceImpl::DoPinRepresentative(
    grpc::CallbackServerContext* context,
    const v1::PinRepresentativeRequest& request, v1::EditResponse* response) {
  ASSIGN_OR_RETURN(const std::string editor, EditorOf(context));
  return edits_.PinRepresentative(request, editor, response);
}

absl::Status DedupServiceImpl::DoKeepApart(grpc::CallbackServerContext* context,
                                           const v1::KeepApartRequest& request,
                                           v1::EditResponse* response) {
  ASSIGN_OR_RETURN(const std::string editor, EditorOf(context));
  return edits_.KeepApart(request, editor, response);
}

absl::StatusOr<std::string> DedupServiceImpl::EditorOf(
    grpc::CallbackServerContext* context) const {
  // Unary() has checked the role; this names the editor.
  ASSIGN_OR_RETURN(const Caller caller,
                   AuthorizeCall(access_, *context, Role::kEdit, "edit"));
  return caller.name;
}

}  // namespace newsdedup
