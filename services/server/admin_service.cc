#include "services/server/admin_service.h"

#include <string>

#include "services/api/wire_messages.h"
#include "services/engine/state_digest.h"
#include "services/server/dedup_service.h"

namespace newsdedup {

template <typename Request, typename Response>
grpc::ServerUnaryReactor* AdminServiceImpl::Unary(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response, absl::string_view action,
    absl::Status (AdminServiceImpl::*handle)(const Request&, Response*)) {
  Request parsed;
  absl::Status status =
      AuthorizeCall(access_, *context, Role::kAdmin, action).status();
  if (status.ok()) status = ParseRequest(*request, &parsed);
  Response answer;
  if (status.ok()) status = (this->*handle)(parsed, &answer);
  if (status.ok()) status = SerializeResponse(answer, response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::Backup(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, "Backup",
               &AdminServiceImpl::DoBackup);
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetState(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return Unary(context, request, response, "GetState",
               &AdminServiceImpl::DoGetState);
}

absl::Status AdminServiceImpl::DoBackup(const v1::BackupRequest& request,
                                        v1::BackupResponse* response) {
  if (request.backup_dir().empty()) {
    return absl::InvalidArgumentError("backup_dir: required");
  }
  absl::StatusOr<EngineStore::BackupInfo> info =
      engine_->Backup(request.backup_dir());
  if (!info.ok()) return info.status();
  response->set_backup_id(info->id);
  response->set_size_bytes(info->size_bytes);
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoGetState(const v1::GetStateRequest&,
                                          v1::GetStateResponse* response) {
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
  return absl::OkStatus();
}

}  // namespace newsdedup
