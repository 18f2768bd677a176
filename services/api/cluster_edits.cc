#include "services/api/cluster_edits.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace newsdedup {

namespace {

// Longest reason kept in a cluster's history.
constexpr size_t kMaxReasonBytes = 4096;

}  // namespace

absl::Status ClusterEdits::Run(EditorialAction action,
                               v1::EditResponse* response) {
  if (action.reason.size() > kMaxReasonBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("reason: longer than ", kMaxReasonBytes, " bytes"));
  }
  if (action.article_ids.size() > static_cast<size_t>(limits_.max_batch_size)) {
    return absl::InvalidArgumentError(
        absl::StrCat("article_ids: more than ", limits_.max_batch_size));
  }
  ASSIGN_OR_RETURN(const EditResult result, engine_->Edit(action));
  response->set_cluster_id(result.cluster_id);
  ASSIGN_OR_RETURN(const ClusterSummary cluster,
                   engine_->GetCluster(result.cluster_id));
  ToProto(cluster, response->mutable_cluster());
  return absl::OkStatus();
}

absl::Status ClusterEdits::MergeClusters(
    const v1::MergeClustersRequest& request, const std::string& editor,
    v1::EditResponse* response) {
  EditorialAction action;
  action.editor = editor;
  action.kind = EditorialAction::Kind::kMergeClusters;
  action.cluster_id = request.cluster_id();
  action.target_cluster_id = request.into_cluster_id();
  action.reason = request.reason();
  return Run(std::move(action), response);
}

absl::Status ClusterEdits::SplitCluster(const v1::SplitClusterRequest& request,
                                        const std::string& editor,
                                        v1::EditResponse* response) {
  EditorialAction action;
  action.editor = editor;
  action.kind = EditorialAction::Kind::kSplitCluster;
  action.cluster_id = request.cluster_id();
  action.article_ids.assign(request.article_ids().begin(),
                            request.article_ids().end());
  action.reason = request.reason();
  return Run(std::move(action), response);
}

absl::Status ClusterEdits::MoveArticle(const v1::MoveArticleRequest& request,
                                       const std::string& editor,
                                       v1::EditResponse* response) {
  EditorialAction action;
  action.editor = editor;
  action.kind = EditorialAction::Kind::kMoveArticle;
  action.article_id = request.article_id();
  action.target_cluster_id = request.to_cluster_id();
  action.reason = request.reason();
  return Run(std::move(action), response);
}

absl::Status ClusterEdits::PinRepresentative(
    const v1::PinRepresentativeRequest& request, const std::string& editor,
    v1::EditResponse* response) {
  EditorialAction action;
  action.editor = editor;
  action.kind = request.unpin() ? EditorialAction::Kind::kUnpinRepresentative
                                : EditorialAction::Kind::kPinRepresentative;
  action.cluster_id = request.cluster_id();
  action.article_id = request.article_id();
  action.reason = request.reason();
  return Run(std::move(action), response);
}

absl::Status ClusterEdits::KeepApart(const v1::KeepApartRequest& request,
                                     const std::string& editor,
                                     v1::EditResponse* response) {
  EditorialAction action;
  action.editor = editor;
  action.kind = request.undo() ? EditorialAction::Kind::kAllowMerging
                               : EditorialAction::Kind::kKeepApart;
  action.cluster_id = request.cluster_id();
  action.target_cluster_id = request.other_cluster_id();
  action.reason = request.reason();
  return Run(std::move(action), response);
}

}  // namespace newsdedup
