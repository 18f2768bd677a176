// The gRPC face of operator commands on a running server's store
// (newsdedup.v1.AdminService): what `newsdedup admin` cannot do on a data
// directory that a server holds.
//
// Thread safety: as DedupServiceImpl; the engine must outlive the service.
#ifndef NEWSDEDUP_SERVICES_ADMIN_SERVICE_H_
#define NEWSDEDUP_SERVICES_ADMIN_SERVICE_H_

#include "grpcpp/grpcpp.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "services/engine.h"

namespace newsdedup {

class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  explicit AdminServiceImpl(ClusteringEngine* engine) : engine_(engine) {}

  grpc::ServerUnaryReactor* Backup(grpc::CallbackServerContext* context,
                                   const v1::BackupRequest* request,
                                   v1::BackupResponse* response) override;

 private:
  ClusteringEngine* const engine_;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ADMIN_SERVICE_H_
