#include "services/server/json_api.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "services/api/api_messages.h"

namespace newsdedup {
namespace {

// HTTP status for an API error (the gRPC code's usual HTTP mapping).
int HttpStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:  // an editorial refusal
      return 400;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:  // lost a race: try again
      return 409;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string Param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : std::string();
}

// An integer query parameter, 0 when absent.
absl::StatusOr<int> IntParam(const httplib::Request& req, const char* name) {
  int value = 0;
  if (req.has_param(name) &&
      !absl::SimpleAtoi(req.get_param_value(name), &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": must be an integer"));
  }
  return value;
}

// A true/false query parameter, false when absent.
absl::StatusOr<bool> BoolParam(const httplib::Request& req, const char* name) {
  const std::string value = Param(req, name);
  if (value.empty() || value == "false" || value == "0") return false;
  if (value == "true" || value == "1") return true;
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": must be true or false"));
}

// Refuses a query parameter the route does not take (AIP-127), naming
// it: one dropped silently was answered as if applied (`updated_since`
// before it was read, `format=csv`).
absl::Status OnlyParams(const httplib::Request& req,
                        const std::vector<std::string>& taken) {
  for (const auto& [name, value] : req.params) {
    if (name == kMinSequenceParam || name == kTimeoutMsParam ||
        std::find(taken.begin(), taken.end(), name) != taken.end()) {
      continue;
    }
    std::vector<std::string> all(taken);
    all.insert(all.end(), {kMinSequenceParam, kTimeoutMsParam});
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": unknown query parameter; ", req.path, " takes ",
                     absl::StrJoin(all, ", ")));
  }
  return absl::OkStatus();
}

// Runs `call` (absl::Status(Response*)) and replies with its response in
// the API's JSON form, or with its error.
template <typename Response, typename Call>
void Answer(httplib::Response& res, Call call) {
  Response response;
  const absl::Status status = call(&response);
  if (!status.ok()) {
    AnswerError(res, status);
    return;
  }
  res.set_content(ApiJson(response), "application/json");
}

// The request body as a `Request` message.
template <typename Request>
absl::StatusOr<Request> BodyOf(const httplib::Request& req) {
  Request request;
  RETURN_IF_ERROR(FromApiJson(req.body, &request));
  return request;
}

// A route answering with `Response`: `call(req, &response)`.
template <typename Response>
ApiRoute Route(
    std::string method, std::string path, std::string summary, Role role,
    const google::protobuf::Descriptor* body, std::vector<std::string> query,
    std::function<absl::Status(const httplib::Request&, Response*)> call) {
  ApiRoute route;
  route.method = std::move(method);
  route.path = std::move(path);
  route.summary = std::move(summary);
  route.role = role;
  route.body = body;
  route.answer = Response::descriptor();
  route.query = std::move(query);
  route.handle = [call, query = route.query](const httplib::Request& req,
                                             httplib::Response& res) {
    Answer<Response>(res, [&](Response* response) {
      RETURN_IF_ERROR(OnlyParams(req, query));
      return call(req, response);
    });
  };
  return route;
}

// A POST route whose JSON body is `Request` (the path's id put in by
// `set_id`, when it names one) and whose answer is `Response`.
template <typename Request, typename Response>
ApiRoute PostRoute(std::string path, std::string summary, Role role,
                   std::function<absl::Status(
                       const Request&, const httplib::Request&, Response*)>
                       call,
                   void (*set_id)(Request*, const std::string&) = nullptr) {
  return Route<Response>("POST", std::move(path), std::move(summary), role,
                         Request::descriptor(), {},
                         [call, set_id](const httplib::Request& req,
                                        Response* response) -> absl::Status {
                           ASSIGN_OR_RETURN(Request request,
                                            BodyOf<Request>(req));
                           if (set_id != nullptr)
                             set_id(&request, req.matches[1]);
                           return call(request, req, response);
                         });
}

absl::Status ToListRequest(const httplib::Request& req,
                           v1::ListClustersRequest* out) {
  const std::string sort = Param(req, "sort");
  if (sort.empty() || sort == "size") {
    out->set_sort_by(v1::ListClustersRequest::SIZE);
  } else if (sort == "growth") {
    out->set_sort_by(v1::ListClustersRequest::RECENT_GROWTH);
  } else if (sort == "last-update") {
    out->set_sort_by(v1::ListClustersRequest::LAST_UPDATE);
  } else {
    return absl::InvalidArgumentError(
        "sort: must be size, growth or last-update");
  }
  ASSIGN_OR_RETURN(const int page_size, IntParam(req, "page_size"));
  out->set_page_size(page_size);
  out->set_page_token(Param(req, "page_token"));
  out->set_thread_id(Param(req, "thread_id"));
  out->set_collection(Param(req, "collection"));
  ASSIGN_OR_RETURN(const bool include_expired,
                   BoolParam(req, "include_expired"));
  out->set_include_expired(include_expired);
  if (const std::string since = Param(req, "updated_since"); !since.empty()) {
    absl::Time t;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, since, &t, &error)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "updated_since: not an RFC 3339 time (2026-03-10T12:00:00Z): ",
          error));
    }
    ToTimestamp(t, out->mutable_updated_since());
  }
  return absl::OkStatus();
}

// An editorial route: applied in the name of the caller.
template <typename Request>
ApiRoute EditRoute(std::string path, std::string summary,
                   const CallerOfRequest& caller_of,
                   absl::Status (ClusterEdits::*action)(const Request&,
                                                        const std::string&,
                                                        v1::EditResponse*),
                   ClusterEdits* edits,
                   void (*set_id)(Request*, const std::string&)) {
  return PostRoute<Request, v1::EditResponse>(
      std::move(path), std::move(summary), Role::kEdit,
      [=](const Request& request, const httplib::Request& req,
          v1::EditResponse* answer) -> absl::Status {
        ASSIGN_OR_RETURN(const Caller caller, caller_of(req));
        return (edits->*action)(request, caller.name, answer);
      },
      set_id);
}

// The editorial actions at these paths (docs/editorial.md).
void AddEditRoutes(ClusterEdits* edits, const CallerOfRequest& caller_of,
                   std::string merge, std::string split, std::string pin,
                   std::string keep_apart, std::string move,
                   std::vector<ApiRoute>* routes) {
  routes->push_back(EditRoute<v1::MergeClustersRequest>(
      std::move(merge), "Merge stories into this one (MergeClusters)",
      caller_of, &ClusterEdits::MergeClusters, edits,
      [](auto* r, const std::string& id) { r->set_cluster_id(id); }));
  routes->push_back(EditRoute<v1::SplitClusterRequest>(
      std::move(split), "Split articles out into a new story (SplitCluster)",
      caller_of, &ClusterEdits::SplitCluster, edits,
      [](auto* r, const std::string& id) { r->set_cluster_id(id); }));
  routes->push_back(EditRoute<v1::PinRepresentativeRequest>(
      std::move(pin), "Pin (or unpin) a story's representative", caller_of,
      &ClusterEdits::PinRepresentative, edits,
      [](auto* r, const std::string& id) { r->set_cluster_id(id); }));
  routes->push_back(EditRoute<v1::KeepApartRequest>(
      std::move(keep_apart), "Keep two stories from merging (KeepApart)",
      caller_of, &ClusterEdits::KeepApart, edits,
      [](auto* r, const std::string& id) { r->set_cluster_id(id); }));
  routes->push_back(EditRoute<v1::MoveArticleRequest>(
      std::move(move), "Move an article to another story (MoveArticle)",
      caller_of, &ClusterEdits::MoveArticle, edits,
      [](auto* r, const std::string& id) { r->set_article_id(id); }));
}

// POST /v1/articles:streamAssign: one AssignRequest per line in, one
// AssignStreamResponse per line out, in the same order (an error answers
// its line alone). The whole body is read first (the server's payload
// limit bounds it); for an open-ended stream, gRPC's AssignStream.
ApiRoute StreamAssignRoute(ArticleIntake* intake) {
  ApiRoute route;
  route.method = "POST";
  route.path = "/v1/articles:streamAssign";
  route.summary =
      "Assign articles sent one AssignRequest per line (NDJSON); answers one "
      "AssignStreamResponse per line, in order";
  route.role = Role::kIngest;
  route.body = v1::AssignRequest::descriptor();
  route.answer = v1::AssignStreamResponse::descriptor();
  route.body_type = "application/x-ndjson";
  route.answer_type = "application/x-ndjson";
  route.handle = [intake](const httplib::Request& req, httplib::Response& res) {
    if (absl::Status params = OnlyParams(req, {}); !params.ok()) {
      AnswerError(res, params);
      return;
    }
    std::string out;
    int line_number = 0;
    for (absl::string_view line : absl::StrSplit(req.body, '\n')) {
      ++line_number;
      if (absl::StripAsciiWhitespace(line).empty()) continue;
      v1::AssignRequest request;
      absl::Status status = FromApiJson(line, &request);
      if (!status.ok()) {
        status = absl::Status(
            status.code(),
            absl::StrCat("line ", line_number, ": ", status.message()));
      }
      const v1::AssignStreamResponse response = intake->AssignStreamed(
          status.ok() ? absl::StatusOr<v1::AssignRequest>(std::move(request))
                      : absl::StatusOr<v1::AssignRequest>(status),
          "");
      absl::StrAppend(&out, ApiJson(response), "\n");
    }
    res.set_content(out, "application/x-ndjson");
  };
  return route;
}

// The request of GET /v1/events: its query parameters, and the
// Last-Event-ID header an EventSource sends when it reconnects (it wins
// over after_cursor: it is the newer).
absl::StatusOr<v1::WatchClusterEventsRequest> ToWatchRequest(
    const httplib::Request& req) {
  v1::WatchClusterEventsRequest out;
  std::string cursor = Param(req, "after_cursor");
  if (req.has_header("Last-Event-ID")) {
    cursor = req.get_header_value("Last-Event-ID");
  }
  uint64_t after = 0;
  if (!cursor.empty() && !absl::SimpleAtoi(cursor, &after)) {
    return absl::InvalidArgumentError(
        absl::StrCat("after_cursor (or Last-Event-ID): '", cursor,
                     "' is not a cursor (a non-negative integer)"));
  }
  out.set_after_cursor(after);
  if (const std::string kinds = Param(req, "kinds"); !kinds.empty()) {
    for (absl::string_view name : absl::StrSplit(kinds, ',')) {
      absl::StatusOr<FeedEvent::Kind> kind = ParseFeedEventKind(name);
      if (!kind.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("kinds: ", kind.status().message()));
      }
      out.add_kinds(
          static_cast<v1::ClusterChangeEvent::Kind>(static_cast<int>(*kind)));
    }
  }
  out.set_collection(Param(req, "collection"));
  return out;
}

// What a Server-Sent Events stream holds between calls of its provider.
struct EventStream {
  FeedQuery query;
  std::vector<v1::ClusterChangeEvent> ready;  // read, not yet sent
  absl::Time last_write = absl::Now();
};

// GET /v1/events: the change feed as Server-Sent Events (the browser's
// EventSource): each event's `id` is its cursor, `event` its kind and
// `data` its ClusterChangeEvent as JSON; a comment every 15 s while
// nothing happens keeps proxies from closing the connection. A stale
// cursor is a 400 before the stream starts; at most `max_streams` streams
// at once (each holds one of the server's threads), 429 beyond.
ApiRoute WatchEventsRoute(const ClusterFeed* feed, int max_streams) {
  ApiRoute route;
  route.method = "GET";
  route.path = "/v1/events";
  route.summary =
      "The change feed as Server-Sent Events; Last-Event-ID resumes "
      "(WatchClusterEvents)";
  route.role = Role::kRead;
  route.answer = v1::ClusterChangeEvent::descriptor();
  route.answer_type = "text/event-stream";
  route.query = {"after_cursor", "kinds", "collection"};
  auto open = std::make_shared<std::atomic<int>>(0);
  route.handle = [feed, max_streams, open, query = route.query](
                     const httplib::Request& req, httplib::Response& res) {
    auto stream = std::make_shared<EventStream>();
    absl::Status status = OnlyParams(req, query);
    absl::StatusOr<v1::WatchClusterEventsRequest> request = ToWatchRequest(req);
    if (status.ok()) status = request.status();
    if (status.ok()) {
      absl::StatusOr<FeedQuery> parsed = ClusterFeed::QueryOf(*request);
      status = parsed.status();
      if (parsed.ok()) stream->query = *std::move(parsed);
    }
    if (status.ok()) {
      // The first read answers a stale cursor with an HTTP error.
      absl::StatusOr<std::vector<v1::ClusterChangeEvent>> first =
          feed->Next(&stream->query, absl::ZeroDuration());
      status = first.status();
      if (first.ok()) stream->ready = *std::move(first);
    }
    if (status.ok() && open->fetch_add(1) >= max_streams) {
      open->fetch_sub(1);
      status = absl::ResourceExhaustedError(
          absl::StrCat("the server serves ", max_streams,
                       " event streams at most; try again later"));
    }
    if (!status.ok()) {
      AnswerError(res, status);
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [feed, stream](size_t /*offset*/, httplib::DataSink& sink) {
          if (!sink.is_writable()) return false;
          std::string out;
          if (stream->ready.empty()) {
            absl::StatusOr<std::vector<v1::ClusterChangeEvent>> next =
                feed->Next(&stream->query, absl::Milliseconds(200));
            if (!next.ok()) {
              v1::Error error;
              ToProto(next.status(), &error);
              out =
                  absl::StrCat("event: error\ndata: ", ApiJson(error), "\n\n");
              sink.write(out.data(), out.size());
              return false;
            }
            stream->ready = *std::move(next);
          }
          for (const v1::ClusterChangeEvent& event : stream->ready) {
            absl::StrAppend(&out, "id: ", event.cursor(), "\nevent: ",
                            v1::ClusterChangeEvent::Kind_Name(event.kind()),
                            "\ndata: ", ApiJson(event), "\n\n");
          }
          stream->ready.clear();
          const absl::Time now = absl::Now();
          if (out.empty() && now - stream->last_write > absl::Seconds(15)) {
            out = ": keep-alive\n\n";
          }
          if (out.empty()) return true;  // writing nothing would end it
          stream->last_write = now;
          return sink.write(out.data(), out.size());
        },
        [open](bool /*success*/) { open->fetch_sub(1); });
  };
  return route;
}

const ApiRoute* FindRouteByPath(const std::vector<ApiRoute>& routes,
                                absl::string_view method,
                                absl::string_view path) {
  for (const ApiRoute& route : routes) {
    if (route.method == method && route.path == path) return &route;
  }
  return nullptr;
}

// The routes of the integrators' API.
void AddV1Routes(ArticleIntake* intake, ClusterReads* reads,
                 ClusterEdits* edits, const CallerOfRequest& caller_of,
                 std::vector<ApiRoute>* routes) {
  routes->push_back(PostRoute<v1::AssignRequest, v1::AssignResponse>(
      "/v1/articles:assign", "Assign one article to a story (Assign)",
      Role::kIngest, [intake](const auto& request, const auto&, auto* answer) {
        return intake->Assign(request, answer);
      }));
  routes->push_back(PostRoute<v1::AssignBatchRequest, v1::AssignBatchResponse>(
      "/v1/articles:batchAssign",
      "Assign articles in order, one result each (AssignBatch)", Role::kIngest,
      [intake](const auto& request, const auto&, auto* answer) {
        return intake->AssignBatch(
            request, [] { return false; }, answer);
      }));
  routes->push_back(StreamAssignRoute(intake));
  routes->push_back(PostRoute<v1::FindSimilarRequest, v1::FindSimilarResponse>(
      "/v1/articles:findSimilar",
      "Stories near a text, changing nothing (FindSimilar)", Role::kRead,
      [reads](const auto& request, const auto&, auto* answer) {
        return reads->FindSimilar(request, answer);
      }));
  routes->push_back(Route<v1::GetArticleResponse>(
      "GET", "/v1/articles/{article_id}", "One article's answer (GetArticle)",
      Role::kRead, nullptr, {},
      [reads](const httplib::Request& req, v1::GetArticleResponse* answer) {
        v1::GetArticleRequest request;
        request.set_article_id(req.matches[1]);
        return reads->GetArticle(request, answer);
      }));
  routes->push_back(Route<v1::DeleteArticleResponse>(
      "DELETE", "/v1/articles/{article_id}",
      "Take an article down (DeleteArticle)", Role::kIngest, nullptr, {},
      [intake](const httplib::Request& req, v1::DeleteArticleResponse*) {
        v1::DeleteArticleRequest request;
        request.set_article_id(req.matches[1]);
        return intake->DeleteArticle(request);
      }));
  routes->push_back(Route<v1::ListClustersResponse>(
      "GET", "/v1/clusters", "Stories, a page at a time (ListClusters)",
      Role::kRead, nullptr,
      {"sort", "page_size", "page_token", "updated_since", "include_expired",
       "thread_id", "collection"},
      [reads](const httplib::Request& req, v1::ListClustersResponse* answer) {
        v1::ListClustersRequest request;
        RETURN_IF_ERROR(ToListRequest(req, &request));
        return reads->ListClusters(request, answer);
      }));
  routes->push_back(Route<v1::GetClusterResponse>(
      "GET", "/v1/clusters/{cluster_id}",
      "One story with its members, a page at a time (GetCluster)", Role::kRead,
      nullptr, {"page_size", "page_token"},
      [reads](const httplib::Request& req, v1::GetClusterResponse* answer) {
        v1::GetClusterRequest request;
        request.set_cluster_id(req.matches[1]);
        request.set_page_token(Param(req, "page_token"));
        ASSIGN_OR_RETURN(const int page_size, IntParam(req, "page_size"));
        request.set_page_size(page_size);
        return reads->GetCluster(request, answer);
      }));
  AddEditRoutes(edits, caller_of, "/v1/clusters/{cluster_id}:merge",
                "/v1/clusters/{cluster_id}:split",
                "/v1/clusters/{cluster_id}:pin",
                "/v1/clusters/{cluster_id}:keepApart",
                "/v1/articles/{article_id}:move", routes);
}

// The dashboard's routes (app.js), as they were before /v1/.
void AddDashboardRoutes(ClusterReads* reads, ClusterEdits* edits,
                        const CallerOfRequest& caller_of,
                        const std::vector<ApiRoute>& v1_routes,
                        std::vector<ApiRoute>* routes) {
  // The same reads as /v1/, at the dashboard's paths.
  for (const char* v1_path : {"/v1/clusters", "/v1/clusters/{cluster_id}",
                              "/v1/articles/{article_id}"}) {
    ApiRoute route = *FindRouteByPath(v1_routes, "GET", v1_path);
    route.path = absl::StrCat("/api/", route.path.substr(4));
    routes->push_back(std::move(route));
  }
  routes->push_back(Route<v1::FindSimilarResponse>(
      "GET", "/api/search",
      "Stories near a text (FindSimilar of a headline `q`, `k` nearest)",
      Role::kRead, nullptr, {"q", "k"},
      [reads](const httplib::Request& req, v1::FindSimilarResponse* answer) {
        v1::FindSimilarRequest request;
        request.mutable_article()->set_id("dashboard-search");
        request.mutable_article()->set_title(Param(req, "q"));
        ASSIGN_OR_RETURN(const int k, IntParam(req, "k"));
        request.set_k(k);
        return reads->FindSimilar(request, answer);
      }));
  AddEditRoutes(edits, caller_of, "/api/clusters/{cluster_id}/merge",
                "/api/clusters/{cluster_id}/split",
                "/api/clusters/{cluster_id}/pin",
                "/api/clusters/{cluster_id}/keep-apart",
                "/api/articles/{article_id}/move", routes);
}

}  // namespace

bool IsApiPath(absl::string_view path) {
  return absl::StartsWith(path, "/v1/") || absl::StartsWith(path, "/api/");
}

void AnswerError(httplib::Response& res, const absl::Status& status) {
  v1::Error error;
  ToProto(status, &error);
  res.status = HttpStatus(status.code());
  res.set_content(ApiJson(error), "application/json");
}

std::vector<ApiRoute> JsonApiRoutes(ArticleIntake* intake, ClusterReads* reads,
                                    ClusterEdits* edits,
                                    const ClusterFeed* feed,
                                    int max_event_streams,
                                    CallerOfRequest caller_of) {
  std::vector<ApiRoute> routes;
  AddV1Routes(intake, reads, edits, caller_of, &routes);
  routes.push_back(WatchEventsRoute(feed, max_event_streams));
  std::vector<ApiRoute> dashboard;
  AddDashboardRoutes(reads, edits, caller_of, routes, &dashboard);
  for (ApiRoute& route : dashboard) routes.push_back(std::move(route));
  for (ApiRoute& route : routes) {
    // {name} is one path segment; the rest is literal (the paths hold no
    // regex metacharacter).
    static const std::regex kParam("\\{[a-z_]+\\}");
    route.regex = std::regex_replace(route.path, kParam, "([^/]+)");
    route.pattern = std::regex(route.regex);
  }
  return routes;
}

const ApiRoute* FindRoute(const std::vector<ApiRoute>& routes,
                          absl::string_view method, const std::string& path) {
  for (const ApiRoute& route : routes) {
    if (route.method == method && std::regex_match(path, route.pattern)) {
      return &route;
    }
  }
  return nullptr;
}

}  // namespace newsdedup
