// The gRPC face of the clustering engine (protos/newsdedup/v1/dedup.proto).
//
// A thin layer: each handler validates the request, calls the engine, maps
// absl::Status to grpc::Status and finishes. No FAISS or storage calls here.
//
//   ASSIGN_OR_RETURN(auto engine, ClusteringEngine::Create(...));
//   DedupServiceImpl service(engine.get(), ServiceLimits());
//   grpc::ServerBuilder builder;
//   builder.RegisterService(&service);
//
// Thread safety: handlers run concurrently on gRPC's threads; the engine is
// thread-safe. The engine must outlive the service.
#ifndef NEWSDEDUP_SERVICES_SERVER_DEDUP_SERVICE_H_
#define NEWSDEDUP_SERVICES_SERVER_DEDUP_SERVICE_H_

#include <cstddef>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "services/api/api_messages.h"
#include "services/api/article_intake.h"
#include "services/api/cluster_edits.h"
#include "services/api/cluster_feed.h"
#include "services/api/cluster_reads.h"
#include "services/engine/engine.h"
#include "services/replica/replica_progress.h"
#include "services/server/access_control.h"

namespace newsdedup {

// Maps an absl::Status to the grpc::Status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The caller of a call, if its `authorization` metadata grants `needed`
// (AccessControl::Authorize). A null `access` lets every call through.
absl::StatusOr<Caller> AuthorizeCall(const AccessControl* access,
                                     const grpc::ServerContextBase& context,
                                     Role needed, absl::string_view action);

// The generated callback service with every method taking the raw bytes
// of its messages: requests are parsed by the service (wire_messages.h),
// so that a request gRPC could not parse still gets an answer that names
// the bad field.
using RawEditorialMethods =
    v1::DedupService::WithRawCallbackMethod_MergeClusters<
        v1::DedupService::WithRawCallbackMethod_SplitCluster<
            v1::DedupService::WithRawCallbackMethod_MoveArticle<
                v1::DedupService::WithRawCallbackMethod_PinRepresentative<
                    v1::DedupService::WithRawCallbackMethod_KeepApart<
                        v1::DedupService::Service>>>>>;
using RawDedupService = v1::DedupService::WithRawCallbackMethod_Assign<
    v1::DedupService::WithRawCallbackMethod_AssignBatch<
        v1::DedupService::WithRawCallbackMethod_AssignStream<
            v1::DedupService::WithRawCallbackMethod_GetCluster<
                v1::DedupService::WithRawCallbackMethod_ListClusters<
                    v1::DedupService::WithRawCallbackMethod_GetArticle<
                        v1::DedupService::WithRawCallbackMethod_FindSimilar<
                            v1::DedupService::
                                WithRawCallbackMethod_DeleteArticle<
                                    v1::DedupService::
                                        WithRawCallbackMethod_WatchClusterEvents<
                                            RawEditorialMethods>>>>>>>>>;

class DedupServiceImpl final : public RawDedupService {
 public:
  // `replica`: set on a replica of a replicated service (it may be the
  // engine itself); answers then carry the applied sequence, and reads
  // honour a minimum sequence (replica_progress.h). `access`: who may call
  // what (null: everyone everything); it must outlive the service.
  DedupServiceImpl(ClusteringEngine* engine, const ServiceLimits& limits,
                   const ReplicaProgress* replica = nullptr,
                   const AccessControl* access = nullptr);
  // Waits for the watch streams to end (StopWatchers ends them).
  ~DedupServiceImpl() override;

  // Ends every WatchClusterEvents stream (UNAVAILABLE: resume from the
  // last cursor) and refuses new ones: a server shutting down calls it
  // first, since a watch never ends by itself.
  void StopWatchers();

  grpc::ServerUnaryReactor* Assign(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* AssignBatch(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* AssignStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetCluster(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListClusters(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchClusterEvents(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* GetArticle(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* FindSimilar(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeleteArticle(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* MergeClusters(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* SplitCluster(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* MoveArticle(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* PinRepresentative(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* KeepApart(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;

 private:
  friend class AssignStreamReactor;
  friend class WatchReactor;

  // Checks that the caller holds `needed`, parses the request, runs
  // `handle` and serialises its response; the call finishes with the first
  // error. `action` names the method in a refusal.
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Unary(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response, Role needed, absl::string_view action,
      absl::Status (DedupServiceImpl::*handle)(grpc::CallbackServerContext*,
                                               const Request&, Response*));

  absl::Status DoAssign(grpc::CallbackServerContext* context,
                        const v1::AssignRequest& request,
                        v1::AssignResponse* response);
  absl::Status DoAssignBatch(grpc::CallbackServerContext* context,
                             const v1::AssignBatchRequest& request,
                             v1::AssignBatchResponse* response);
  absl::Status DoGetCluster(grpc::CallbackServerContext* context,
                            const v1::GetClusterRequest& request,
                            v1::GetClusterResponse* response);
  absl::Status DoListClusters(grpc::CallbackServerContext* context,
                              const v1::ListClustersRequest& request,
                              v1::ListClustersResponse* response);
  absl::Status DoGetArticle(grpc::CallbackServerContext* context,
                            const v1::GetArticleRequest& request,
                            v1::GetArticleResponse* response);
  absl::Status DoFindSimilar(grpc::CallbackServerContext* context,
                             const v1::FindSimilarRequest& request,
                             v1::FindSimilarResponse* response);
  absl::Status DoDeleteArticle(grpc::CallbackServerContext* context,
                               const v1::DeleteArticleRequest& request,
                               v1::DeleteArticleResponse* response);

  absl::Status DoMergeClusters(grpc::CallbackServerContext* context,
                               const v1::MergeClustersRequest& request,
                               v1::EditResponse* response);
  absl::Status DoSplitCluster(grpc::CallbackServerContext* context,
                              const v1::SplitClusterRequest& request,
                              v1::EditResponse* response);
  absl::Status DoMoveArticle(grpc::CallbackServerContext* context,
                             const v1::MoveArticleRequest& request,
                             v1::EditResponse* response);
  absl::Status DoPinRepresentative(grpc::CallbackServerContext* context,
                                   const v1::PinRepresentativeRequest& request,
                                   v1::EditResponse* response);
  absl::Status DoKeepApart(grpc::CallbackServerContext* context,
                           const v1::KeepApartRequest& request,
                           v1::EditResponse* response);

  // The name of the caller, who holds the edit role.
  absl::StatusOr<std::string> EditorOf(
      grpc::CallbackServerContext* context) const;

  // On a replica: waits for the client's minimum sequence, if it sent one
  // (UNAVAILABLE when the call's deadline passes first).
  absl::Status AwaitMinSequence(grpc::CallbackServerContext* context) const;
  // On a replica: the applied and log sequence in the answer's initial
  // metadata (unary calls), or in its trailing metadata (a stream's end).
  void AddSequenceMetadata(grpc::CallbackServerContext* context,
                           bool trailing = false) const;

  ClusteringEngine* const engine_;
  const ServiceLimits limits_;
  const ReplicaProgress* const replica_;
  const AccessControl* const access_;
  ArticleIntake intake_;
  ClusterReads reads_;
  ClusterEdits edits_;
  ClusterFeed feed_;

  absl::Mutex watchers_mu_;
  int watchers_ ABSL_GUARDED_BY(watchers_mu_) = 0;  // streams not done
  bool stopping_watchers_ ABSL_GUARDED_BY(watchers_mu_) = false;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_DEDUP_SERVICE_H_
