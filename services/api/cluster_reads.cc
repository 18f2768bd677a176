#include "services/api/cluster_reads.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace newsdedup {

using absl::StrCat;

namespace {

// What a ListClusters page token is bound to: every field but the page's
// size and token (PageSnapshots).
std::string ListQuery(const v1::ListClustersRequest& request) {
  const int sort =
      request.sort_by() == v1::ListClustersRequest::SORT_BY_UNSPECIFIED
          ? v1::ListClustersRequest::SIZE
          : request.sort_by();
  return StrCat("sort=", sort, " expired=", request.include_expired(),
                " thread=", request.thread_id(),
                " collection=", request.collection(), " since=",
                request.has_updated_since()
                    ? StrCat(request.updated_since().seconds(), ".",
                             request.updated_since().nanos())
                    : "-");
}

}  // namespace

ClusterReads::ClusterReads(const ClusteringEngine* engine,
                           const ServiceLimits& limits)
    : engine_(engine), limits_(limits) {}

absl::StatusOr<int> ClusterReads::PageSize(int requested) const {
  if (requested == 0) return limits_.default_page_size;
  if (requested < 0 || requested > limits_.max_page_size) {
    return absl::InvalidArgumentError(
        StrCat("page_size: must be between 1 and ", limits_.max_page_size));
  }
  return requested;
}

absl::Status ClusterReads::GetCluster(const v1::GetClusterRequest& request,
                                      v1::GetClusterResponse* response) {
  RETURN_IF_ERROR(ValidateId("cluster_id", request.cluster_id()));
  ASSIGN_OR_RETURN(const int page_size, PageSize(request.page_size()));
  ASSIGN_OR_RETURN(const ClusterSummary summary,
                   engine_->GetCluster(request.cluster_id()));
  ToProto(summary, response->mutable_cluster());
  PageSnapshots::Page page;
  if (request.page_token().empty()) {
    // Members in arrival order, as of now; later pages keep this order.
    ASSIGN_OR_RETURN(MemberPage members,
                     engine_->ClusterMembers(request.cluster_id(), 0,
                                             std::numeric_limits<int>::max()));
    std::vector<std::string> ids;
    for (const ArticleView& member : members.members) ids.push_back(member.id);
    page = member_pages_.First(std::move(ids), page_size, request.cluster_id());
    for (int i = 0; i < static_cast<int>(page.ids.size()); ++i) {
      ToProto(members.members[i], response->add_members());
    }
  } else {
    ASSIGN_OR_RETURN(page, member_pages_.Next(request.page_token(), page_size,
                                              request.cluster_id()));
    for (const std::string& id : page.ids) {
      // Taken down or expired since the first page: left out.
      absl::StatusOr<ArticleView> member = engine_->GetArticle(id);
      if (member.ok()) ToProto(*member, response->add_members());
    }
  }
  response->set_next_page_token(page.next_token);
  return absl::OkStatus();
}

absl::Status ClusterReads::ListClusters(const v1::ListClustersRequest& request,
                                        v1::ListClustersResponse* response) {
  if (!v1::ListClustersRequest::SortBy_IsValid(request.sort_by())) {
    return absl::InvalidArgumentError(
        StrCat("sort_by: ", request.sort_by(),
               " is not a value of ListClustersRequest.SortBy"));
  }
  ASSIGN_OR_RETURN(const int page_size, PageSize(request.page_size()));
  // Before the list is read: the list reflects every event up to it.
  response->set_feed_cursor(engine_->FeedCursor());
  PageSnapshots::Page page;
  if (request.page_token().empty()) {
    ASSIGN_OR_RETURN(page, FirstClusterPage(request, page_size, response));
  } else {
    // Later pages: the order the first page computed (see page_tokens.h).
    ASSIGN_OR_RETURN(page, cluster_pages_.Next(request.page_token(), page_size,
                                               ListQuery(request)));
    for (const std::string& id : page.ids) {
      absl::StatusOr<ClusterSummary> cluster = engine_->GetCluster(id);
      // Merged into another cluster (listed under its own id) or expired
      // since the first page: left out, never shown twice.
      if (!cluster.ok() || cluster->cluster_id != id ||
          (cluster->expired && !request.include_expired())) {
        continue;
      }
      ToProto(*cluster, response->add_clusters());
    }
  }
  response->set_total(static_cast<int>(page.total));
  response->set_next_page_token(page.next_token);
  response->set_total_articles(engine_->stats().articles);
  return absl::OkStatus();
}

absl::StatusOr<PageSnapshots::Page> ClusterReads::FirstClusterPage(
    const v1::ListClustersRequest& request, int page_size,
    v1::ListClustersResponse* response) {
  absl::Time since = absl::InfinitePast();
  if (request.has_updated_since()) {
    ASSIGN_OR_RETURN(since,
                     FromTimestamp(request.updated_since(), "updated_since"));
  }
  std::string thread;
  if (!request.thread_id().empty()) {
    RETURN_IF_ERROR(ValidateId("thread_id", request.thread_id()));
    ASSIGN_OR_RETURN(thread, engine_->ResolveThreadId(request.thread_id()));
  }
  if (!request.collection().empty()) {
    RETURN_IF_ERROR(ValidateId("collection", request.collection()));
  }
  auto outside_collection = [&](const ClusterSummary& c) {
    return !request.collection().empty() &&
           std::find(c.collections.begin(), c.collections.end(),
                     request.collection()) == c.collections.end();
  };
  std::vector<ClusterSummary> clusters =
      engine_->ListClusters(request.include_expired());  // by size
  clusters.erase(
      std::remove_if(clusters.begin(), clusters.end(),
                     [&](const ClusterSummary& c) {
                       return (request.has_updated_since() &&
                               c.last_changed < since) ||
                              (!thread.empty() && c.thread_id != thread) ||
                              outside_collection(c);
                     }),
      clusters.end());
  switch (request.sort_by()) {
    case v1::ListClustersRequest::LAST_UPDATE:
      SortClusters(ClusterOrder::kLastUpdate, &clusters);
      break;
    case v1::ListClustersRequest::RECENT_GROWTH:
      SortClusters(ClusterOrder::kRecentGrowth, &clusters);
      break;
    default:  // SIZE, or unspecified: as listed
      break;
  }
  std::vector<std::string> ids;
  for (const ClusterSummary& c : clusters) ids.push_back(c.cluster_id);
  const PageSnapshots::Page page =
      cluster_pages_.First(std::move(ids), page_size, ListQuery(request));
  for (size_t i = 0; i < page.ids.size(); ++i) {
    ToProto(clusters[i], response->add_clusters());
  }
  return page;
}

absl::Status ClusterReads::GetArticle(const v1::GetArticleRequest& request,
                                      v1::GetArticleResponse* response) const {
  RETURN_IF_ERROR(ValidateId("article_id", request.article_id()));
  ASSIGN_OR_RETURN(const ArticleView article,
                   engine_->GetArticle(request.article_id()));
  ToProto(article.assignment, response->mutable_assignment());
  return absl::OkStatus();
}

absl::Status ClusterReads::FindSimilar(
    const v1::FindSimilarRequest& request,
    v1::FindSimilarResponse* response) const {
  if (!request.has_article()) {
    return absl::InvalidArgumentError("article: required");
  }
  constexpr int kDefaultNeighbors = 10;  // as documented in the proto
  const int k = request.k() == 0 ? kDefaultNeighbors : request.k();
  if (k < 1 || k > limits_.max_page_size) {
    return absl::InvalidArgumentError(
        StrCat("k: must be between 1 and ", limits_.max_page_size));
  }
  ASSIGN_OR_RETURN(const Article article,
                   FromProto(request.article(), limits_));
  absl::StatusOr<SimilarResult> result = engine_->FindSimilar(article, k);
  if (!result.ok()) return InArticle(result.status());
  for (const SimilarArticle& n : result->neighbors) {
    ToProto(n, response->add_neighbors());
  }
  ToProto(result->would_be, response->mutable_would_be());
  return absl::OkStatus();
}

}  // namespace newsdedup
