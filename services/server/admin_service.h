// The gRPC face of operator commands on a running server's store
// (newsdedup.v1.AdminService): what `newsdedup admin` cannot do on a data
// directory that a server holds.
//
// Thread safety: as DedupServiceImpl; the engine must outlive the service.
#ifndef NEWSDEDUP_SERVICES_SERVER_ADMIN_SERVICE_H_
#define NEWSDEDUP_SERVICES_SERVER_ADMIN_SERVICE_H_

#include "grpcpp/grpcpp.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "services/engine/engine.h"
#include "services/replica/replica_progress.h"
#include "services/server/access_control.h"

namespace newsdedup {

// Requests are parsed by the service itself (services/api/wire_messages.h), so
// that a string field that is not UTF-8 gets INVALID_ARGUMENT naming it.
using RawAdminService = v1::AdminService::WithRawCallbackMethod_Backup<
    v1::AdminService::WithRawCallbackMethod_GetState<
        v1::AdminService::CallbackService>>;

class AdminServiceImpl final : public RawAdminService {
 public:
  // `replica`: set on a replica of a replicated service. `access`: who
  // may call (every method needs the admin role; null: everyone).
  explicit AdminServiceImpl(ClusteringEngine* engine,
                            const ReplicaProgress* replica = nullptr,
                            const AccessControl* access = nullptr)
      : engine_(engine), replica_(replica), access_(access) {}

  grpc::ServerUnaryReactor* Backup(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetState(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;

 private:
  absl::Status DoBackup(const v1::BackupRequest& request,
                        v1::BackupResponse* response);
  absl::Status DoGetState(const v1::GetStateRequest& request,
                          v1::GetStateResponse* response);
  // Authorises, parses, calls `handle`, serialises, finishes.
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Unary(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response, absl::string_view action,
      absl::Status (AdminServiceImpl::*handle)(const Request&, Response*));

  ClusteringEngine* const engine_;
  const ReplicaProgress* const replica_;
  const AccessControl* const access_;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_ADMIN_SERVICE_H_
