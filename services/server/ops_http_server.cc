#include "services/server/ops_http_server.h"

#include <arpa/inet.h>
#include <httplib.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "services/api/api_messages.h"
#include "services/server/dashboard_assets.h"
#include "services/server/openapi.h"

namespace newsdedup {
namespace {

// Replicas: `?min_sequence=N` on the JSON API waits for that log entry
// (the HTTP form of the gRPC metadata in replica_progress.h). Handled
// (with an error answered) when the request may not go on.
httplib::Server::HandlerResponse AwaitMinSequence(
    const ReplicaProgress* replica, const httplib::Request& req,
    httplib::Response& res) {
  if (!IsApiPath(req.path) || !req.has_param(kMinSequenceParam)) {
    return httplib::Server::HandlerResponse::Unhandled;
  }
  int timeout_ms = 5000;
  absl::Status status;
  if (req.has_param(kTimeoutMsParam) &&
      (!absl::SimpleAtoi(req.get_param_value(kTimeoutMsParam), &timeout_ms) ||
       timeout_ms < 0 || timeout_ms > 60000)) {
    status = absl::InvalidArgumentError(
        "timeout_ms: must be an integer from 0 to 60000");
  } else {
    status = AwaitSequence(*replica, kMinSequenceParam,
                           req.get_param_value(kMinSequenceParam),
                           absl::Now() + absl::Milliseconds(timeout_ms));
  }
  if (status.ok()) return httplib::Server::HandlerResponse::Unhandled;
  AnswerError(res, status);
  return httplib::Server::HandlerResponse::Handled;
}

// Replicas: every JSON API answer says which log entries it reflects.
void AddSequenceHeaders(const ReplicaProgress* replica,
                        const httplib::Request& req, httplib::Response& res) {
  if (!IsApiPath(req.path)) return;
  res.set_header("X-Newsdedup-Applied-Sequence",
                 absl::StrCat(replica->applied_sequence()));
  res.set_header("X-Newsdedup-Log-Sequence",
                 absl::StrCat(replica->log_sequence()));
}

constexpr char kSessionCookie[] = "newsdedup_session";

// The value of cookie `name`, empty when the request has none.
std::string CookieValue(const httplib::Request& req, absl::string_view name) {
  const size_t count = req.get_header_value_count("Cookie");
  for (size_t i = 0; i < count; ++i) {
    for (absl::string_view pair :
         absl::StrSplit(req.get_header_value("Cookie", i), ';')) {
      pair = absl::StripAsciiWhitespace(pair);
      if (absl::ConsumePrefix(&pair, name) && absl::ConsumePrefix(&pair, "=")) {
        return std::string(pair);
      }
    }
  }
  return "";
}

// A state-changing request must come from a page of this server, not from
// a form or script on another site riding on the user's cookie. Browsers
// send Origin with every POST, and Sec-Fetch-Site; clients such as curl
// send neither and carry their token themselves.
absl::Status CheckSameOrigin(const httplib::Request& req) {
  const std::string site = req.get_header_value("Sec-Fetch-Site");
  if (!site.empty() && site != "same-origin" && site != "none") {
    return absl::PermissionDeniedError(absl::StrCat(
        "cross-site request refused (Sec-Fetch-Site: ", site, ")"));
  }
  const std::string origin_header = req.get_header_value("Origin");
  absl::string_view origin = origin_header;
  if (origin.empty()) return absl::OkStatus();
  if (!absl::ConsumePrefix(&origin, "https://")) {
    absl::ConsumePrefix(&origin, "http://");
  }
  if (origin != req.get_header_value("Host")) {
    return absl::PermissionDeniedError(
        "cross-site request refused (its Origin is not this server)");
  }
  return absl::OkStatus();
}

// The request's Origin when it is one of `allowed` (a page of another site
// this server lets call its API); "" for none, or for a page of its own.
std::string AllowedCrossOrigin(const httplib::Request& req,
                               const std::vector<std::string>& allowed) {
  const std::string origin = req.get_header_value("Origin");
  if (origin.empty()) return "";
  for (const std::string& listed : allowed) {
    if (absl::EqualsIgnoreCase(listed, origin)) return origin;
  }
  return "";
}

// Answers a CORS preflight (OPTIONS) for the JSON API: allowed for a
// listed origin, 403 for any other.
void AnswerPreflight(const httplib::Request& req, httplib::Response& res,
                     const std::vector<std::string>& allowed) {
  if (AllowedCrossOrigin(req, allowed).empty()) {
    res.status = 403;
    res.set_content(
        "{\"code\":7,\"message\":\"cross-origin calls are allowed only "
        "from the origins given to serve --http-allowed-origins\"}",
        "application/json");
    return;
  }
  res.status = 204;
  res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE");
  res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
  res.set_header("Access-Control-Max-Age", "600");
}

// Whether `host` (a Host header's name, port removed) names this server
// without the help of DNS: an IP address, or a loopback name, which
// resolvers answer locally (RFC 6761). A DNS name an attacker controls can
// resolve to this server's address while the browser treats it as the
// attacker's own site (DNS rebinding); those are allowed only by name.
bool NamesServerDirectly(absl::string_view host) {
  const std::string name = absl::AsciiStrToLower(host);
  if (name == "localhost" || absl::EndsWith(name, ".localhost")) return true;
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, name.c_str(), &v4) == 1) return true;
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
    const std::string inner = name.substr(1, name.size() - 2);
    return inet_pton(AF_INET6, inner.c_str(), &v6) == 1;
  }
  return false;
}

// The host name of a Host header value: "[::1]:8080" -> "[::1]",
// "example.org:8080" -> "example.org".
absl::string_view HostName(absl::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    return close == absl::string_view::npos ? host : host.substr(0, close + 1);
  }
  const size_t colon = host.rfind(':');
  return colon == absl::string_view::npos ? host : host.substr(0, colon);
}

// Refuses a request whose Host header names this server by a name it was
// not told of (see HttpAccess::allowed_hosts). Clients that send no Host
// (HTTP/1.0) are not browsers on another site: they go on.
absl::Status CheckHost(const httplib::Request& req,
                       const std::vector<std::string>& allowed) {
  const std::string header = req.get_header_value("Host");
  if (header.empty()) return absl::OkStatus();
  const absl::string_view name = HostName(header);
  if (NamesServerDirectly(name)) return absl::OkStatus();
  for (const std::string& host : allowed) {
    if (host == "*" || absl::EqualsIgnoreCase(host, name)) {
      return absl::OkStatus();
    }
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "Host '", header,
      "' is not a name of this server: requests must name it by IP "
      "address, 'localhost', or a name given to serve --http-allowed-hosts "
      "(a guard against DNS rebinding)"));
}

// The login page; `message` is one of ours, never the user's input.
std::string LoginPage(absl::string_view message) {
  return absl::StrCat(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>newsdedup: log in</title>"
      "<link rel=\"stylesheet\" href=\"/style.css\"></head><body>"
      "<header><h1>newsdedup</h1></header><main>"
      "<form method=\"post\" action=\"/login\" id=\"login\">"
      "<p><label>Token <input type=\"password\" name=\"token\" "
      "id=\"token\" autocomplete=\"current-password\" required></label> "
      "<button type=\"submit\">Log in</button></p>",
      message.empty() ? ""
                      : absl::StrCat("<p class=\"error\">", message, "</p>"),
      "</form></main></body></html>\n");
}

void Serve(httplib::Server& server, const PrometheusRegistry* registry) {
  server.Get("/metrics",
             [registry](const httplib::Request&, httplib::Response& res) {
               res.set_content(registry->Render(), "text/plain; version=0.0.4");
             });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  for (const DashboardAsset& asset : DashboardAssets()) {
    server.Get(asset.path,
               [&asset](const httplib::Request&, httplib::Response& res) {
                 res.set_content(asset.content, asset.content_type);
                 res.set_header("Cache-Control", "no-cache");
               });
  }
}

// cpp-httplib serves each connection on one thread of a fixed pool, for as
// long as the connection stays open. Its defaults (a pool of 8, idle
// keep-alive held 5 s, SO_REUSEPORT on the listening socket) let eight idle
// clients lock out Prometheus and the health probe, and let a second
// server bind the same port. Here the pool is larger than any scraper or
// browser needs, idle connections go after a second, slow clients after a
// few, and the port is ours alone.
void ConfigureConnections(httplib::Server& server) {
  server.new_task_queue = [] {
    return new httplib::ThreadPool(OpsHttpServer::kConnectionThreads);
  };
  server.set_keep_alive_timeout(OpsHttpServer::kIdleKeepAliveSeconds);
  server.set_keep_alive_max_count(100);
  server.set_payload_max_length(OpsHttpServer::kMaxBodyBytes);
  server.set_read_timeout(OpsHttpServer::kSlowClientSeconds, 0);
  server.set_write_timeout(OpsHttpServer::kSlowClientSeconds, 0);
  server.set_socket_options([](socket_t sock) {
    // SO_REUSEADDR only: a restart may bind while old connections linger in
    // TIME_WAIT, but a port another process listens on stays taken.
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<OpsHttpServer>> OpsHttpServer::Start(
    const std::string& host, int port, ClusteringEngine* engine,
    const PrometheusRegistry* registry, const ReplicaProgress* replica,
    const HttpAccess& access) {
  std::unique_ptr<OpsHttpServer> ops(new OpsHttpServer(engine, access));
  if (access.tls.enabled()) {
    // Read first for clear errors; httplib only says whether it loaded.
    absl::StatusOr<TlsMaterial> files = ReadTlsFiles(access.tls);
    if (!files.ok()) return files.status();
    auto tls = std::make_unique<httplib::SSLServer>(
        access.tls.cert_file.c_str(), access.tls.key_file.c_str(),
        access.tls.client_ca_file.empty() ? nullptr
                                          : access.tls.client_ca_file.c_str());
    if (!tls->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "TLS certificate ", access.tls.cert_file, " and key ",
          access.tls.key_file, " do not load (not a matching pair?)"));
    }
    ops->server_ = std::move(tls);
  } else {
    ops->server_ = std::make_unique<httplib::Server>();
  }
  ConfigureConnections(*ops->server_);
  Serve(*ops->server_, registry);
  ops->ServeLogin();
  ops->ServeApi();
  OpsHttpServer* self = ops.get();
  ops->server_->set_pre_routing_handler(
      [self, replica](const httplib::Request& req, httplib::Response& res) {
        if (self->Refuse(req, res)) {
          return httplib::Server::HandlerResponse::Handled;
        }
        if (replica != nullptr) return AwaitMinSequence(replica, req, res);
        return httplib::Server::HandlerResponse::Unhandled;
      });
  const std::vector<std::string> origins = access.allowed_origins;
  ops->server_->set_post_routing_handler(
      [replica, origins](const httplib::Request& req, httplib::Response& res) {
        // A listed site's page may read the API's answers (errors too).
        if (IsApiPath(req.path)) {
          const std::string origin = AllowedCrossOrigin(req, origins);
          if (!origin.empty()) {
            res.set_header("Access-Control-Allow-Origin", origin);
            res.set_header("Access-Control-Expose-Headers",
                           "X-Newsdedup-Applied-Sequence, "
                           "X-Newsdedup-Log-Sequence");
          }
          res.set_header("Vary", "Origin");
        }
        // The dashboard loads only its own files, and no other site may
        // frame it (the editorial buttons must not be clicked through a
        // disguise).
        res.set_header("Content-Security-Policy",
                       "default-src 'self'; frame-ancestors 'none'");
        res.set_header("X-Content-Type-Options", "nosniff");
        res.set_header("X-Frame-Options", "DENY");
        if (replica != nullptr) AddSequenceHeaders(replica, req, res);
      });
  if (port == 0) {
    ops->port_ = ops->server_->bind_to_any_port(host);
  } else {
    ops->port_ = ops->server_->bind_to_port(host, port) ? port : -1;
  }
  if (ops->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for HTTP on ", host, ":", port,
                     " (address in use, or not an address of this host)"));
  }
  httplib::Server* server = ops->server_.get();
  ops->thread_ = std::thread([server] { server->listen_after_bind(); });
  return ops;
}

OpsHttpServer::OpsHttpServer(ClusteringEngine* engine, const HttpAccess& access)
    : access_(access),
      intake_(engine, ServiceLimits()),
      reads_(engine, ServiceLimits()),
      edits_(engine, ServiceLimits()),
      feed_(engine) {}

bool OpsHttpServer::TokensRequired() const {
  return access_.access != nullptr && access_.access->enabled();
}

std::string OpsHttpServer::AuthorizationOf(const httplib::Request& req) const {
  std::string header = req.get_header_value("Authorization");
  if (!header.empty()) return header;
  // Another site's page carries its own token; the session cookie is the
  // dashboard's only.
  if (!AllowedCrossOrigin(req, access_.allowed_origins).empty()) return "";
  const std::string token = sessions_.TokenOf(CookieValue(req, kSessionCookie));
  return token.empty() ? "" : absl::StrCat("Bearer ", token);
}

absl::StatusOr<Caller> OpsHttpServer::CallerOf(
    const httplib::Request& req) const {
  // Without an AccessControl, as with an open one: everyone, anonymous.
  static const AccessControl* const kOpen = AccessControl::Open().release();
  const AccessControl* access =
      access_.access != nullptr ? access_.access : kOpen;
  return access->Authenticate(AuthorizationOf(req));
}

bool OpsHttpServer::Refuse(const httplib::Request& req,
                           httplib::Response& res) const {
  // Probes name the server as their network sees it (a compose service, a
  // pod); /healthz holds nothing to steal. /metrics does (counts, sources'
  // activity): a scraper names the server by IP address or by a name
  // given to --http-allowed-hosts, unless it must show a token anyway.
  const bool probe =
      req.path == "/healthz" ||
      (req.path == "/metrics" && TokensRequired() && !access_.metrics_open);
  absl::Status status =
      probe ? absl::OkStatus() : CheckHost(req, access_.allowed_hosts);
  const bool api = IsApiPath(req.path);
  const ApiRoute* route = FindRoute(routes_, req.method, req.path);
  if (status.ok() && api && req.method == "OPTIONS") {
    AnswerPreflight(req, res, access_.allowed_origins);
    return true;
  }
  const bool listed_origin =
      api && !AllowedCrossOrigin(req, access_.allowed_origins).empty();
  if (status.ok() && req.method != "GET" && req.method != "HEAD" &&
      !listed_origin) {
    status = CheckSameOrigin(req);
  }
  const bool metrics = req.path == "/metrics" && !access_.metrics_open;
  if (status.ok() && TokensRequired() && (api || metrics)) {
    // The route's role; a path the API does not serve needs `read` to
    // learn so (`edit` for a change).
    const bool read = req.method == "GET" || req.method == "HEAD";
    const Role needed =
        route != nullptr ? route->role : (read ? Role::kRead : Role::kEdit);
    status = access_.access
                 ->Authorize(AuthorizationOf(req), needed,
                             absl::StrCat(req.method, " ", req.path))
                 .status();
  }
  const std::string body_type =
      route != nullptr ? route->body_type : "application/json";
  if (status.ok() && api && req.method == "POST" &&
      !absl::StartsWith(req.get_header_value("Content-Type"), body_type)) {
    // Also keeps plain cross-site forms out: they cannot send JSON.
    status = absl::InvalidArgumentError(absl::StrCat(
        "the request body must be ",
        body_type == "application/json" ? "JSON" : "one JSON object per line",
        " (Content-Type: ", body_type, ")"));
  }
  if (status.ok()) return false;
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"newsdedup\"");
  }
  AnswerError(res, status);
  return true;
}

void OpsHttpServer::ServeApi() {
  routes_ = JsonApiRoutes(
      &intake_, &reads_, &edits_, &feed_, kEventStreams,
      [this](const httplib::Request& req) { return CallerOf(req); });
  for (const ApiRoute& route : routes_) {
    if (route.method == "GET") server_->Get(route.regex, route.handle);
    if (route.method == "POST") server_->Post(route.regex, route.handle);
    if (route.method == "DELETE") server_->Delete(route.regex, route.handle);
  }
  // An API path no route serves, or a body past the limit: a JSON error
  // like every other (httplib's own answers have no body).
  server_->set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request& req, httplib::Response& res) {
        if (!IsApiPath(req.path) || !res.body.empty()) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        const int status = res.status;
        if (status == 404 || status == 405) {
          AnswerError(res, absl::NotFoundError(absl::StrCat(
                               "no route ", req.method, " ", req.path,
                               "; the routes are in /openapi.json")));
        } else if (status == 413) {
          AnswerError(res, absl::ResourceExhaustedError(absl::StrCat(
                               "the request body exceeds ", kMaxBodyBytes >> 20,
                               " MiB; send fewer articles per request")));
        } else {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        res.status = status;
        return httplib::Server::HandlerResponse::Handled;
      }));
  // The document of the routes above, open to all: it holds no data.
  server_->Get("/openapi.json",
               [document = OpenApiDocument(routes_)](const httplib::Request&,
                                                     httplib::Response& res) {
                 res.set_content(document, "application/json");
               });
}

void OpsHttpServer::ServeLogin() {
  // Who the dashboard's user is (read role; any valid session), so the
  // page can name them and offer the edit panel to editors only.
  server_->Get("/api/session", [this](const httplib::Request& req,
                                      httplib::Response& res) {
    absl::StatusOr<Caller> caller = CallerOf(req);
    if (!caller.ok()) {
      AnswerError(res, caller.status());
      return;
    }
    nlohmann::json body = {{"name", caller->name},
                           {"role", std::string(RoleName(caller->role))},
                           {"tokens", TokensRequired()}};
    res.set_content(body.dump(), "application/json");
  });
  server_->Get("/login",
               [this](const httplib::Request&, httplib::Response& res) {
                 if (!TokensRequired()) {
                   res.set_redirect("/", 303);  // nothing to log in to
                   return;
                 }
                 res.set_content(LoginPage(""), "text/html; charset=utf-8");
               });
  server_->Post("/login", [this](const httplib::Request& req,
                                 httplib::Response& res) {
    if (!TokensRequired()) {
      res.set_redirect("/", 303);
      return;
    }
    const std::string token = req.get_param_value("token");
    if (token.empty() ||
        !access_.access->Authenticate(absl::StrCat("Bearer ", token)).ok()) {
      res.status = 401;
      res.set_content(LoginPage("Unknown or revoked token."),
                      "text/html; charset=utf-8");
      return;
    }
    const std::string session = sessions_.Start(token);
    if (session.empty()) {  // no randomness: no session
      res.status = 500;
      res.set_content(LoginPage("The server cannot start a session now."),
                      "text/html; charset=utf-8");
      return;
    }
    res.set_header("Set-Cookie",
                   absl::StrCat(kSessionCookie, "=", session,
                                "; Path=/; HttpOnly; SameSite=Strict",
                                access_.tls.enabled() ? "; Secure" : ""));
    res.set_redirect("/", 303);
  });
  server_->Post(
      "/logout", [this](const httplib::Request& req, httplib::Response& res) {
        sessions_.End(CookieValue(req, kSessionCookie));
        res.set_header("Set-Cookie",
                       absl::StrCat(kSessionCookie,
                                    "=; Path=/; HttpOnly; SameSite=Strict; "
                                    "Max-Age=0"));
        res.set_redirect("/login", 303);
      });
}

OpsHttpServer::~OpsHttpServer() { Stop(); }

void OpsHttpServer::Stop() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace newsdedup
