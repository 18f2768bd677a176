// Access control end to end over loopback: a real DedupServer and HTTP
// server with a token file, called through real gRPC channels and HTTP
// clients; TLS and mutual TLS with certificates made by openssl in a temp
// dir; and `newsdedup serve` refusing to listen beyond loopback unguarded.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "services/server/access_control.h"
#include "services/server/dedup_server.h"
#include "services/server/ops_http_server.h"
#include "services/server/prometheus_registry.h"
#include "tests/support/server_process.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;

// One token per role; "none" sends no header, "forged" an unknown token.
const std::map<std::string, std::string>& Tokens() {
  static const auto* tokens = new std::map<std::string, std::string>{
      {"read", "read-token-0123456789"},
      {"ingest", "ingest-token-0123456789"},
      {"edit", "edit-token-0123456789"},
      {"admin", "admin-token-0123456789"},
  };
  return *tokens;
}

std::string TokenFileText() {
  std::string text;
  for (const auto& [role, token] : Tokens()) {
    absl::StrAppend(&text, token, " ", role, " ", role, " user\n");
  }
  return text;
}

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTempDir("access-test");
    auto access = AccessControl::FromText(TokenFileText());
    ASSERT_TRUE(access.ok()) << access.status();
    access_ = *std::move(access);
    engine_ = testing::MakeEngine();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void StartGrpc(ServerOptions options = ServerOptions()) {
    options.listen_address = "127.0.0.1:0";
    options.access = access_.get();
    auto server = DedupServer::Start(options, engine_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::string Address() const {
    return absl::StrCat("127.0.0.1:", server_->port());
  }

  // Makes a CA, a server certificate for 127.0.0.1 and a client
  // certificate, all signed by the CA, in dir_: with the script the README
  // gives users (issue 37), so that it is tested too.
  void MakeCertificates() {
    const std::string d = dir_.string();
    std::string out;
    ASSERT_EQ(testing::RunCommand(absl::StrCat("DAYS=1 ", NEWSDEDUP_SOURCE_DIR,
                                               "/scripts/make-certs.sh ", d),
                                  d + "/make-certs.log", &out),
              0)
        << out;
  }

  std::string File(const std::string& name) const {
    return (dir_ / name).string();
  }

  std::filesystem::path dir_;
  std::unique_ptr<AccessControl> access_;
  std::unique_ptr<ClusteringEngine> engine_;
  std::unique_ptr<DedupServer> server_;
};

// One RPC of the matrix: its name, the role it needs, and a call that
// sends `token` (none when empty).
struct Method {
  std::string name;
  std::string role;
  std::function<grpc::Status(grpc::ClientContext*, grpc::Channel*)> call;
};

std::vector<Method> Methods(const std::string& backup_dir) {
  using v1::AdminService;
  using v1::DedupService;
  v1::Article article;
  article.set_id("a1");
  article.set_title("Central bank raises interest rates again");
  return {
      {"Assign", "ingest",
       [article](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::AssignRequest request;
         *request.mutable_article() = article;
         v1::AssignResponse response;
         return DedupService::NewStub(ch->shared_from_this())
             ->Assign(c, request, &response);
       }},
      {"AssignBatch", "ingest",
       [article](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::AssignBatchRequest request;
         *request.add_articles() = article;
         v1::AssignBatchResponse response;
         return DedupService::NewStub(ch->shared_from_this())
             ->AssignBatch(c, request, &response);
       }},
      {"AssignStream", "ingest",
       [article](grpc::ClientContext* c, grpc::Channel* ch) {
         auto stub = DedupService::NewStub(ch->shared_from_this());
         auto stream = stub->AssignStream(c);
         v1::AssignRequest request;
         *request.mutable_article() = article;
         stream->Write(request);
         stream->WritesDone();
         v1::AssignStreamResponse response;
         while (stream->Read(&response)) {
         }
         return stream->Finish();
       }},
      {"GetCluster", "read",
       [](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::GetClusterRequest request;
         request.set_cluster_id("story-1");
         v1::GetClusterResponse response;
         return DedupService::NewStub(ch->shared_from_this())
             ->GetCluster(c, request, &response);
       }},
      {"ListClusters", "read",
       [](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::ListClustersResponse response;
         return DedupService::NewStub(ch->shared_from_this())
             ->ListClusters(c, v1::ListClustersRequest(), &response);
       }},
      {"GetArticle", "read",
       [](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::GetArticleRequest request;
         request.set_article_id("a1");
         v1::GetArticleResponse response;
         return DedupService::NewStub(ch->shared_from_this())
             ->GetArticle(c, request, &response);
       }},
      {"FindSimilar", "read",
       [article](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::FindSimilarRequest request;
         *request.mutable_article() = article;
         v1::FindSimilarResponse response;
         return DedupService::NewStub(ch->shared_from_this())
             ->FindSimilar(c, request, &response);
       }},
      {"DeleteArticle", "ingest",
       [](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::DeleteArticleRequest request;
         request.set_article_id("no-such-article");
         v1::DeleteArticleResponse response;
         return DedupService::NewStub(ch->shared_from_this())
             ->DeleteArticle(c, request, &response);
       }},
      {"MergeClusters", "edit",
       [](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::MergeClustersRequest request;
         request.set_cluster_id("story-1");
         request.set_into_cluster_id("story-2");
         request.set_reason("matrix");
         v1::EditResponse response;
         return DedupService::NewStub(ch->shared_from_this())
             ->MergeClusters(c, request, &response);
       }},
      {"SplitCluster", "edit",
       [](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::SplitClusterRequest request;
         request.set_cluster_id("story-1");
         request.set_reason("matrix");
         v1::EditResponse response;
         return DedupService::NewStub(ch->shared_from_this())
             ->SplitCluster(c, request, &response);
       }},
      {"MoveArticle", "edit",
       [](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::MoveArticleRequest request;
         request.set_article_id("a1");
         request.set_to_cluster_id("story-9");
         request.set_reason("matrix");
         v1::EditResponse response;
         return DedupService::NewStub(ch->shared_from_this())
             ->MoveArticle(c, request, &response);
       }},
      {"PinRepresentative", "edit",
       [](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::PinRepresentativeRequest request;
         request.set_cluster_id("story-1");
         request.set_article_id("a1");
         request.set_reason("matrix");
         v1::EditResponse response;
         return DedupService::NewStub(ch->shared_from_this())
             ->PinRepresentative(c, request, &response);
       }},
      {"KeepApart", "edit",
       [](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::KeepApartRequest request;
         request.set_cluster_id("story-1");
         request.set_other_cluster_id("story-2");
         request.set_reason("matrix");
         v1::EditResponse response;
         return DedupService::NewStub(ch->shared_from_this())
             ->KeepApart(c, request, &response);
       }},
      {"Backup", "admin",
       [backup_dir](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::BackupRequest request;
         request.set_backup_dir(backup_dir);
         v1::BackupResponse response;
         return AdminService::NewStub(ch->shared_from_this())
             ->Backup(c, request, &response);
       }},
      {"GetState", "admin",
       [](grpc::ClientContext* c, grpc::Channel* ch) {
         v1::GetStateResponse response;
         return AdminService::NewStub(ch->shared_from_this())
             ->GetState(c, v1::GetStateRequest(), &response);
       }},
  };
}

int Rank(const std::string& role) {
  return role == "read" ? 0 : role == "ingest" ? 1 : role == "edit" ? 2 : 3;
}

TEST_F(AccessTest, EveryRoleAgainstEveryMethod) {
  StartGrpc();
  auto channel =
      grpc::CreateChannel(Address(), grpc::InsecureChannelCredentials());
  for (const Method& method : Methods(File("backup"))) {
    for (const std::string who :
         {"none", "forged", "read", "ingest", "edit", "admin"}) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(10));
      if (who == std::string("forged")) {
        context.AddMetadata("authorization", "Bearer forged-token-0123456789");
      } else if (who != std::string("none")) {
        context.AddMetadata("authorization",
                            absl::StrCat("Bearer ", Tokens().at(who)));
      }
      const grpc::Status status = method.call(&context, channel.get());
      const std::string where =
          absl::StrCat(method.name, " as ", who, ": ", status.error_message());
      if (who == std::string("none") || who == std::string("forged")) {
        EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
            << where;
      } else if (Rank(who) < Rank(method.role)) {
        EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << where;
        EXPECT_THAT(status.error_message(),
                    HasSubstr(absl::StrCat("needs the role '", method.role)))
            << where;
      } else {
        // Allowed: whatever the call's own answer (NOT_FOUND for an
        // unknown id, FAILED_PRECONDITION for a backup of memory) but no
        // refusal.
        EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
            << where;
        EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << where;
      }
      EXPECT_THAT(status.error_message(),
                  ::testing::Not(HasSubstr("0123456789")))
          << "a refusal must not echo a token: " << where;
    }
  }
  // Health checks stay open for probes.
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckResponse health;
  EXPECT_TRUE(
      grpc::health::v1::Health::NewStub(channel)
          ->Check(&context, grpc::health::v1::HealthCheckRequest(), &health)
          .ok());
}

TEST_F(AccessTest, RefusedCallsChangeNothing) {
  StartGrpc();
  auto stub = v1::DedupService::NewStub(
      grpc::CreateChannel(Address(), grpc::InsecureChannelCredentials()));
  v1::AssignRequest request;
  request.mutable_article()->set_id("refused");
  request.mutable_article()->set_title("A reader may not ingest this");
  grpc::ClientContext context;
  context.AddMetadata("authorization",
                      absl::StrCat("Bearer ", Tokens().at("read")));
  v1::AssignResponse response;
  EXPECT_EQ(stub->Assign(&context, request, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(engine_->stats().articles, 0);
}

TEST_F(AccessTest, TlsAndMutualTls) {
  MakeCertificates();
  ServerOptions options;
  options.tls = {File("server.pem"), File("server.key"), ""};
  StartGrpc(options);
  const std::string ca = testing::ReadFile(File("ca.pem"));
  auto list = [&](std::shared_ptr<grpc::ChannelCredentials> credentials) {
    auto stub =
        v1::DedupService::NewStub(grpc::CreateChannel(Address(), credentials));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    context.AddMetadata("authorization",
                        absl::StrCat("Bearer ", Tokens().at("read")));
    v1::ListClustersResponse response;
    return stub->ListClusters(&context, v1::ListClustersRequest(), &response);
  };
  grpc::SslCredentialsOptions trusting;
  trusting.pem_root_certs = ca;
  EXPECT_TRUE(list(grpc::SslCredentials(trusting)).ok());
  // A plaintext client, or one that does not trust the CA, gets nowhere.
  EXPECT_FALSE(list(grpc::InsecureChannelCredentials()).ok());
  EXPECT_FALSE(list(grpc::SslCredentials(grpc::SslCredentialsOptions())).ok());

  // Mutual TLS: a client certificate signed by the client CA is required.
  server_.reset();
  options.tls.client_ca_file = File("ca.pem");
  StartGrpc(options);
  EXPECT_FALSE(list(grpc::SslCredentials(trusting)).ok());
  grpc::SslCredentialsOptions with_certificate = trusting;
  with_certificate.pem_cert_chain = testing::ReadFile(File("client.pem"));
  with_certificate.pem_private_key = testing::ReadFile(File("client.key"));
  EXPECT_TRUE(list(grpc::SslCredentials(with_certificate)).ok());
}

TEST_F(AccessTest, BadTlsFilesAreClearErrors) {
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.tls = {File("missing.pem"), File("missing.key"), ""};
  auto server = DedupServer::Start(options, engine_.get());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(server.status().message(), HasSubstr("missing.pem"));
  options.tls = {File("missing.pem"), "", ""};
  EXPECT_THAT(DedupServer::Start(options, engine_.get()).status().message(),
              HasSubstr("go together"));
}

class HttpAccessTest : public AccessTest {
 protected:
  void StartHttp(bool metrics_open, const TlsOptions& tls = TlsOptions(),
                 std::vector<std::string> origins = {}) {
    HttpAccess access;
    access.access = access_.get();
    access.metrics_open = metrics_open;
    access.tls = tls;
    access.allowed_origins = std::move(origins);
    auto http = OpsHttpServer::Start("127.0.0.1", 0, engine_.get(), &metrics_,
                                     nullptr, access);
    ASSERT_TRUE(http.ok()) << http.status();
    http_ = *std::move(http);
  }
  PrometheusRegistry metrics_;
  std::unique_ptr<OpsHttpServer> http_;
};

TEST_F(HttpAccessTest, ApiNeedsATokenOrALoginSession) {
  StartHttp(/*metrics_open=*/false);
  httplib::Client http("127.0.0.1", http_->port());
  auto res = http.Get("/api/clusters");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(res->get_header_value("WWW-Authenticate"),
            "Bearer realm=\"newsdedup\"");
  EXPECT_EQ(http.Get("/metrics")->status, 401);
  EXPECT_EQ(http.Get("/healthz")->status, 200);
  EXPECT_EQ(http.Get("/")->status, 200);  // the page itself holds no data

  const httplib::Headers reader = {
      {"Authorization", absl::StrCat("Bearer ", Tokens().at("read"))}};
  EXPECT_EQ(http.Get("/api/clusters", reader)->status, 200);
  EXPECT_EQ(http.Get("/metrics", reader)->status, 200);
  // POST routes of the API change stories: a reader may not.
  EXPECT_EQ(http.Post("/api/clusters", reader, "", "text/plain")->status, 403);

  // A login sets an HttpOnly, SameSite=Strict session cookie that the API
  // then accepts.
  auto bad = http.Post("/login", "token=wrong-token-0123456789",
                       "application/x-www-form-urlencoded");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  auto login = http.Post("/login", absl::StrCat("token=", Tokens().at("read")),
                         "application/x-www-form-urlencoded");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 303);
  const std::string cookie = login->get_header_value("Set-Cookie");
  EXPECT_THAT(cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(cookie, HasSubstr("SameSite=Strict"));
  const std::string session = cookie.substr(0, cookie.find(';'));
  EXPECT_EQ(http.Get("/api/clusters", {{"Cookie", session}})->status, 200);

  // The form posted from the dashboard's own page is taken.
  auto same_site =
      http.Post("/login",
                {{"Origin", absl::StrCat("http://127.0.0.1:", http_->port())},
                 {"Sec-Fetch-Site", "same-origin"}},
                absl::StrCat("token=", Tokens().at("read")),
                "application/x-www-form-urlencoded");
  ASSERT_TRUE(same_site);
  EXPECT_EQ(same_site->status, 303);
  // A login form posted from another site is refused before it is read.
  auto cross = http.Post("/login", {{"Origin", "https://evil.example"}},
                         absl::StrCat("token=", Tokens().at("read")),
                         "application/x-www-form-urlencoded");
  ASSERT_TRUE(cross);
  EXPECT_EQ(cross->status, 403);
  EXPECT_EQ(http.Post("/logout",
                      {{"Sec-Fetch-Site", "cross-site"}, {"Cookie", session}},
                      "", "text/plain")
                ->status,
            403);

  // Logging out ends the session.
  EXPECT_EQ(
      http.Post("/logout", {{"Cookie", session}}, "", "text/plain")->status,
      303);
  EXPECT_EQ(http.Get("/api/clusters", {{"Cookie", session}})->status, 401);
}

// Issue 36: every route of the JSON API needs the role /openapi.json names
// (ingest to assign and take down, edit to correct, read to read) and no
// more; the document itself is open.
TEST_F(HttpAccessTest, EveryApiRouteNeedsTheRoleItsDocumentNames) {
  StartHttp(/*metrics_open=*/false);
  httplib::Client http("127.0.0.1", http_->port());
  auto document_answer = http.Get("/openapi.json");
  ASSERT_TRUE(document_answer);
  ASSERT_EQ(document_answer->status, 200);
  const nlohmann::json document = nlohmann::json::parse(document_answer->body);
  const std::vector<std::string> roles = {"read", "ingest", "edit", "admin"};
  std::map<std::string, int> routes_by_role;
  for (const auto& [path, item] : document["paths"].items()) {
    for (const auto& [method, operation] : item.items()) {
      const std::string needed = operation["x-newsdedup-role"];
      ++routes_by_role[needed];
      const size_t rank =
          std::find(roles.begin(), roles.end(), needed) - roles.begin();
      ASSERT_LT(rank, roles.size()) << needed;
      // An event stream never ends: asked for a bad cursor, it answers at
      // once (after the same checks of the caller).
      const bool stream = operation["responses"]["200"]["content"].contains(
          "text/event-stream");
      const std::string concrete =
          std::regex_replace(path, std::regex("\\{[a-z_]+\\}"), "x") +
          (stream ? "?after_cursor=x" : "");
      const std::string type =
          operation.contains("requestBody")
              ? operation["requestBody"]["content"].begin().key()
              : "application/json";
      for (size_t r = 0; r < roles.size(); ++r) {
        const httplib::Headers token = {
            {"Authorization", absl::StrCat("Bearer ", Tokens().at(roles[r]))}};
        httplib::Result answer = method == "get" ? http.Get(concrete, token)
                                 : method == "delete"
                                     ? http.Delete(concrete, token)
                                     : http.Post(concrete, token, "{}", type);
        ASSERT_TRUE(answer);
        if (r < rank) {
          EXPECT_EQ(answer->status, 403)
              << roles[r] << " " << method << " " << path;
        } else {
          EXPECT_NE(answer->status, 403)
              << roles[r] << " " << method << " " << path;
          EXPECT_NE(answer->status, 401);
        }
      }
      httplib::Result anonymous = method == "get" ? http.Get(concrete)
                                  : method == "delete"
                                      ? http.Delete(concrete)
                                      : http.Post(concrete, "{}", type);
      ASSERT_TRUE(anonymous);
      EXPECT_EQ(anonymous->status, 401) << method << " " << path;
    }
  }
  EXPECT_GE(routes_by_role["ingest"], 4);  // assign x3, take down
  EXPECT_GE(routes_by_role["edit"], 10);   // five actions, two schemes
}

// Issue 23.3: the open loopback server took a merge from a page whose DNS
// name had been rebound to 127.0.0.1 (Host and Origin both the attacker's
// name, so the same-origin check passed).
// Issue 37: a browser app on a listed origin calls the JSON API with its
// token (CORS); every other origin is refused, and no cross-origin call
// rides on the dashboard's session cookie.
TEST_F(HttpAccessTest, ListedOriginsMayCallTheApiWithTheirToken) {
  auto first =
      engine_->Assign(testing::MakeArticle("o1", "Harbour bridge closes"));
  auto second =
      engine_->Assign(testing::MakeArticle("o2", "Zoo welcomes a panda"));
  ASSERT_TRUE(first.ok() && second.ok());
  const std::string app = "https://app.example.org";
  const std::string evil = "https://evil.example";
  StartHttp(/*metrics_open=*/false, TlsOptions(), {app});
  httplib::Client http("127.0.0.1", http_->port());

  auto preflight = http.Options(
      "/api/clusters", {{"Origin", app},
                        {"Access-Control-Request-Method", "POST"},
                        {"Access-Control-Request-Headers", "authorization"}});
  ASSERT_TRUE(preflight);
  EXPECT_EQ(preflight->status, 204);
  EXPECT_EQ(preflight->get_header_value("Access-Control-Allow-Origin"), app);
  EXPECT_THAT(preflight->get_header_value("Access-Control-Allow-Headers"),
              HasSubstr("Authorization"));
  auto refused = http.Options("/api/clusters", {{"Origin", evil}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(refused->get_header_value("Access-Control-Allow-Origin"), "");

  const std::string reader = absl::StrCat("Bearer ", Tokens().at("read"));
  auto listed =
      http.Get("/api/clusters", {{"Origin", app}, {"Authorization", reader}});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->status, 200);
  EXPECT_EQ(listed->get_header_value("Access-Control-Allow-Origin"), app);
  EXPECT_EQ(listed->get_header_value("Vary"), "Origin");
  auto other =
      http.Get("/api/clusters", {{"Origin", evil}, {"Authorization", reader}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->get_header_value("Access-Control-Allow-Origin"), "");

  // A change from the listed origin with an editor's token goes through;
  // from another origin it is refused before anything changes.
  const std::string merge =
      absl::StrCat("/api/clusters/", first->cluster_id, "/merge");
  const std::string body =
      absl::StrCat("{\"into_cluster_id\": \"", second->cluster_id,
                   "\", \"reason\": \"same event\"}");
  const std::string editor = absl::StrCat("Bearer ", Tokens().at("edit"));
  auto forged = http.Post(merge,
                          {{"Origin", evil},
                           {"Sec-Fetch-Site", "cross-site"},
                           {"Authorization", editor}},
                          body, "application/json");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 403);
  EXPECT_NE(*engine_->ClusterOfArticle("o1"), *engine_->ClusterOfArticle("o2"));

  // The dashboard's session cookie does not count for another site's page.
  auto login = http.Post("/login", absl::StrCat("token=", Tokens().at("edit")),
                         "application/x-www-form-urlencoded");
  ASSERT_TRUE(login);
  const std::string cookie =
      login->get_header_value("Set-Cookie")
          .substr(0, login->get_header_value("Set-Cookie").find(';'));
  auto riding = http.Post(
      merge,
      {{"Origin", app}, {"Sec-Fetch-Site", "cross-site"}, {"Cookie", cookie}},
      body, "application/json");
  ASSERT_TRUE(riding);
  EXPECT_EQ(riding->status, 401);
  EXPECT_NE(*engine_->ClusterOfArticle("o1"), *engine_->ClusterOfArticle("o2"));

  auto merged = http.Post(merge,
                          {{"Origin", app},
                           {"Sec-Fetch-Site", "cross-site"},
                           {"Authorization", editor}},
                          body, "application/json");
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged->status, 200) << merged->body;
  EXPECT_EQ(merged->get_header_value("Access-Control-Allow-Origin"), app);
  EXPECT_EQ(*engine_->ClusterOfArticle("o1"), *engine_->ClusterOfArticle("o2"));
}

TEST_F(HttpAccessTest, NamesOtherThanTheServersAreRefused) {
  auto first =
      engine_->Assign(testing::MakeArticle("r1", "Harbour bridge closes"));
  auto second =
      engine_->Assign(testing::MakeArticle("r2", "Zoo welcomes a panda"));
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_NE(first->cluster_id, second->cluster_id);
  HttpAccess open;  // no tokens: the default loopback server
  open.allowed_hosts = {"news.example"};
  auto started = OpsHttpServer::Start("127.0.0.1", 0, engine_.get(), &metrics_,
                                      nullptr, open);
  ASSERT_TRUE(started.ok()) << started.status();
  http_ = *std::move(started);
  httplib::Client http("127.0.0.1", http_->port());
  const std::string port = absl::StrCat(":", http_->port());
  const std::string attacker = "attacker.example" + port;
  auto rebound =
      http.Post(absl::StrCat("/api/clusters/", first->cluster_id, "/merge"),
                {{"Host", attacker}, {"Origin", "http://" + attacker}},
                absl::StrCat("{\"target_cluster_id\": \"", second->cluster_id,
                             "\", \"reason\": \"rebinding\"}"),
                "application/json");
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 403);
  EXPECT_THAT(rebound->body, HasSubstr("--http-allowed-hosts"));
  EXPECT_NE(*engine_->ClusterOfArticle("r1"), *engine_->ClusterOfArticle("r2"));
  auto read = http.Get("/api/clusters", {{"Host", attacker}});
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 403);
  // The server's own names, and the ones it was given, are served.
  for (const std::string& host :
       {"127.0.0.1" + port, "localhost" + port, "LOCALHOST" + port,
        "[::1]" + port, "news.example" + port, std::string("127.0.0.1")}) {
    auto res = http.Get("/api/clusters", {{"Host", host}});
    ASSERT_TRUE(res) << host;
    EXPECT_EQ(res->status, 200) << host;
  }
  // Probes reach it by whatever name their network has; the open
  // server's metrics only by its own names (issue 33.5: a rebound name
  // read them).
  EXPECT_EQ(http.Get("/healthz", {{"Host", "newsdedup" + port}})->status, 200);
  EXPECT_EQ(http.Get("/metrics", {{"Host", attacker}})->status, 403);
  EXPECT_EQ(http.Get("/metrics", {{"Host", "news.example" + port}})->status,
            200);
  EXPECT_EQ(http.Get("/metrics", {{"Host", "127.0.0.1" + port}})->status, 200);
}

// Issue 33.5: editorial refusals over HTTP were 500 (a server fault);
// they are the caller's: 400 for a refused action, 409 for a conflict.
TEST_F(HttpAccessTest, EditorialRefusalsAreClientErrors) {
  auto first =
      engine_->Assign(testing::MakeArticle("e1", "Harbour bridge closes"));
  auto second =
      engine_->Assign(testing::MakeArticle("e2", "Zoo welcomes a panda"));
  ASSERT_TRUE(first.ok() && second.ok());
  auto started = OpsHttpServer::Start("127.0.0.1", 0, engine_.get(), &metrics_,
                                      nullptr, HttpAccess());
  ASSERT_TRUE(started.ok()) << started.status();
  http_ = *std::move(started);
  httplib::Client http("127.0.0.1", http_->port());
  auto kept = http.Post(
      absl::StrCat("/api/clusters/", first->cluster_id, "/keep-apart"),
      absl::StrCat("{\"other_cluster_id\": \"", second->cluster_id,
                   "\", \"reason\": \"two events\"}"),
      "application/json");
  ASSERT_TRUE(kept);
  ASSERT_EQ(kept->status, 200) << kept->body;
  auto merged =
      http.Post(absl::StrCat("/api/clusters/", first->cluster_id, "/merge"),
                absl::StrCat("{\"into_cluster_id\": \"", second->cluster_id,
                             "\", \"reason\": \"same event\"}"),
                "application/json");
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged->status, 400) << merged->body;
  EXPECT_THAT(merged->body, HasSubstr("kept apart"));
}

TEST_F(HttpAccessTest, MetricsMayStayOpenAndHttpsWorks) {
  MakeCertificates();
  StartHttp(/*metrics_open=*/true,
            {File("server.pem"), File("server.key"), ""});
  httplib::SSLClient https("127.0.0.1", http_->port());
  https.set_ca_cert_path(File("ca.pem").c_str());
  https.enable_server_certificate_verification(true);
  auto metrics = https.Get("/metrics");
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(https.Get("/api/clusters")->status, 401);
  // The session cookie is Secure over HTTPS.
  auto login = https.Post("/login", absl::StrCat("token=", Tokens().at("edit")),
                          "application/x-www-form-urlencoded");
  ASSERT_TRUE(login);
  EXPECT_THAT(login->get_header_value("Set-Cookie"), HasSubstr("; Secure"));
  // Plain HTTP to the HTTPS port gets no answer.
  httplib::Client plain("127.0.0.1", http_->port());
  plain.set_read_timeout(2, 0);
  auto res = plain.Get("/healthz");
  EXPECT_TRUE(!res || res->status != 200);
}

TEST_F(HttpAccessTest, MutualTlsAsksBrowsersForACertificate) {
  MakeCertificates();
  StartHttp(/*metrics_open=*/true,
            {File("server.pem"), File("server.key"), File("ca.pem")});
  httplib::SSLClient anonymous("127.0.0.1", http_->port());
  anonymous.set_ca_cert_path(File("ca.pem").c_str());
  anonymous.set_read_timeout(2, 0);
  auto refused = anonymous.Get("/healthz");
  EXPECT_TRUE(!refused || refused->status != 200);
  httplib::SSLClient with_certificate("127.0.0.1", http_->port(),
                                      File("client.pem"), File("client.key"));
  with_certificate.set_ca_cert_path(File("ca.pem").c_str());
  with_certificate.enable_server_certificate_verification(true);
  auto taken = with_certificate.Get("/healthz");
  ASSERT_TRUE(taken) << httplib::to_string(taken.error());
  EXPECT_EQ(taken->status, 200);
}

TEST(ServeAccessTest, RefusesToListenBeyondLoopbackWithoutTokens) {
  const std::filesystem::path dir = testing::FreshTempDir("serve-access");
  std::string out;
  const int code = testing::RunCommand(
      absl::StrCat(NEWSDEDUP_CLI_PATH,
                   " serve --in-memory --listen 0.0.0.0:0 --http-listen ''"),
      (dir / "out").string(), &out);
  EXPECT_EQ(code, 2) << out;
  EXPECT_THAT(out, HasSubstr("without --auth-tokens"));
  EXPECT_THAT(out, HasSubstr("--insecure"));
  // A bad token file stops the start with the line at fault.
  std::ofstream(dir / "tokens") << "too-short read someone\n";
  EXPECT_EQ(testing::RunCommand(
                absl::StrCat(NEWSDEDUP_CLI_PATH,
                             " serve --in-memory --listen 127.0.0.1:0 "
                             "--http-listen '' --auth-tokens ",
                             (dir / "tokens").string()),
                (dir / "out").string(), &out),
            2);
  EXPECT_THAT(out, HasSubstr("line 1: token shorter than 16"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("too-short")));
  std::filesystem::remove_all(dir);
}

TEST(ServeAccessTest, ClientSendsItsTokenAndReloadTakesNewOnes) {
  const std::filesystem::path dir = testing::FreshTempDir("serve-tokens");
  const std::string tokens = (dir / "tokens").string();
  std::ofstream(tokens) << "first-token-0123456789 read cli user\n";
  testing::ServerProcess server;
  const std::string log = (dir / "server.log").string();
  ASSERT_TRUE(server.Start(NEWSDEDUP_CLI_PATH,
                           absl::StrCat("--in-memory --auth-tokens ", tokens),
                           log))
      << testing::ReadFile(log);
  auto client = [&](const std::string& env, std::string* out) {
    return testing::RunCommand(
        absl::StrCat(env, " ", NEWSDEDUP_CLI_PATH, " client --server ",
                     server.address(), " list-clusters"),
        (dir / "out").string(), out);
  };
  std::string out;
  EXPECT_NE(client("", &out), 0);
  EXPECT_THAT(out, HasSubstr("UNAUTHENTICATED"));
  EXPECT_EQ(client("NEWSDEDUP_TOKEN=first-token-0123456789", &out), 0) << out;

  // SIGHUP: the new file replaces the old tokens.
  std::ofstream(tokens) << "second-token-0123456789 read cli user\n";
  ASSERT_EQ(kill(server.pid(), SIGHUP), 0);
  bool reloaded = false;
  for (int i = 0; i < 100 && !reloaded; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    reloaded =
        testing::ReadFile(log).find("tokens_reloaded") != std::string::npos;
  }
  ASSERT_TRUE(reloaded) << testing::ReadFile(log);
  EXPECT_NE(client("NEWSDEDUP_TOKEN=first-token-0123456789", &out), 0);
  EXPECT_EQ(client("NEWSDEDUP_TOKEN=second-token-0123456789", &out), 0) << out;
  EXPECT_THAT(testing::ReadFile(log),
              ::testing::Not(HasSubstr("token-0123456789")))
      << "tokens must never be logged";
  server.Stop(SIGTERM);
  std::filesystem::remove_all(dir);
}

TEST(ServeAccessTest, EditorsCorrectClustersFromTheCliAndItLasts) {
  const std::filesystem::path dir = testing::FreshTempDir("serve-editorial");
  const std::string tokens = (dir / "tokens").string();
  std::ofstream(tokens) << "editor-token-0123456789 edit Ana Editor\n"
                        << "reader-token-0123456789 read Viewer\n"
                        << "ingest-token-0123456789 ingest Pipeline\n";
  const std::string input = (dir / "in.jsonl").string();
  std::ofstream(input) << testing::StoriesJsonl();
  const std::string serve_args = absl::StrCat(
      "--data-dir ", (dir / "data").string(), " --auth-tokens ", tokens);
  const std::string log = (dir / "server.log").string();
  auto server = std::make_unique<testing::ServerProcess>();
  ASSERT_TRUE(server->Start(NEWSDEDUP_CLI_PATH, serve_args, log))
      << testing::ReadFile(log);
  auto client = [&](const std::string& token, const std::string& args,
                    std::string* out) {
    return testing::RunCommand(
        absl::StrCat("NEWSDEDUP_TOKEN=", token, " ", NEWSDEDUP_CLI_PATH,
                     " client --server ", server->address(), " ", args),
        (dir / "out").string(), out);
  };
  std::string out;
  ASSERT_EQ(client("ingest-token-0123456789", "assign " + input, &out), 0)
      << out;
  // s1 opened story-1 (summit), q1 story-2 (quake).
  ASSERT_NE(client("reader-token-0123456789",
                   "merge-clusters story-2 story-1 --reason test", &out),
            0);
  EXPECT_THAT(out, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(out, HasSubstr("needs the role 'edit'"));
  ASSERT_NE(
      client("editor-token-0123456789", "merge-clusters story-2 story-1", &out),
      0);
  EXPECT_THAT(out, HasSubstr("--reason is required"));
  ASSERT_NE(client("editor-token-0123456789",
                   "merge-clusters story-1 story-1 --reason oops", &out),
            0);
  EXPECT_THAT(out, HasSubstr("INVALID_ARGUMENT"));
  ASSERT_EQ(
      client("editor-token-0123456789",
             "pin-representative story-1 s3 --reason 'best headline'", &out),
      0)
      << out;
  EXPECT_THAT(out, HasSubstr("representative s3"));
  ASSERT_EQ(client("editor-token-0123456789",
                   "split-cluster story-1 s4 --reason 'another event'", &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("(by Ana Editor: another event)"));
  EXPECT_THAT(testing::ReadFile(log), HasSubstr("editorial_action"));

  // After a restart the history and the pin are still there.
  server->Stop(SIGTERM);
  server = std::make_unique<testing::ServerProcess>();
  ASSERT_TRUE(server->Start(NEWSDEDUP_CLI_PATH, serve_args, log))
      << testing::ReadFile(log);
  ASSERT_EQ(client("reader-token-0123456789", "get-cluster story-1", &out), 0)
      << out;
  EXPECT_THAT(out, HasSubstr("EDITED pin by Ana Editor"));
  EXPECT_THAT(out, HasSubstr("(best headline)"));
  EXPECT_THAT(out, HasSubstr("EDITED split by Ana Editor"));
  ASSERT_EQ(client("reader-token-0123456789", "get-article s4 --json", &out),
            0);
  EXPECT_THAT(out, ::testing::Not(HasSubstr("\"story-1\"")));
  // Issue 37: counts read as English, neighbours show their headlines.
  std::smatch split_off;
  ASSERT_TRUE(std::regex_search(out, split_off,
                                std::regex("\"cluster_id\":\\s*\"([^\"]+)\"")))
      << out;
  ASSERT_EQ(client("reader-token-0123456789",
                   "get-cluster " + split_off[1].str(), &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("1 article from 1 source,"));
  ASSERT_EQ(client("reader-token-0123456789", "get-cluster story-2", &out), 0);
  EXPECT_THAT(out, HasSubstr("3 articles from 3 sources,"));
  ASSERT_EQ(
      client("reader-token-0123456789",
             "find-similar 'Chile tsunami warning after earthquake'", &out),
      0)
      << out;
  EXPECT_THAT(
      out,
      HasSubstr("Tsunami warning for Chile coast after strong earthquake"));
  server->Stop(SIGTERM);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace newsdedup
