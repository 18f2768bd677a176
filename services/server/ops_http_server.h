// The HTTP endpoint, on its own port (loopback by default): Prometheus
// metrics, the story dashboard, and the JSON API (json_api.h) for
// integrators and for the dashboard.
//
//   GET /metrics                 text exposition format (0.0.4)
//   GET /                        the dashboard (static page, no external
//                                resources; app.js and style.css beside it)
//   GET /openapi.json            the JSON API's OpenAPI 3 document, made
//                                from the routes served (open to all)
//   /v1/...                      the JSON API: POST /v1/articles:assign,
//                                :batchAssign, :streamAssign (NDJSON),
//                                :findSimilar; GET and DELETE
//                                /v1/articles/{id}; GET /v1/clusters and
//                                /v1/clusters/{id}; POST
//                                /v1/clusters/{id}:merge|:split|:pin|
//                                :keepApart, /v1/articles/{id}:move
//   /api/...                     the dashboard's routes: GET /api/clusters,
//                                /api/clusters/{id}, /api/articles/{id},
//                                /api/search?q=&k=; POST
//                                /api/clusters/{id}/merge|split|pin|
//                                keep-apart, /api/articles/{id}/move
//   GET /api/session             who the caller is (role), for the page
//   GET /healthz                 "ok"
//   GET /login, POST /login      the login form (a server with tokens);
//   POST /logout                 the session cookie is HttpOnly,
//                                SameSite=Strict (and Secure over TLS)
// Every API route also takes ?min_sequence=N&timeout_ms= (below); any
// other query parameter than its own is refused with 400 naming it.
//
// With tokens (HttpAccess.access), the API and /metrics (unless
// metrics_open) need `Authorization: Bearer TOKEN` or a login session:
// 401 without, 403 with a role lower than the route's (its
// x-newsdedup-role in /openapi.json). /healthz, /openapi.json, /login and
// the dashboard's static files stay open. Every POST must come from the
// page's own origin (Origin and Sec-Fetch-Site are checked): 403
// otherwise.
//
// Errors come back as a newsdedup.v1.Error ({"code": N, "message": "..."})
// with the gRPC code's HTTP status (json_api.h), a path no route serves
// too (404). docs/integrations.md has a curl example of each route.
#ifndef NEWSDEDUP_SERVICES_SERVER_OPS_HTTP_SERVER_H_
#define NEWSDEDUP_SERVICES_SERVER_OPS_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "services/api/article_intake.h"
#include "services/api/cluster_edits.h"
#include "services/api/cluster_reads.h"
#include "services/engine/engine.h"
#include "services/replica/replica_progress.h"
#include "services/server/access_control.h"
#include "services/server/json_api.h"
#include "services/server/prometheus_registry.h"
#include "services/server/tls_options.h"
#include "services/server/web_sessions.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace newsdedup {

// Who may use the HTTP port, and how it is encrypted.
struct HttpAccess {
  // Null: everyone everything (the loopback demo). Must outlive the server.
  const AccessControl* access = nullptr;
  // Set: HTTPS only (a client CA: browsers must present a certificate).
  TlsOptions tls;
  // With tokens, leave /metrics open for Prometheus.
  bool metrics_open = false;
  // Host names (without port) that requests may name in their Host header
  // besides IP addresses and loopback names ("localhost"): the names the
  // server is reached by. Any other is refused (403), so that a page on
  // another site cannot reach the server through a DNS name it rebinds to
  // this address (DNS rebinding). "*" allows every name.
  std::vector<std::string> allowed_hosts;
  // Origins ("https://app.example.org", scheme://host[:port], exactly as
  // browsers send them) whose pages may call the JSON API (/api/) from
  // the browser (CORS): preflights from them are answered, answers carry
  // Access-Control-Allow-Origin for them, and their POSTs pass the
  // same-origin check. Such calls authenticate with their Authorization
  // header only, never the dashboard's session cookie. Preflights from
  // any other origin get 403.
  std::vector<std::string> allowed_origins;
};

class OpsHttpServer {
 public:
  // Listens on `host`:`port` (0: any free port) and serves from a thread
  // of its own. `engine` and `registry` must outlive the server.
  // Errors: kUnavailable when the address cannot be bound.
  // On a replica (`replica` set), JSON API answers carry the headers
  // X-Newsdedup-Applied-Sequence and X-Newsdedup-Log-Sequence, and
  // `?min_sequence=N` (with `timeout_ms`, default 5000) waits for that log
  // entry first (503 when it is not applied in time).
  // Errors also: kInvalidArgument for TLS files that do not load.
  static absl::StatusOr<std::unique_ptr<OpsHttpServer>> Start(
      const std::string& host, int port, ClusteringEngine* engine,
      const PrometheusRegistry* registry,
      const ReplicaProgress* replica = nullptr,
      const HttpAccess& access = HttpAccess());

  ~OpsHttpServer();  // stops

  int port() const { return port_; }
  void Stop();

  // Connections served at once (one thread each); more wait in the
  // kernel's accept queue.
  static constexpr int kConnectionThreads = 64;
  // Change feed streams (GET /v1/events) served at once: each holds a
  // connection thread, and probes and scrapes need the rest.
  static constexpr int kEventStreams = 16;
  // An idle keep-alive connection is closed after this long, so idle
  // clients never hold the threads that probes and scrapes need.
  static constexpr int kIdleKeepAliveSeconds = 1;
  // A client that stalls mid-request or mid-response is dropped after this.
  static constexpr int kSlowClientSeconds = 5;
  // A larger request body is refused (413): ~40,000 headlines or ~4,000
  // full texts a request.
  static constexpr size_t kMaxBodyBytes = size_t{64} << 20;

 private:
  OpsHttpServer(ClusteringEngine* engine, const HttpAccess& access);

  bool TokensRequired() const;
  // The request's credentials: its Authorization header, or its login
  // session's token as one.
  std::string AuthorizationOf(const httplib::Request& req) const;
  // Who sent the request (AccessControl::Authenticate of its credentials).
  absl::StatusOr<Caller> CallerOf(const httplib::Request& req) const;
  // Answers (and returns true for) a request that may not go on: a
  // cross-site POST, or one without the role its path needs.
  bool Refuse(const httplib::Request& req, httplib::Response& res) const;
  // GET/POST /login and POST /logout.
  void ServeLogin();
  // The JSON API's routes (json_api.h) and /openapi.json.
  void ServeApi();

  const HttpAccess access_;
  WebSessions sessions_;
  std::unique_ptr<httplib::Server> server_;
  // The JSON API answers through the same intake, reads and edits as the
  // gRPC service.
  ArticleIntake intake_;
  ClusterReads reads_;
  ClusterEdits edits_;
  ClusterFeed feed_;
  std::vector<ApiRoute> routes_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_OPS_HTTP_SERVER_H_
