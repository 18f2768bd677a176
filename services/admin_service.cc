#include "services/admin_service.h"

#include <string>

#include "services/dedup_service.h"
#include "services/state_digest.h"

namespace newsdedup {

grpc::ServerUnaryReactor* AdminServiceImpl::Backup(
    grpc::CallbackServerContext* context, const v1::BackupRequest* request,
    v1::BackupResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Status allowed =
      AuthorizeCall(access_, *context, Role::kAdmin, "Backup").status();
  if (!allowed.ok()) {
    reactor->Finish(ToGrpcStatus(allowed));
    return reactor;
  }
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

grpc::ServerUnaryReactor* AdminServiceImpl::GetState(
    grpc::CallbackServerContext* context, const v1::GetStateRequest*,
    v1::GetStateResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Status allowed =
      AuthorizeCall(access_, *context, Role::kAdmin, "GetState").status();
  if (!allowed.ok()) {
    reactor->Finish(ToGrpcStatus(allowed));
    return reactor;
  }
  const uint64_t at = replica_ != nullptr ? replica_->applied_sequence() : 0;
  const StateDigest state = ComputeStateDigest(*engine_);
  response->set_digest(state.Hex());
  response->set_articles(state.articles);
  response->set_clusters(state.clusters);
  if (replica_ != nullptr) {
    response->set_replica(true);
    response->set_applied_sequence(replica_->applied_sequence());
    response->set_log_sequence(replica_->log_sequence());
    response->set_digest_sequence(at);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace newsdedup
