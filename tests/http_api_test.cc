// The /v1/ JSON API end to end over loopback: a real DedupServer and HTTP
// server on two engines, one fed over gRPC and one over HTTP; the
// OpenAPI document against the routes the server serves.
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "services/api/api_messages.h"
#include "services/engine/state_digest.h"
#include "services/server/dedup_server.h"
#include "services/server/ops_http_server.h"
#include "services/server/prometheus_registry.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;

// The stories fixture, then what an ingest pipeline also sends: an exact
// copy under a new id, a new version of an article, a resend, and one the
// API refuses.
v1::AssignBatchRequest Batch() {
  v1::AssignBatchRequest batch;
  for (const Article& a : testing::LoadStoriesFixture().articles) {
    ToProto(a, batch.add_articles());
  }
  v1::Article copy = batch.articles(0);
  copy.set_id("copy-of-first");
  *batch.add_articles() = copy;
  v1::Article update = batch.articles(1);
  update.set_title(update.title() + " (updated)");
  *batch.add_articles() = update;
  *batch.add_articles() = batch.articles(2);
  batch.add_articles()->set_id("no-title");
  return batch;
}

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc_engine_ = testing::MakeEngine();
    http_engine_ = testing::MakeEngine();
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    auto grpc_server = DedupServer::Start(options, grpc_engine_.get());
    ASSERT_TRUE(grpc_server.ok()) << grpc_server.status();
    grpc_server_ = *std::move(grpc_server);
    auto http =
        OpsHttpServer::Start("127.0.0.1", 0, http_engine_.get(), &metrics_);
    ASSERT_TRUE(http.ok()) << http.status();
    http_ = *std::move(http);
  }

  httplib::Client Http() const {
    httplib::Client client("127.0.0.1", http_->port());
    client.set_read_timeout(30, 0);
    return client;
  }

  std::unique_ptr<ClusteringEngine> grpc_engine_;
  std::unique_ptr<ClusteringEngine> http_engine_;
  std::unique_ptr<DedupServer> grpc_server_;
  PrometheusRegistry metrics_;
  std::unique_ptr<OpsHttpServer> http_;
};

// Issue 36: the same file over gRPC and over POST /v1/articles:batchAssign
// gives identical answers and equal state digests.
TEST_F(HttpApiTest, BatchAssignOverHttpAnswersAsGrpcDoes) {
  const v1::AssignBatchRequest batch = Batch();
  auto stub = v1::DedupService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_server_->port()),
                          grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::AssignBatchResponse over_grpc;
  ASSERT_TRUE(stub->AssignBatch(&context, batch, &over_grpc).ok());

  auto res = Http().Post("/v1/articles:batchAssign", ApiJson(batch),
                         "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  v1::AssignBatchResponse over_http;
  ASSERT_TRUE(FromApiJson(res->body, &over_http).ok()) << res->body;

  ASSERT_EQ(over_http.results_size(), batch.articles_size());
  std::string differences;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differ.Compare(over_grpc, over_http)) << differences;
  // The refused article is refused alike (compared above), naming the
  // field.
  EXPECT_THAT(over_http.results(batch.articles_size() - 1).error().message(),
              HasSubstr("article.title"));
  EXPECT_EQ(ComputeStateDigest(*http_engine_).Hex(),
            ComputeStateDigest(*grpc_engine_).Hex());
}

// One article, and articles one JSON object per line: the answers of
// Assign, in order, an error answering its own line alone.
TEST_F(HttpApiTest, AssignAndStreamAssignAnswerEachArticle) {
  httplib::Client http = Http();
  auto one = http.Post(
      "/v1/articles:assign",
      R"({"article": {"id": "a1", "title": "Putin and Trump summit in Budapest is on hold"}})",
      "application/json");
  ASSERT_TRUE(one);
  ASSERT_EQ(one->status, 200) << one->body;
  v1::AssignResponse first;
  ASSERT_TRUE(FromApiJson(one->body, &first).ok());
  EXPECT_EQ(first.relation(), v1::NEW_STORY);

  const std::string lines =
      R"({"article": {"id": "a2", "title": "Trump and Putin put their Budapest summit on hold"}})"
      "\n\nnot json\n"
      R"({"article": {"id": "a3", "title": "Central bank raises interest rates"}})"
      "\n";
  auto stream =
      http.Post("/v1/articles:streamAssign", lines, "application/x-ndjson");
  ASSERT_TRUE(stream);
  ASSERT_EQ(stream->status, 200) << stream->body;
  EXPECT_EQ(stream->get_header_value("Content-Type"), "application/x-ndjson");
  std::vector<v1::AssignStreamResponse> answers;
  for (absl::string_view line :
       absl::StrSplit(stream->body, '\n', absl::SkipEmpty())) {
    ASSERT_TRUE(FromApiJson(line, &answers.emplace_back()).ok()) << line;
  }
  ASSERT_EQ(answers.size(), 3u) << stream->body;
  EXPECT_EQ(answers[0].article_id(), "a2");
  EXPECT_EQ(answers[0].result().answer().cluster_id(), first.cluster_id());
  EXPECT_THAT(answers[1].result().error().message(), HasSubstr("line 3"));
  EXPECT_EQ(answers[2].article_id(), "a3");
  EXPECT_EQ(answers[2].result().answer().relation(), v1::NEW_STORY);

  // The JSON API's own content types only.
  auto plain = http.Post("/v1/articles:streamAssign", lines, "text/plain");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 400);
  EXPECT_THAT(plain->body, HasSubstr("application/x-ndjson"));

  // Taken down, the article is gone; a path no route serves is a JSON 404.
  auto taken_down = http.Delete("/v1/articles/a3");
  ASSERT_TRUE(taken_down);
  EXPECT_EQ(taken_down->status, 200) << taken_down->body;
  EXPECT_EQ(http.Get("/v1/articles/a3")->status, 404);
  auto nothing = http.Get("/v1/nothing");
  ASSERT_TRUE(nothing);
  EXPECT_EQ(nothing->status, 404);
  EXPECT_THAT(nothing->body, HasSubstr("/openapi.json"));
  // Unknown query parameters are refused by name (AIP-127).
  auto csv = http.Get("/v1/clusters?format=csv");
  ASSERT_TRUE(csv);
  EXPECT_EQ(csv->status, 400);
  EXPECT_THAT(csv->body, HasSubstr("format: unknown query parameter"));
}

// Issue 36: /openapi.json documents the routes the server really serves:
// each documented operation is answered by its route (an answer or an
// error of the call, never "no route"), the dashboard's routes are among
// them, and a path it does not document has no route.
TEST_F(HttpApiTest, TheOpenApiDocumentListsTheRoutesServed) {
  httplib::Client http = Http();
  auto res = http.Get("/openapi.json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  const nlohmann::json document = nlohmann::json::parse(res->body);
  EXPECT_EQ(document["openapi"], "3.0.3");
  const nlohmann::json& schemas = document["components"]["schemas"];
  int operations = 0;
  for (const auto& [path, item] : document["paths"].items()) {
    for (const auto& [method, operation] : item.items()) {
      ++operations;
      const std::string concrete =
          std::regex_replace(path, std::regex("\\{[a-z_]+\\}"), "x");
      std::string type = "application/json";
      if (operation.contains("requestBody")) {
        const auto& content = operation["requestBody"]["content"];
        type = content.begin().key();
        const std::string ref = content.begin().value()["schema"]["$ref"];
        EXPECT_TRUE(schemas.contains(ref.substr(ref.rfind('/') + 1))) << ref;
      }
      // An event stream never ends: asked for a bad cursor, it answers
      // at once.
      const bool stream = operation["responses"]["200"]["content"].contains(
          "text/event-stream");
      httplib::Result answer = stream ? http.Get(concrete + "?after_cursor=x")
                               : method == "get" ? http.Get(concrete)
                               : method == "delete"
                                   ? http.Delete(concrete)
                                   : http.Post(concrete, "{}", type);
      ASSERT_TRUE(answer) << method << " " << path;
      EXPECT_THAT(answer->body, ::testing::Not(HasSubstr("no route")))
          << method << " " << path;
    }
  }
  EXPECT_EQ(operations, 23);  // 22 paths, one with GET and DELETE
  for (const char* dashboard :
       {"/api/clusters", "/api/clusters/{cluster_id}", "/api/search",
        "/api/articles/{article_id}", "/api/clusters/{cluster_id}/merge"}) {
    EXPECT_TRUE(document["paths"].contains(dashboard)) << dashboard;
  }
  EXPECT_EQ(
      schemas["newsdedup.v1.AssignResponse"]["properties"]["relation"]["type"],
      "string");
  auto undocumented =
      http.Post("/v1/articles:undocumented", "{}", "application/json");
  ASSERT_TRUE(undocumented);
  EXPECT_EQ(undocumented->status, 404);
  EXPECT_THAT(undocumented->body, HasSubstr("no route"));
}

}  // namespace
}  // namespace newsdedup
