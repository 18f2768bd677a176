#include "services/admin_service.h"

#include <string>

#include "services/dedup_service.h"

namespace newsdedup {

grpc::ServerUnaryReactor* AdminServiceImpl::Backup(
    grpc::CallbackServerContext* context, const v1::BackupRequest* request,
    v1::BackupResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->backup_dir().empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "backup_dir: required"));
    return reactor;
  }
  absl::StatusOr<EngineStore::BackupInfo> info =
      engine_->Backup(request->backup_dir());
  if (info.ok()) {
    response->set_backup_id(info->id);
    response->set_size_bytes(info->size_bytes);
  }
  reactor->Finish(ToGrpcStatus(info.status()));
  return reactor;
}

}  // namespace newsdedup
