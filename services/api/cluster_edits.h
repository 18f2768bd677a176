// The editorial side of the API (MergeClusters, SplitCluster, MoveArticle,
// PinRepresentative, KeepApart) as one object that both the gRPC service
// and the dashboard's JSON API call: the same requests, validation and
// answers on both surfaces (docs/editorial.md).
//
// Thread safety: all methods may be called concurrently.
#ifndef NEWSDEDUP_SERVICES_API_CLUSTER_EDITS_H_
#define NEWSDEDUP_SERVICES_API_CLUSTER_EDITS_H_

#include <string>

#include "absl/status/status.h"
#include "newsdedup/v1/dedup.pb.h"
#include "services/api/api_messages.h"
#include "services/engine/engine.h"

namespace newsdedup {

class ClusterEdits {
 public:
  // `engine` must outlive this object.
  ClusterEdits(ClusteringEngine* engine, const ServiceLimits& limits)
      : engine_(engine), limits_(limits) {}

  // Each applies its action in the name of `editor` (the authenticated
  // caller) and fills `response`; errors as ClusteringEngine::Edit, and
  // kInvalidArgument for a reason over 4 KiB or too many article ids.
  absl::Status MergeClusters(const v1::MergeClustersRequest& request,
                             const std::string& editor,
                             v1::EditResponse* response);
  absl::Status SplitCluster(const v1::SplitClusterRequest& request,
                            const std::string& editor,
                            v1::EditResponse* response);
  absl::Status MoveArticle(const v1::MoveArticleRequest& request,
                           const std::string& editor,
                           v1::EditResponse* response);
  absl::Status PinRepresentative(const v1::PinRepresentativeRequest& request,
                                 const std::string& editor,
                                 v1::EditResponse* response);
  absl::Status KeepApart(const v1::KeepApartRequest& request,
                         const std::string& editor, v1::EditResponse* response);

 private:
  absl::Status Run(EditorialAction action, v1::EditResponse* response);

  ClusteringEngine* const engine_;
  const ServiceLimits limits_;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_API_CLUSTER_EDITS_H_
