// The ingest side of the API (Assign, AssignBatch, DeleteArticle) as one
// object that both the gRPC service and the HTTP JSON API call: the same
// validation, the same answers and the same errors on both surfaces.
//
// Thread safety: all methods may be called concurrently.
#ifndef NEWSDEDUP_SERVICES_API_ARTICLE_INTAKE_H_
#define NEWSDEDUP_SERVICES_API_ARTICLE_INTAKE_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "newsdedup/v1/dedup.pb.h"
#include "services/api/api_messages.h"
#include "services/engine/engine.h"

namespace newsdedup {

class ArticleIntake {
 public:
  // `engine` must outlive this object.
  ArticleIntake(ClusteringEngine* engine, const ServiceLimits& limits)
      : engine_(engine), limits_(limits) {}

  // Errors: kInvalidArgument without an article or for one the limits or
  // the engine refuse (the message names the field: "article.title: ..."),
  // and those of ClusteringEngine::Assign.
  absl::Status Assign(const v1::AssignRequest& request,
                      v1::AssignResponse* response);

  // One message of a stream of AssignRequests (gRPC's AssignStream, the
  // HTTP NDJSON route): `parsed` is the request, or why it did not parse
  // (`id`: the article id found in what did not parse, if any). Answers
  // with the article's id and its answer or error.
  v1::AssignStreamResponse AssignStreamed(
      const absl::StatusOr<v1::AssignRequest>& parsed, absl::string_view id);

  // One result per article, in order: an answer, or the error of that
  // article alone. `cancelled` is asked between chunks of articles: once
  // it says true, the call stops with kDeadlineExceeded saying which
  // articles were assigned (a resend is idempotent). Errors also:
  // kResourceExhausted past ServiceLimits::max_batch_size.
  absl::Status AssignBatch(const v1::AssignBatchRequest& request,
                           const std::function<bool()>& cancelled,
                           v1::AssignBatchResponse* response);

  absl::Status DeleteArticle(const v1::DeleteArticleRequest& request);

 private:
  ClusteringEngine* const engine_;
  const ServiceLimits limits_;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_API_ARTICLE_INTAKE_H_
