// The public API's messages (protos/newsdedup/v1/dedup.proto) and the
// engine's types: the one mapping between them, the validation of what
// comes in, and the JSON form that every surface prints (the gRPC client's
// --json, the HTTP API, the CLI's `cluster` output, the Python client).
#ifndef NEWSDEDUP_SERVICES_API_API_MESSAGES_H_
#define NEWSDEDUP_SERVICES_API_API_MESSAGES_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "newsdedup/v1/dedup.pb.h"
#include "services/engine/engine.h"

namespace newsdedup {

struct ServiceLimits {
  // Largest accepted article (title + body + url + source, in bytes);
  // larger ones get RESOURCE_EXHAUSTED. Only the first 32 KiB of a body is
  // embedded, so this bounds memory and parsing, not quality.
  size_t max_article_bytes = 4 * 1024 * 1024;
  // Most articles in one AssignBatch call.
  int max_batch_size = 1000;
  // Page sizes of GetCluster and ListClusters: default and maximum.
  int default_page_size = 50;
  int max_page_size = 1000;
  // Change feed streams served at once (gRPC and Server-Sent Events
  // each); each holds a thread. More get RESOURCE_EXHAUSTED.
  int max_watchers = 64;
};

// Longest id accepted (article and cluster ids), in bytes.
inline constexpr size_t kMaxIdBytes = 512;

// Ids name articles and clusters in logs, URLs and the store: printable
// enough to be shown, short enough to be kept. INVALID_ARGUMENT naming
// `field` otherwise.
absl::Status ValidateId(absl::string_view field, absl::string_view id);

// The front door's checks on an article (its id, its size, its time
// within years 1 to 9999): what FromProto checks, for articles that come
// another way (the `cluster` command's JSONL), so that both accept the
// same. Errors: INVALID_ARGUMENT naming the field, RESOURCE_EXHAUSTED past
// limits.max_article_bytes.
absl::Status ValidateArticle(const Article& article,
                             const ServiceLimits& limits);

// A validated article for the engine. Errors: INVALID_ARGUMENT naming the
// field, RESOURCE_EXHAUSTED past limits.max_article_bytes.
absl::StatusOr<Article> FromProto(const v1::Article& article,
                                  const ServiceLimits& limits);

// The article as the engine's type, without the limits: for an article
// that FromProto accepted once already, with whatever limits the server
// that took it had (a replicated log entry). Errors: INVALID_ARGUMENT for
// a timestamp out of range only.
absl::StatusOr<Article> FromAcceptedProto(const v1::Article& article);

// Engine messages of INVALID_ARGUMENT name the field ("title: ..."): says
// which message ("article.title: ..."). Other errors are left as they are.
absl::Status InArticle(const absl::Status& status);

absl::StatusOr<absl::Time> FromTimestamp(const google::protobuf::Timestamp& t,
                                         absl::string_view field);
void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out);

// Engine types to API messages. Similarities and thresholds are rounded to
// four decimals: more digits are noise, and the JSON stays readable.
v1::Relation ToProto(Relation relation);
void ToProto(const Article& article, v1::Article* out);
void ToProto(const Assignment& assignment, v1::AssignResponse* out);
void ToProto(const ClusterSummary& cluster, v1::ClusterSummary* out);
void ToProto(const ArticleView& article, v1::ClusterMember* out);
void ToProto(const SimilarArticle& article, v1::SimilarArticle* out);
void ToProto(const absl::Status& status, v1::Error* out);

// One message as one line of JSON: protobuf's JSON mapping with the proto
// field names (article_id, not articleId) and every field printed, zeros
// and empty strings included, so that each answer has the same keys.
std::string ApiJson(const google::protobuf::Message& message);

// Parses a request in the same JSON form (proto field names). Errors:
// kInvalidArgument saying what does not parse.
absl::Status FromApiJson(absl::string_view json,
                         google::protobuf::Message* message);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_API_API_MESSAGES_H_
