// The change feed end to end over loopback: a consumer of gRPC's
// WatchClusterEvents stopped half-way and resumed from its last cursor
// across a server restart (RocksDB in a temp dir) receives every event
// exactly once, a merge as a merge; the HTTP server's Server-Sent Events
// resume from Last-Event-ID and refuse a stale cursor.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "embeddings/lexical_embedder.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "services/api/api_messages.h"
#include "services/server/dedup_server.h"
#include "services/server/ops_http_server.h"
#include "services/server/prometheus_registry.h"
#include "services/storage/rocksdb_store.h"
#include "tests/support/feed_support.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;

class FeedServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/newsdedup_feed_service_",
                        getpid());
    std::filesystem::remove_all(dir_);
    Start();
  }
  void TearDown() override {
    Stop();
    std::filesystem::remove_all(dir_);
  }

  void Start() {
    auto embedder = NewLexicalEmbedder(LexicalEmbedderOptions());
    ASSERT_TRUE(embedder.ok());
    RocksDbStoreOptions store_options;
    store_options.path = dir_;
    store_options.embedder_fingerprint = (*embedder)->fingerprint();
    auto store = OpenRocksDbStore(store_options);
    ASSERT_TRUE(store.ok()) << store.status();
    auto engine = ClusteringEngine::Create(
        EngineOptions(), *std::move(embedder), *std::move(store));
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.shutdown_grace = absl::Seconds(2);
    auto server = DedupServer::Start(options, engine_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::DedupService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  void Stop() {
    if (server_ != nullptr) {
      server_->Shutdown();
      server_->Wait();
    }
    server_.reset();
    engine_.reset();
  }

  void AssignBatch(const std::vector<Article>& articles) {
    v1::AssignBatchRequest request;
    for (const Article& a : articles) ToProto(a, request.add_articles());
    v1::AssignBatchResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    ASSERT_TRUE(stub_->AssignBatch(&context, request, &response).ok());
    for (const v1::AssignResult& r : response.results()) {
      ASSERT_FALSE(r.has_error()) << r.error().message();
    }
  }

  std::vector<v1::ClusterChangeEvent> Watch(uint64_t after, size_t count) {
    return testing::WatchEvents(stub_.get(), after, count);
  }

  static void SetDeadline(grpc::ClientContext* context) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(20));
  }

  std::string dir_;
  std::unique_ptr<ClusteringEngine> engine_;
  std::unique_ptr<DedupServer> server_;
  std::unique_ptr<v1::DedupService::Stub> stub_;
};

// Issue 36: a consumer killed half-way and resumed from its last cursor
// receives every event exactly once, across a server restart; a merge
// reaches it as a merge.
TEST_F(FeedServiceTest, AResumedConsumerGetsEveryEventOnceAcrossARestart) {
  const std::vector<Article> stories = testing::LoadStoriesFixture().articles;
  AssignBatch(stories);
  const uint64_t first_half = engine_->FeedCursor() / 2;
  ASSERT_GT(first_half, 2u);
  std::vector<v1::ClusterChangeEvent> received = Watch(0, first_half);
  ASSERT_EQ(received.size(), first_half);
  const uint64_t last = received.back().cursor();

  // While the consumer is away: an editor's merge, then a restart.
  const std::string summit = *engine_->ClusterOfArticle("s1");
  const std::string quake = *engine_->ClusterOfArticle("q1");
  v1::MergeClustersRequest merge;
  merge.set_cluster_id(quake);
  merge.set_into_cluster_id(summit);
  merge.set_reason("one story");
  v1::EditResponse edited;
  grpc::ClientContext context;
  SetDeadline(&context);
  ASSERT_TRUE(stub_->MergeClusters(&context, merge, &edited).ok());
  Stop();
  Start();
  AssignBatch({testing::MakeArticle("v1",
                                    "Volcano erupts in Iceland, "
                                    "flights halted across Europe")});

  const uint64_t newest = engine_->FeedCursor();
  std::vector<v1::ClusterChangeEvent> rest = Watch(last, newest - last);
  received.insert(received.end(), rest.begin(), rest.end());
  ASSERT_EQ(received.size(), newest);
  std::map<uint64_t, int> seen;
  bool merge_seen = false;
  for (size_t i = 0; i < received.size(); ++i) {
    EXPECT_EQ(received[i].cursor(), i + 1) << "in order, none missing";
    ++seen[received[i].cursor()];
    if (received[i].kind() == v1::ClusterChangeEvent::MERGED) {
      merge_seen = true;
      EXPECT_EQ(received[i].cluster_id(), summit);
      EXPECT_EQ(received[i].related_cluster_id(), quake);
    }
  }
  for (const auto& [cursor, times] : seen) EXPECT_EQ(times, 1) << cursor;
  EXPECT_TRUE(merge_seen);
  EXPECT_EQ(received.back().article_id(), "v1");
  EXPECT_EQ(received.back().kind(), v1::ClusterChangeEvent::CREATED);

  // ListClusters says where a consumer that resyncs watches from.
  v1::ListClustersRequest list;
  v1::ListClustersResponse clusters;
  grpc::ClientContext list_context;
  SetDeadline(&list_context);
  ASSERT_TRUE(stub_->ListClusters(&list_context, list, &clusters).ok());
  EXPECT_EQ(clusters.feed_cursor(), newest);
}

TEST_F(FeedServiceTest, AWatcherReceivesNewEventsAsTheyHappen) {
  v1::WatchClusterEventsRequest request;
  request.add_kinds(v1::ClusterChangeEvent::CREATED);
  grpc::ClientContext context;
  SetDeadline(&context);
  auto stream = stub_->WatchClusterEvents(&context, request);
  std::thread writer([this] {
    absl::SleepFor(absl::Milliseconds(100));
    AssignBatch({testing::MakeArticle("w1",
                                      "Wildfire forces evacuations "
                                      "near Athens")});
  });
  v1::ClusterChangeEvent event;
  ASSERT_TRUE(stream->Read(&event));
  EXPECT_EQ(event.article_id(), "w1");
  EXPECT_EQ(event.kind(), v1::ClusterChangeEvent::CREATED);
  writer.join();
  // A server that stops ends the stream, saying to resume.
  server_->Shutdown();
  EXPECT_FALSE(stream->Read(&event));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("resume"));
}

TEST_F(FeedServiceTest, ABadRequestIsRefused) {
  v1::WatchClusterEventsRequest request;
  request.add_kinds(static_cast<v1::ClusterChangeEvent::Kind>(42));
  grpc::ClientContext context;
  SetDeadline(&context);
  auto stream = stub_->WatchClusterEvents(&context, request);
  v1::ClusterChangeEvent event;
  EXPECT_FALSE(stream->Read(&event));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("kinds[0]"));
}

// The parsed events of a Server-Sent Events body: (id, kind, data).
struct SseEvent {
  uint64_t id = 0;
  std::string kind;
  nlohmann::json data;
};
std::vector<SseEvent> ParseSse(const std::string& body) {
  std::vector<SseEvent> events;
  for (absl::string_view block : absl::StrSplit(body, "\n\n")) {
    SseEvent event;
    bool any = false;
    for (absl::string_view line : absl::StrSplit(block, '\n')) {
      if (absl::ConsumePrefix(&line, "id: ")) {
        EXPECT_TRUE(absl::SimpleAtoi(line, &event.id));
        any = true;
      } else if (absl::ConsumePrefix(&line, "event: ")) {
        event.kind = std::string(line);
      } else if (absl::ConsumePrefix(&line, "data: ")) {
        event.data = nlohmann::json::parse(line);
      }
    }
    if (any) events.push_back(std::move(event));
  }
  return events;
}

TEST(FeedHttpTest, ServerSentEventsResumeFromLastEventId) {
  EngineOptions options;
  options.feed_events = 6;  // kept in memory: the newest 6
  auto engine = testing::MakeEngine(options);
  for (const Article& a : testing::LoadStoriesFixture().articles) {
    ASSERT_TRUE(engine->Assign(a).ok());
  }
  const uint64_t newest = engine->FeedCursor();
  ASSERT_GT(newest, 8u);
  PrometheusRegistry metrics;
  auto http = OpsHttpServer::Start("127.0.0.1", 0, engine.get(), &metrics);
  ASSERT_TRUE(http.ok()) << http.status();
  httplib::Client client("127.0.0.1", (*http)->port());
  client.set_read_timeout(20, 0);

  // Reads the stream until `count` events arrived, then hangs up: a
  // consumer that processed `count` events (of perhaps more received).
  auto read = [&](const httplib::Headers& headers, const std::string& path,
                  size_t count) {
    std::string body;
    client.Get(path.c_str(), headers, [&](const char* data, size_t length) {
      body.append(data, length);
      return ParseSse(body).size() < count;
    });
    std::vector<SseEvent> events = ParseSse(body);
    if (events.size() > count) events.resize(count);
    return events;
  };
  std::vector<SseEvent> first = read({}, "/v1/events", 2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].id, newest - 5) << "from the oldest event kept";
  EXPECT_EQ(first[0].data["cursor"], std::to_string(first[0].id));
  EXPECT_FALSE(first[0].kind.empty());
  std::vector<SseEvent> rest =
      read({{"Last-Event-ID", std::to_string(first[1].id)}}, "/v1/events", 4);
  ASSERT_EQ(rest.size(), 4u);
  EXPECT_EQ(rest[0].id, first[1].id + 1);
  EXPECT_EQ(rest[3].id, newest);

  auto stale = client.Get("/v1/events?after_cursor=1");
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 400);
  EXPECT_THAT(stale->body, HasSubstr("ListClusters"));
  auto unknown = client.Get("/v1/events?kinds=MERGE");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);
  EXPECT_THAT(unknown->body, HasSubstr("MERGED"));
  (*http)->Stop();
}

}  // namespace
}  // namespace newsdedup
