// The HTTP JSON API: every route as one ApiRoute that is served,
// authorised and documented (/openapi.json, openapi.h) from the same
// description, so that the three cannot drift apart.
//
// Two schemes over the same calls, in protobuf's JSON mapping with proto
// field names (services/api/api_messages.h):
//   /v1/...   the integrators' API (Google AIP style: resources, and custom
//             methods as `:verb`): ingest, reads and editorial actions;
//   /api/...  the dashboard's routes (kept as they were).
// Request fields are query parameters of GET routes and the JSON body of
// the others; an unknown query parameter is refused (400, naming it).
#ifndef NEWSDEDUP_SERVICES_SERVER_JSON_API_H_
#define NEWSDEDUP_SERVICES_SERVER_JSON_API_H_

#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "services/api/article_intake.h"
#include "services/api/cluster_edits.h"
#include "services/api/cluster_feed.h"
#include "services/api/cluster_reads.h"
#include "services/server/access_control.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace newsdedup {

// Query parameters every API route takes besides its own: on a replica,
// wait for log entry `min_sequence` first, for at most `timeout_ms`.
inline constexpr char kMinSequenceParam[] = "min_sequence";
inline constexpr char kTimeoutMsParam[] = "timeout_ms";

struct ApiRoute {
  using Handler =
      std::function<void(const httplib::Request&, httplib::Response&)>;

  std::string method;  // GET, POST or DELETE
  // OpenAPI path template; {name} is one path segment:
  // "/v1/clusters/{cluster_id}:merge".
  std::string path;
  std::string summary;
  Role role = Role::kRead;  // the least role a caller needs (with tokens)
  // The JSON request body (null: none), and the answer.
  const google::protobuf::Descriptor* body = nullptr;
  const google::protobuf::Descriptor* answer = nullptr;
  std::string body_type = "application/json";    // one message per line:
  std::string answer_type = "application/json";  // application/x-ndjson
  std::vector<std::string> query;                // its own query parameters
  Handler handle;
  // `path` as the server matches it: {name} is ([^/]+).
  std::string regex;
  std::regex pattern;
};

// Whether `path` belongs to the JSON API (/v1/ or /api/).
bool IsApiPath(absl::string_view path);

// Who sent a request (for editorial actions).
using CallerOfRequest =
    std::function<absl::StatusOr<Caller>(const httplib::Request&)>;

// Every route of both schemes over these objects (which must outlive the
// routes). Each handler refuses query parameters it does not take.
// `max_event_streams`: change feed streams (GET /v1/events) served at
// once.
std::vector<ApiRoute> JsonApiRoutes(ArticleIntake* intake, ClusterReads* reads,
                                    ClusterEdits* edits,
                                    const ClusterFeed* feed,
                                    int max_event_streams,
                                    CallerOfRequest caller_of);

// The route serving `method` on `path`; null for none.
const ApiRoute* FindRoute(const std::vector<ApiRoute>& routes,
                          absl::string_view method, const std::string& path);

// Replies with `status` as a newsdedup.v1.Error and its HTTP status (the
// gRPC code's usual mapping: 400, 401, 403, 404, 409, 429, 503, 504, 500).
void AnswerError(httplib::Response& res, const absl::Status& status);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_JSON_API_H_
