// Loopback integration tests of the gRPC service: a real DedupServer on
// 127.0.0.1 with a real engine (and so a real sentencepiece model in the
// same process as gRPC and protobuf), called through a real channel.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "services/server/dedup_server.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;

v1::Article MakeProtoArticle(const std::string& id, const std::string& title,
                             const std::string& body = "", int64_t seconds = 0,
                             const std::string& source = "") {
  v1::Article a;
  a.set_id(id);
  a.set_title(title);
  a.set_body(body);
  a.set_source(source);
  if (seconds > 0) a.mutable_published()->set_seconds(seconds);
  return a;
}

class GrpcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(ServerOptions()); }

  void StartServer(ServerOptions options) {
    options.listen_address = "127.0.0.1:0";
    engine_ = testing::MakeEngine();
    auto server = DedupServer::Start(options, engine_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::DedupService::NewStub(channel_);
  }

  static void SetDeadline(grpc::ClientContext* context, int ms = 10000) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(ms));
  }

  grpc::Status Assign(const v1::Article& article,
                      v1::AssignResponse* response) {
    v1::AssignRequest request;
    *request.mutable_article() = article;
    grpc::ClientContext context;
    SetDeadline(&context);
    return stub_->Assign(&context, request, response);
  }

  std::unique_ptr<ClusteringEngine> engine_;
  std::unique_ptr<DedupServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::DedupService::Stub> stub_;
};

TEST_F(GrpcServiceTest, AssignAnswersAndExplains) {
  v1::AssignResponse first, copy;
  ASSERT_TRUE(Assign(MakeProtoArticle("a1",
                                      "Trump says Budapest summit with "
                                      "Putin is on hold",
                                      "", 1761120000, "Wire A"),
                     &first)
                  .ok());
  EXPECT_EQ(first.article_id(), "a1");
  EXPECT_EQ(first.relation(), v1::NEW_STORY);
  EXPECT_FALSE(first.cluster_id().empty());
  EXPECT_EQ(first.representative_id(), "a1");
  EXPECT_EQ(first.cluster_size(), 1);

  ASSERT_TRUE(Assign(MakeProtoArticle("a2",
                                      "TRUMP says Budapest summit with "
                                      "Putin is on hold",
                                      "", 1761120600, "Paper B"),
                     &copy)
                  .ok());
  EXPECT_EQ(copy.relation(), v1::EXACT_DUPLICATE);
  EXPECT_EQ(copy.duplicate_of(), "a1");
  EXPECT_EQ(copy.cluster_id(), first.cluster_id());
  EXPECT_EQ(copy.cluster_size(), 2);
  EXPECT_EQ(copy.explanation().nearest_article_id(), "a1");
  EXPECT_FLOAT_EQ(copy.explanation().nearest_similarity(), 1.0f);
}

TEST_F(GrpcServiceTest, ResendIsIdempotentAndChangedContentIsANewVersion) {
  v1::AssignResponse first, again, changed;
  const v1::Article article = MakeProtoArticle("r1", "Chile earthquake");
  ASSERT_TRUE(Assign(article, &first).ok());
  ASSERT_TRUE(Assign(article, &again).ok());
  EXPECT_EQ(again.cluster_id(), first.cluster_id());
  EXPECT_EQ(again.relation(), first.relation());
  EXPECT_EQ(again.version(), 1);
  EXPECT_EQ(engine_->stats().articles, 1);
  ASSERT_TRUE(
      Assign(MakeProtoArticle("r1", "Chile earthquake: death toll rises"),
             &changed)
          .ok());
  EXPECT_EQ(changed.version(), 2);
  EXPECT_EQ(changed.cluster_id(), first.cluster_id());  // kept its story
  EXPECT_EQ(engine_->stats().articles, 1);
}

TEST_F(GrpcServiceTest, ExplanationsAreConsistentWithTheScores) {
  v1::AssignResponse answer;
  for (const auto& [id, title] :
       std::vector<std::pair<std::string, std::string>>{
           {"x1", "Trump says Budapest summit with Putin is on hold"},
           {"x2", "Chile earthquake triggers tsunami warning"},
           {"x3", "Central bank raises interest rates to fight inflation"}}) {
    ASSERT_TRUE(
        Assign(MakeProtoArticle(id, title, "", 1761120000), &answer).ok());
  }
  ASSERT_TRUE(Assign(MakeProtoArticle("x4",
                                      "Budapest summit of Trump and Putin "
                                      "put on hold",
                                      "", 1761120600),
                     &answer)
                  .ok());
  ASSERT_EQ(answer.relation(), v1::SAME_STORY);
  const v1::Explanation& why = answer.explanation();
  EXPECT_EQ(why.nearest_article_id(), "x1");
  EXPECT_GE(why.cluster_similarity(), why.threshold());
  EXPECT_LT(why.nearest_similarity(), 0.85f);  // not a near duplicate
  EXPECT_FALSE(why.shared_terms().empty());
  if (!why.runner_up_cluster_id().empty()) {
    EXPECT_NE(why.runner_up_cluster_id(), answer.cluster_id());
    EXPECT_LE(why.runner_up_similarity(), why.cluster_similarity());
  }
}

TEST_F(GrpcServiceTest, FindSimilarIsADryRun) {
  v1::AssignResponse answer;
  ASSERT_TRUE(Assign(MakeProtoArticle("f1",
                                      "Chile earthquake triggers tsunami "
                                      "warning"),
                     &answer)
                  .ok());
  v1::FindSimilarRequest request;
  *request.mutable_article() =
      MakeProtoArticle("probe", "Tsunami warning after Chile earthquake");
  request.set_k(5);
  v1::FindSimilarResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  ASSERT_TRUE(stub_->FindSimilar(&context, request, &response).ok());
  ASSERT_EQ(response.neighbors_size(), 1);
  EXPECT_EQ(response.neighbors(0).article_id(), "f1");
  EXPECT_EQ(response.neighbors(0).cluster_id(), answer.cluster_id());
  EXPECT_EQ(response.would_be().cluster_id(), answer.cluster_id());
  EXPECT_EQ(response.would_be().article_id(), "probe");
  EXPECT_EQ(engine_->stats().articles, 1);

  request.set_k(-1);
  grpc::ClientContext context2;
  EXPECT_EQ(stub_->FindSimilar(&context2, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GrpcServiceTest, DeleteArticleTakesItDown) {
  v1::AssignResponse answer;
  ASSERT_TRUE(Assign(MakeProtoArticle("t1", "Chile earthquake"), &answer).ok());
  ASSERT_TRUE(
      Assign(MakeProtoArticle("t2", "Chile earthquake tsunami"), &answer).ok());
  v1::DeleteArticleRequest request;
  request.set_article_id("t1");
  v1::DeleteArticleResponse response;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->DeleteArticle(&context, request, &response).ok());
  }
  {
    grpc::ClientContext context;
    EXPECT_EQ(stub_->DeleteArticle(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  v1::GetArticleRequest get;
  get.set_article_id("t1");
  v1::GetArticleResponse article;
  grpc::ClientContext context;
  EXPECT_EQ(stub_->GetArticle(&context, get, &article).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(engine_->stats().articles, 1);
}

TEST_F(GrpcServiceTest, ValidationErrorsNameTheField) {
  v1::AssignResponse response;
  grpc::Status status = Assign(MakeProtoArticle("", "title"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("article.id"));

  status = Assign(MakeProtoArticle("e1", " ", ""), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("article.title"));

  v1::Article bad_time = MakeProtoArticle("e2", "title");
  bad_time.mutable_published()->set_nanos(-5);
  status = Assign(bad_time, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("article.published"));

  v1::AssignRequest empty;
  grpc::ClientContext context;
  status = stub_->Assign(&context, empty, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("article"));

  v1::GetClusterRequest get;
  v1::GetClusterResponse cluster;
  grpc::ClientContext context2;
  status = stub_->GetCluster(&context2, get, &cluster);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("cluster_id"));

  v1::ListClustersRequest list;
  list.set_page_size(-1);
  v1::ListClustersResponse clusters;
  grpc::ClientContext context3;
  status = stub_->ListClusters(&context3, list, &clusters);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("page_size"));

  list.set_page_size(10);
  list.set_page_token("not-a-token");
  grpc::ClientContext context4;
  status = stub_->ListClusters(&context4, list, &clusters);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("page_token"));
  EXPECT_EQ(engine_->stats().articles, 0);
}

TEST_F(GrpcServiceTest, OversizedInputIsResourceExhausted) {
  server_.reset();
  ServerOptions options;
  options.limits.max_article_bytes = 1000;
  options.limits.max_batch_size = 2;
  StartServer(options);
  v1::AssignResponse response;
  grpc::Status status = Assign(
      MakeProtoArticle("big", "title", std::string(2000, 'x')), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  v1::AssignBatchRequest batch;
  for (int i = 0; i < 3; ++i) {
    *batch.add_articles() = MakeProtoArticle(absl::StrCat("b", i), "t");
  }
  v1::AssignBatchResponse answers;
  grpc::ClientContext context;
  status = stub_->AssignBatch(&context, batch, &answers);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(engine_->stats().articles, 0);
}

TEST_F(GrpcServiceTest, MessagesOverTheTransportLimitAreRejected) {
  server_.reset();
  ServerOptions options;
  options.max_message_bytes = 64 * 1024;
  StartServer(options);
  v1::AssignResponse response;
  const grpc::Status status =
      Assign(MakeProtoArticle("huge", "title", std::string(200 * 1024, 'x')),
             &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(GrpcServiceTest, BatchAnswersEachArticleInOrder) {
  v1::AssignBatchRequest batch;
  *batch.add_articles() = MakeProtoArticle("k1", "Central bank raises rates");
  *batch.add_articles() = MakeProtoArticle("", "no id");
  *batch.add_articles() = MakeProtoArticle("k3", "Central bank raises rates");
  v1::AssignBatchResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  ASSERT_TRUE(stub_->AssignBatch(&context, batch, &response).ok());
  ASSERT_EQ(response.results_size(), 3);
  EXPECT_EQ(response.results(0).answer().article_id(), "k1");
  EXPECT_EQ(response.results(1).error().code(),
            static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(response.results(2).answer().relation(), v1::EXACT_DUPLICATE);
  EXPECT_EQ(response.results(2).answer().duplicate_of(), "k1");
}

TEST_F(GrpcServiceTest, ConcurrentStreamsAnswerEveryArticleInOrder) {
  constexpr int kClients = 4;
  constexpr int kPerClient = 150;
  const std::vector<std::string> topics = {
      "Trump Putin Budapest summit on hold", "Chile earthquake tsunami warning",
      "Central bank raises interest rates", "Real Madrid beat Juventus"};
  std::vector<std::vector<std::string>> answered(kClients);
  std::vector<grpc::Status> finished(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      grpc::ClientContext context;
      SetDeadline(&context, 60000);
      auto stream = stub_->AssignStream(&context);
      std::thread writer([&] {
        for (int i = 0; i < kPerClient; ++i) {
          v1::AssignRequest request;
          // Every tenth article is invalid: its error must come back in place.
          *request.mutable_article() = MakeProtoArticle(
              i % 10 == 9 ? "" : absl::StrCat("c", c, "-", i),
              absl::StrCat(topics[i % topics.size()], " report ", i), "",
              1761120000 + i * 60);
          stream->Write(request);
        }
        stream->WritesDone();
      });
      v1::AssignStreamResponse response;
      while (stream->Read(&response)) {
        answered[c].push_back(response.result().has_answer()
                                  ? response.result().answer().article_id()
                                  : "error");
      }
      writer.join();
      finished[c] = stream->Finish();
    });
  }
  for (auto& t : clients) t.join();
  std::set<std::string> all;
  for (int c = 0; c < kClients; ++c) {
    ASSERT_TRUE(finished[c].ok()) << finished[c].error_message();
    ASSERT_EQ(answered[c].size(), static_cast<size_t>(kPerClient));
    for (int i = 0; i < kPerClient; ++i) {
      EXPECT_EQ(answered[c][i],
                i % 10 == 9 ? "error" : absl::StrCat("c", c, "-", i));
      if (i % 10 != 9) all.insert(answered[c][i]);
    }
  }
  EXPECT_EQ(engine_->stats().articles, static_cast<int64_t>(all.size()));
}

TEST_F(GrpcServiceTest, StreamToASlowReaderLosesNothing) {
  // The client sends far more than the server keeps pending (64 answers)
  // before it reads anything: the server must pause reading, then resume
  // as answers drain, and still answer every request in order.
  constexpr int kArticles = 400;
  grpc::ClientContext context;
  SetDeadline(&context, 60000);
  auto stream = stub_->AssignStream(&context);
  std::thread writer([&] {
    for (int i = 0; i < kArticles; ++i) {
      v1::AssignRequest request;
      *request.mutable_article() =
          MakeProtoArticle(absl::StrCat("slow-", i),
                           absl::StrCat("Harbour bridge repairs day ", i), "",
                           1761120000 + i * 60);
      if (!stream->Write(request)) return;
    }
    stream->WritesDone();
  });
  absl::SleepFor(absl::Milliseconds(500));
  std::vector<std::string> answered;
  v1::AssignStreamResponse response;
  while (stream->Read(&response)) answered.push_back(response.article_id());
  writer.join();
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_EQ(answered.size(), static_cast<size_t>(kArticles));
  for (int i = 0; i < kArticles; ++i) {
    EXPECT_EQ(answered[i], absl::StrCat("slow-", i));
  }
}

TEST_F(GrpcServiceTest, GetClusterPagesMembersAndGetArticleResolves) {
  v1::AssignResponse answer;
  std::string cluster_id;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Assign(MakeProtoArticle(absl::StrCat("m", i),
                                        "Budapest summit between Trump and "
                                        "Putin on hold",
                                        "", 1761120000 + i * 600,
                                        i % 2 ? "Wire A" : "Paper B"),
                       &answer)
                    .ok());
    if (i == 0) cluster_id = answer.cluster_id();
  }
  v1::GetClusterRequest request;
  request.set_cluster_id(cluster_id);
  request.set_page_size(2);
  std::vector<std::string> members;
  for (int page = 0; page < 5; ++page) {
    v1::GetClusterResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    ASSERT_TRUE(stub_->GetCluster(&context, request, &response).ok());
    EXPECT_EQ(response.cluster().size(), 5);
    EXPECT_EQ(response.cluster().num_sources(), 2);
    EXPECT_EQ(response.cluster().representative_id(), "m0");
    EXPECT_EQ(response.cluster().first_seen().seconds(), 1761120000);
    EXPECT_EQ(response.cluster().last_seen().seconds(), 1761120000 + 4 * 600);
    ASSERT_GE(response.cluster().history_size(), 1);
    EXPECT_EQ(response.cluster().history(0).kind(), v1::ClusterEvent::CREATED);
    EXPECT_EQ(response.cluster().history(0).article_id(), "m0");
    for (const auto& m : response.members()) members.push_back(m.article_id());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(members, (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4"}));

  v1::GetArticleRequest get;
  get.set_article_id("m3");
  v1::GetArticleResponse article;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->GetArticle(&context, get, &article).ok());
  EXPECT_EQ(article.assignment().cluster_id(), cluster_id);
  EXPECT_EQ(article.assignment().relation(), v1::EXACT_DUPLICATE);
  // Issue 13: the story as it is now, not as it was when m0 arrived.
  get.set_article_id("m0");
  grpc::ClientContext first_context;
  ASSERT_TRUE(stub_->GetArticle(&first_context, get, &article).ok());
  EXPECT_EQ(article.assignment().cluster_size(), 5);
  EXPECT_EQ(article.assignment().representative_id(), "m0");
  EXPECT_EQ(article.assignment().representative_title(),
            "Budapest summit between Trump and Putin on hold");

  get.set_article_id("nope");
  grpc::ClientContext context2;
  EXPECT_EQ(stub_->GetArticle(&context2, get, &article).error_code(),
            grpc::StatusCode::NOT_FOUND);
  request.set_cluster_id("story-999");
  request.clear_page_token();
  v1::GetClusterResponse missing;
  grpc::ClientContext context3;
  EXPECT_EQ(stub_->GetCluster(&context3, request, &missing).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServiceTest, ListClustersSortsFiltersAndPages) {
  v1::AssignResponse answer;
  // Story A: three articles early; story B: one article later.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Assign(MakeProtoArticle(absl::StrCat("a", i),
                                        "Chile earthquake tsunami warning", "",
                                        1761120000 + i),
                       &answer)
                    .ok());
  }
  ASSERT_TRUE(Assign(MakeProtoArticle("b0",
                                      "Real Madrid beat Juventus in "
                                      "Champions League",
                                      "", 1761130000),
                     &answer)
                  .ok());
  v1::ListClustersRequest request;
  v1::ListClustersResponse response;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListClusters(&context, request, &response).ok());
    ASSERT_EQ(response.total(), 2);
    EXPECT_EQ(response.clusters(0).size(), 3);  // largest first
  }
  request.set_sort_by(v1::ListClustersRequest::LAST_UPDATE);
  request.set_page_size(1);
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListClusters(&context, request, &response).ok());
    ASSERT_EQ(response.clusters_size(), 1);
    EXPECT_EQ(response.clusters(0).representative_id(), "b0");  // newest first
    EXPECT_FALSE(response.next_page_token().empty());
    EXPECT_NE(response.next_page_token(), "1");  // opaque, not an offset
  }
  {
    // Issue 37 (AIP-158): a token serves the query that made it; with
    // another sort order it used to keep the old one without a word.
    v1::ListClustersRequest other = request;
    other.set_sort_by(v1::ListClustersRequest::SIZE);
    other.set_page_token(response.next_page_token());
    v1::ListClustersResponse refused;
    grpc::ClientContext refused_context;
    const grpc::Status status =
        stub_->ListClusters(&refused_context, other, &refused);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("other parameters"));
  }
  {
    v1::ListClustersRequest next = request;
    next.set_page_token(response.next_page_token());
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListClusters(&context, next, &response).ok());
    ASSERT_EQ(response.clusters_size(), 1);
    EXPECT_EQ(response.clusters(0).representative_id(), "a0");
    EXPECT_TRUE(response.next_page_token().empty());
  }
  // updated_since lists the stories that changed since (issue 36.2), not
  // those whose newest article was published since: a backfilled article,
  // published before all the others, grows story A, listed alone.
  const absl::Time before_backfill = absl::Now();
  absl::SleepFor(absl::Milliseconds(2));
  ASSERT_TRUE(Assign(MakeProtoArticle("a9", "Chile earthquake tsunami warning",
                                      "", 1761100000),
                     &answer)
                  .ok());
  const std::string story_a = answer.cluster_id();
  request.mutable_updated_since()->set_seconds(
      absl::ToUnixSeconds(before_backfill));
  request.mutable_updated_since()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(
          before_backfill -
          absl::FromUnixSeconds(absl::ToUnixSeconds(before_backfill)))));
  request.set_page_size(10);
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListClusters(&context, request, &response).ok());
    ASSERT_EQ(response.total(), 1);
    EXPECT_EQ(response.clusters(0).cluster_id(), story_a);
    EXPECT_GE(response.clusters(0).last_changed().seconds(),
              absl::ToUnixSeconds(before_backfill));
    EXPECT_TRUE(response.next_page_token().empty());
  }
  // Story C: two articles 30 hours later, the only growth in the last day.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(Assign(MakeProtoArticle(absl::StrCat("c", i),
                                        "Central bank raises interest rates",
                                        "", 1761130000 + 30 * 3600 + i),
                       &answer)
                    .ok());
  }
  request.clear_updated_since();
  request.set_sort_by(v1::ListClustersRequest::RECENT_GROWTH);
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListClusters(&context, request, &response).ok());
    ASSERT_EQ(response.clusters_size(), 3);
    EXPECT_EQ(response.clusters(0).representative_id(), "c0");
    EXPECT_EQ(response.clusters(0).recent_articles(), 2);
    EXPECT_EQ(response.clusters(1).recent_articles(), 0);
    EXPECT_EQ(response.clusters(1).size(), 4);  // ties: larger first (A)
  }
}

TEST_F(GrpcServiceTest, AnswersNameTheThreadAndListClustersFiltersByIt) {
  v1::AssignResponse answer;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Assign(MakeProtoArticle(absl::StrCat("a", i),
                                        "Chile earthquake tsunami warning", "",
                                        1761120000 + i),
                       &answer)
                    .ok());
  }
  const std::string thread = answer.thread_id();
  EXPECT_FALSE(thread.empty());
  ASSERT_TRUE(Assign(MakeProtoArticle("b0",
                                      "Real Madrid beat Juventus in "
                                      "Champions League",
                                      "", 1761130000),
                     &answer)
                  .ok());
  EXPECT_NE(answer.thread_id(), thread);
  // An editor's split leaves two stories in one thread.
  EditorialAction split;
  split.kind = EditorialAction::Kind::kSplitCluster;
  split.cluster_id = *engine_->ClusterOfArticle("a0");
  split.article_ids = {"a2"};
  split.editor = "Ana Editor";
  split.reason = "two quakes";
  ASSERT_TRUE(engine_->Edit(split).ok());

  v1::ListClustersRequest request;
  request.set_thread_id(thread);
  v1::ListClustersResponse response;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListClusters(&context, request, &response).ok());
    EXPECT_EQ(response.total(), 2);
    ASSERT_EQ(response.clusters_size(), 2);
    for (const v1::ClusterSummary& c : response.clusters()) {
      EXPECT_EQ(c.thread_id(), thread);
    }
  }
  for (const char* unknown : {"thread-99", "story-1"}) {
    request.set_thread_id(unknown);
    grpc::ClientContext context;
    const grpc::Status status =
        stub_->ListClusters(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << unknown;
  }
}

TEST_F(GrpcServiceTest, HealthIsServingUntilShutdown) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  ASSERT_TRUE(health->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  server_->Shutdown();
  v1::AssignResponse answer;
  const grpc::Status status =
      Assign(MakeProtoArticle("late", "too late"), &answer);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

// Issue 13: reflection answers on grpc.reflection.v1 (what grpcurl asks
// first), not only on v1alpha.
TEST_F(GrpcServiceTest, ReflectionV1ListsServicesAndDescribesThem) {
  namespace reflection = grpc::reflection::v1;
  auto stub = reflection::ServerReflection::NewStub(channel_);
  grpc::ClientContext context;
  SetDeadline(&context);
  auto stream = stub->ServerReflectionInfo(&context);
  reflection::ServerReflectionRequest request;
  reflection::ServerReflectionResponse response;

  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> names;
  for (const auto& service : response.list_services_response().service()) {
    names.push_back(service.name());
  }
  EXPECT_THAT(names, ::testing::IsSupersetOf(
                         {"newsdedup.v1.DedupService", "grpc.health.v1.Health",
                          "grpc.reflection.v1.ServerReflection"}));

  request.set_file_containing_symbol("newsdedup.v1.DedupService.Assign");
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_TRUE(response.has_file_descriptor_response());
  std::vector<std::string> files;
  for (const std::string& bytes :
       response.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(bytes));
    files.push_back(file.name());
  }
  EXPECT_THAT(files,
              ::testing::IsSupersetOf({"newsdedup/v1/dedup.proto",
                                       "google/protobuf/timestamp.proto"}));

  request.set_file_containing_symbol("newsdedup.v1.NoSuchThing");
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.error_response().error_code(),
            static_cast<int>(grpc::StatusCode::NOT_FOUND));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GrpcServiceTest, ShutdownLetsOpenStreamsFinish) {
  grpc::ClientContext context;
  SetDeadline(&context, 30000);
  auto stream = stub_->AssignStream(&context);
  v1::AssignRequest request;
  *request.mutable_article() = MakeProtoArticle("s1", "Chile earthquake");
  ASSERT_TRUE(stream->Write(request));
  v1::AssignStreamResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.result().answer().article_id(), "s1");

  std::thread shutdown([&] { server_->Shutdown(); });
  // Wait until the server refuses new calls (re-sending s1 is idempotent).
  grpc::Status unary;
  for (int i = 0; i < 500; ++i) {
    v1::AssignResponse ignored;
    unary = Assign(MakeProtoArticle("s1", "Chile earthquake"), &ignored);
    if (unary.error_code() == grpc::StatusCode::UNAVAILABLE) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(unary.error_code(), grpc::StatusCode::UNAVAILABLE);
  // The stream opened before the shutdown is still served.
  *request.mutable_article() =
      MakeProtoArticle("s2", "Chile earthquake aftershock");
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.result().answer().article_id(), "s2");
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  shutdown.join();
  EXPECT_EQ(engine_->stats().articles, 2);
}

TEST_F(GrpcServiceTest, ExpiredDeadlineIsDeadlineExceeded) {
  v1::AssignRequest request;
  *request.mutable_article() = MakeProtoArticle("d1", "Chile earthquake");
  v1::AssignResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() -
                       std::chrono::milliseconds(1));
  EXPECT_EQ(stub_->Assign(&context, request, &response).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
}

// Issue 12.8: the server went on assigning ~23 s after the client had
// gone. A cancelled stream stops being read at once.
TEST_F(GrpcServiceTest, CancelledStreamStopsTheWork) {
  grpc::ClientContext context;
  auto stream = stub_->AssignStream(&context);
  std::thread writer([&] {
    for (int n = 0; n < 5000; ++n) {
      v1::AssignRequest request;
      *request.mutable_article() = MakeProtoArticle(
          absl::StrCat("c", n), absl::StrCat("Harbour bridge closes ", n),
          std::string(4000, 'b'));
      if (!stream->Write(request)) return;
    }
    stream->WritesDone();
  });
  v1::AssignStreamResponse response;
  ASSERT_TRUE(stream->Read(&response));
  context.TryCancel();
  writer.join();
  absl::SleepFor(absl::Milliseconds(300));
  const int64_t after_cancel = engine_->stats().articles;
  absl::SleepFor(absl::Milliseconds(700));
  EXPECT_EQ(engine_->stats().articles, after_cancel) << "still working";
  EXPECT_LT(after_cancel, 5000);
}

// A stream cancelled while a request it had already sent was being read
// was never finished: the server's reactor returned without calling Finish,
// so the call never ended and the server's shutdown waited for it for good
// (seen once in a dozen suite runs, as CancelledStreamStopsTheWork hanging
// in its teardown). Many streams cancelled at different points must all
// end, and the server then stops within its grace.
TEST_F(GrpcServiceTest, EveryCancelledStreamEndsAndTheServerStops) {
  for (int s = 0; s < 24; ++s) {
    grpc::ClientContext context;
    auto stream = stub_->AssignStream(&context);
    std::thread writer([&] {
      for (int n = 0; n < 2000; ++n) {
        v1::AssignRequest request;
        *request.mutable_article() =
            MakeProtoArticle(absl::StrCat("s", s, "-", n),
                             absl::StrCat("Harbour bridge closes ", s, " ", n));
        if (!stream->Write(request)) return;
      }
      stream->WritesDone();
    });
    v1::AssignStreamResponse response;
    for (int read = 0; read <= s % 4; ++read) {
      ASSERT_TRUE(stream->Read(&response));
    }
    context.TryCancel();
    writer.join();
    stream->Finish().IgnoreError();
  }
  absl::Notification stopped;
  std::thread stopper([&] {
    server_->Shutdown();
    stopped.Notify();
  });
  // The grace is 10 s, after which every call still open is cancelled; a
  // call its reactor never finishes holds the shutdown for good.
  if (!stopped.WaitForNotificationWithTimeout(absl::Seconds(60))) {
    std::fprintf(stderr,
                 "FAILED: the server did not stop within 60 s: a cancelled "
                 "stream was never finished\n");
    std::fflush(stderr);
    std::_Exit(1);  // the blocked shutdown cannot be undone
  }
  stopper.join();
}

// A batch whose deadline passes is not worked through to the end, and the
// answer says what was stored.
TEST_F(GrpcServiceTest, ExpiredBatchStopsBetweenChunks) {
  v1::AssignBatchRequest request;
  for (int n = 0; n < 1000; ++n) {
    *request.add_articles() = MakeProtoArticle(
        absl::StrCat("b", n), absl::StrCat("Harbour bridge closes ", n),
        std::string(4000, 'b'));
  }
  grpc::ClientContext context;
  SetDeadline(&context, 30);
  v1::AssignBatchResponse response;
  const grpc::Status status = stub_->AssignBatch(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  absl::SleepFor(absl::Milliseconds(500));  // the server notices between chunks
  EXPECT_LT(engine_->stats().articles, 1000);
}

// Issue 13: page tokens were offsets into a list re-sorted at every call,
// so a story that grew between two pages was shown twice (or skipped).
TEST_F(GrpcServiceTest, PagesNeitherSkipNorRepeatWhileStoriesChange) {
  v1::AssignResponse answer;
  const std::vector<std::string> headlines = {
      "Chile earthquake tsunami warning",   "Real Madrid beat Juventus",
      "Central bank raises interest rates", "Volcano erupts in Iceland",
      "Apple unveils new iPhone",           "Floods hit northern Italy"};
  for (size_t i = 0; i < headlines.size(); ++i) {
    // Sizes 6, 5, ..., 1: a clear order by size.
    for (size_t copy = 0; copy < headlines.size() - i; ++copy) {
      ASSERT_TRUE(Assign(MakeProtoArticle(absl::StrCat("h", i, "-", copy),
                                          headlines[i], "", 1761120000),
                         &answer)
                      .ok());
    }
  }
  v1::ListClustersRequest request;
  request.set_page_size(2);
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    v1::ListClustersResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListClusters(&context, request, &response).ok());
    for (const auto& c : response.clusters()) seen.push_back(c.cluster_id());
    if (page == 0) {
      // The smallest story grows to the top between pages.
      for (int copy = 0; copy < 10; ++copy) {
        ASSERT_TRUE(Assign(MakeProtoArticle(absl::StrCat("late-", copy),
                                            headlines.back(), "", 1761120000),
                           &answer)
                        .ok());
      }
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  std::vector<std::string> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end())
      << "a story was listed twice";
  EXPECT_EQ(seen.size(), headlines.size()) << "a story was skipped";

  // Members page the same way, and a stale or foreign token is refused.
  v1::GetClusterRequest get;
  get.set_cluster_id(seen[0]);
  get.set_page_size(2);
  std::vector<std::string> members;
  for (int page = 0; page < 10; ++page) {
    v1::GetClusterResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->GetCluster(&context, get, &response).ok());
    for (const auto& m : response.members()) members.push_back(m.article_id());
    if (response.next_page_token().empty()) break;
    get.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(members.size(), 6u);
  get.set_page_token("MQ");  // base64 of "1"
  v1::GetClusterResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub_->GetCluster(&context, get, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("page_token"));
}

}  // namespace
}  // namespace newsdedup
