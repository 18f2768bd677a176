#include "services/ops_http_server.h"

#include <httplib.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/time_format.h"
#include "services/dashboard_assets.h"
#include "services/page_tokens.h"

namespace newsdedup {
namespace {

using nlohmann::json;

// RFC 3339 in UTC, or null for an unknown time.
json TimeJson(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return nullptr;
  return FormatRfc3339(t);
}

json StoryJson(const ClusterSummary& c) {
  return {{"id", c.cluster_id},
          {"title", c.representative_title},
          {"representative_id", c.representative_id},
          {"size", c.size},
          {"sources", c.num_sources},
          {"first_seen", TimeJson(c.first_seen)},
          {"last_seen", TimeJson(c.last_seen)},
          {"recent", c.recent_articles},
          {"timeline", c.timeline},
          {"aliases", c.aliases}};
}

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void Error(httplib::Response& res, int status, const std::string& message) {
  Reply(res, status, {{"error", message}});
}

// An integer query parameter within [lo, hi], or `fallback` when absent.
bool IntParam(const httplib::Request& req, const char* name, int lo, int hi,
              int fallback, int* out, httplib::Response& res) {
  *out = fallback;
  if (!req.has_param(name)) return true;
  if (!absl::SimpleAtoi(req.get_param_value(name), out) || *out < lo ||
      *out > hi) {
    Error(res, 400,
          absl::StrCat(name, ": must be an integer in [", lo, ", ", hi, "]"));
    return false;
  }
  return true;
}

void Serve(httplib::Server& server, const ClusteringEngine* engine,
           const PrometheusRegistry* registry, PageSnapshots* pages) {
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

  server.Get("/api/stories", [engine, pages](const httplib::Request& req,
                                             httplib::Response& res) {
    int limit = 0;
    if (!IntParam(req, "limit", 1, 1000, 50, &limit, res)) return;
    const EngineStats stats = engine->stats();
    json stories = json::array();
    if (req.has_param("page_token")) {
      // A later page: the order the first page computed (page_tokens.h).
      absl::StatusOr<PageSnapshots::Page> page =
          pages->Next(req.get_param_value("page_token"), limit);
      if (!page.ok()) {
        Error(res, 400, std::string(page.status().message()));
        return;
      }
      for (const std::string& id : page->ids) {
        absl::StatusOr<ClusterSummary> story = engine->GetCluster(id);
        if (story.ok() && story->cluster_id == id && !story->expired) {
          stories.push_back(StoryJson(*story));
        }
      }
      Reply(res, 200,
            {{"total", page->total},
             {"articles", stats.articles},
             {"timeline_hours", ClusterSummary::kTimelineHours},
             {"stories", stories},
             {"next_page_token", page->next_token}});
      return;
    }
    const std::string sort =
        req.has_param("sort") ? req.get_param_value("sort") : "growth";
    ClusterOrder order = ClusterOrder::kRecentGrowth;
    if (sort == "size") {
      order = ClusterOrder::kSize;
    } else if (sort == "last-update") {
      order = ClusterOrder::kLastUpdate;
    } else if (sort != "growth") {
      Error(res, 400, "sort: must be growth, size or last-update");
      return;
    }
    std::vector<ClusterSummary> clusters = engine->ListClusters();
    SortClusters(order, &clusters);
    std::vector<std::string> ids;
    for (const ClusterSummary& c : clusters) ids.push_back(c.cluster_id);
    const PageSnapshots::Page page = pages->First(std::move(ids), limit);
    for (size_t i = 0; i < page.ids.size(); ++i) {
      stories.push_back(StoryJson(clusters[i]));
    }
    Reply(res, 200,
          {{"total", clusters.size()},
           {"articles", stats.articles},
           {"timeline_hours", ClusterSummary::kTimelineHours},
           {"stories", stories},
           {"next_page_token", page.next_token}});
  });

  server.Get(R"(/api/stories/([^/]+))", [engine](const httplib::Request& req,
                                                 httplib::Response& res) {
    int limit = 0;
    if (!IntParam(req, "limit", 1, 1000, 200, &limit, res)) return;
    const std::string id = req.matches[1];
    absl::StatusOr<ClusterSummary> story = engine->GetCluster(id);
    absl::StatusOr<MemberPage> page = engine->ClusterMembers(id, 0, limit);
    if (!story.ok() || !page.ok()) {
      Error(res, 404, absl::StrCat("unknown story: ", id));
      return;
    }
    json members = json::array();
    for (const ArticleView& m : page->members) {
      members.push_back({{"id", m.id},
                         {"title", m.title},
                         {"source", m.source},
                         {"published", TimeJson(m.published)},
                         {"relation", RelationName(m.assignment.relation)},
                         {"duplicate_of", m.assignment.duplicate_of}});
    }
    json body = StoryJson(*story);
    body["members"] = members;
    body["members_total"] = page->total;
    Reply(res, 200, body);
  });

  server.Get("/api/search", [engine](const httplib::Request& req,
                                     httplib::Response& res) {
    int k = 0;
    if (!IntParam(req, "k", 1, 100, 20, &k, res)) return;
    const std::string q = req.has_param("q") ? req.get_param_value("q") : "";
    Article probe;
    probe.id = "dashboard-search";
    probe.title = q;
    absl::StatusOr<SimilarResult> found = engine->FindSimilar(probe, k);
    if (!found.ok()) {
      Error(res, 400, std::string(found.status().message()));
      return;
    }
    // Nearest articles grouped by story, best story first.
    json stories = json::array();
    std::vector<std::string> seen;
    for (const SimilarArticle& n : found->neighbors) {
      if (std::find(seen.begin(), seen.end(), n.cluster_id) != seen.end()) {
        continue;
      }
      seen.push_back(n.cluster_id);
      absl::StatusOr<ClusterSummary> story = engine->GetCluster(n.cluster_id);
      if (!story.ok()) continue;
      json s = StoryJson(*story);
      s["similarity"] = n.similarity;
      stories.push_back(s);
    }
    const Assignment& would = found->would_be;
    Reply(res, 200,
          {{"query", q},
           {"would_join",
            would.cluster_id.empty() ? json(nullptr) : json(would.cluster_id)},
           {"relation", RelationName(would.relation)},
           {"stories", stories}});
  });
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
    const std::string& host, int port, const ClusteringEngine* engine,
    const PrometheusRegistry* registry) {
  std::unique_ptr<OpsHttpServer> ops(new OpsHttpServer());
  ops->server_ = std::make_unique<httplib::Server>();
  ConfigureConnections(*ops->server_);
  Serve(*ops->server_, engine, registry, &ops->story_pages_);
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

OpsHttpServer::~OpsHttpServer() { Stop(); }

void OpsHttpServer::Stop() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace newsdedup
