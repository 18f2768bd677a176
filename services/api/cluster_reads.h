// The read side of the API (GetCluster, ListClusters, GetArticle,
// FindSimilar) as one object that both the gRPC service and the HTTP JSON
// API answer through: the same requests, the same validation, the same
// page tokens and the same response messages on both surfaces.
//
// Thread safety: all methods may be called concurrently.
#ifndef NEWSDEDUP_SERVICES_API_CLUSTER_READS_H_
#define NEWSDEDUP_SERVICES_API_CLUSTER_READS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "newsdedup/v1/dedup.pb.h"
#include "services/api/api_messages.h"
#include "services/api/page_tokens.h"
#include "services/engine/engine.h"

namespace newsdedup {

class ClusterReads {
 public:
  // `engine` must outlive this object.
  ClusterReads(const ClusteringEngine* engine, const ServiceLimits& limits);

  absl::Status GetCluster(const v1::GetClusterRequest& request,
                          v1::GetClusterResponse* response);
  absl::Status ListClusters(const v1::ListClustersRequest& request,
                            v1::ListClustersResponse* response);
  absl::Status GetArticle(const v1::GetArticleRequest& request,
                          v1::GetArticleResponse* response) const;
  absl::Status FindSimilar(const v1::FindSimilarRequest& request,
                           v1::FindSimilarResponse* response) const;

 private:
  // The first page of a listing: filters, sorts, keeps the order behind a
  // page token, and adds the page's clusters to `response`.
  absl::StatusOr<PageSnapshots::Page> FirstClusterPage(
      const v1::ListClustersRequest& request, int page_size,
      v1::ListClustersResponse* response);
  // Page size from a request: default for 0, error when out of range.
  absl::StatusOr<int> PageSize(int requested) const;

  const ClusteringEngine* const engine_;
  const ServiceLimits limits_;
  // Orders of listed clusters and of cluster members behind page tokens.
  PageSnapshots cluster_pages_{absl::Minutes(10), 1000};
  PageSnapshots member_pages_{absl::Minutes(10), 100};
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_API_CLUSTER_READS_H_
