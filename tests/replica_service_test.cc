// Replicas of a replicated service over gRPC on loopback: two servers on
// one change log (the in-memory one; the NATS one is exercised by
// tools/failover_check.py). Answers carry the applied sequence, and a read
// through another replica can wait for the writer's entry.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "services/api/api_messages.h"
#include "services/replica/replicated_engine.h"
#include "services/server/dedup_server.h"
#include "services/server/ops_http_server.h"
#include "tests/support/feed_support.h"
#include "tests/support/replica_support.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

struct Replica {
  std::unique_ptr<ReplicatedEngine> engine;
  std::unique_ptr<DedupServer> server;
  std::unique_ptr<v1::DedupService::Stub> stub;

  std::unique_ptr<v1::AdminService::Stub> Admin() const {
    return v1::AdminService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server->port()),
                            grpc::InsecureChannelCredentials()));
  }
};

class ReplicaServiceTest : public ::testing::Test {
 protected:
  Replica Start() {
    Replica r;
    auto engine = testing::StartTestReplica(log_.get(), EngineOptions(),
                                            testing::FastReplicationOptions());
    EXPECT_TRUE(engine.ok()) << engine.status();
    r.engine = *std::move(engine);
    ServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.replica = r.engine.get();
    auto server = DedupServer::Start(server_options, r.engine.get());
    EXPECT_TRUE(server.ok()) << server.status();
    r.server = *std::move(server);
    r.stub = v1::DedupService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", r.server->port()),
                            grpc::InsecureChannelCredentials()));
    for (int i = 0; i < 500 && !r.engine->Writable().ok(); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    return r;
  }

  static uint64_t AppliedSequence(const grpc::ClientContext& context) {
    return Sequence(context.GetServerInitialMetadata(), kAppliedSequenceKey);
  }

  static uint64_t Sequence(
      const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
      const char* key) {
    auto it = metadata.find(key);
    uint64_t sequence = 0;
    if (it == metadata.end() ||
        !absl::SimpleAtoi(
            absl::string_view(it->second.data(), it->second.size()),
            &sequence)) {
      return 0;
    }
    return sequence;
  }

  std::unique_ptr<InMemoryLog> log_ = NewInMemoryLog();
  PrometheusRegistry metrics_;
};

TEST_F(ReplicaServiceTest, ReadYourWritesThroughAnotherReplica) {
  Replica a = Start();
  Replica b = Start();
  v1::AssignRequest request;
  request.mutable_article()->set_id("r1");
  request.mutable_article()->set_title("Volcano erupts in Iceland");
  v1::AssignResponse answer;
  grpc::ClientContext write;
  ASSERT_TRUE(a.stub->Assign(&write, request, &answer).ok());
  const uint64_t written = AppliedSequence(write);
  EXPECT_GE(written, 1u);

  // Through b, at least as new as the write.
  v1::GetArticleRequest get;
  get.set_article_id("r1");
  v1::GetArticleResponse got;
  grpc::ClientContext read;
  read.AddMetadata(kMinSequenceKey, absl::StrCat(written));
  ASSERT_TRUE(b.stub->GetArticle(&read, get, &got).ok());
  EXPECT_EQ(got.assignment().cluster_id(), answer.cluster_id());
  EXPECT_GE(AppliedSequence(read), written);

  // An entry that does not exist yet: UNAVAILABLE at the deadline.
  grpc::ClientContext future;
  future.AddMetadata(kMinSequenceKey, absl::StrCat(written + 100));
  future.set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(1000));
  const grpc::Status waited = b.stub->GetArticle(&future, get, &got);
  EXPECT_EQ(waited.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(waited.error_message().find("not yet"), std::string::npos)
      << waited.error_message();

  grpc::ClientContext bad;
  bad.AddMetadata(kMinSequenceKey, "soon");
  EXPECT_EQ(b.stub->GetArticle(&bad, get, &got).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // The HTTP JSON API does the same with a header and a query parameter.
  auto http = OpsHttpServer::Start("127.0.0.1", 0, b.engine.get(), &metrics_,
                                   b.engine.get());
  ASSERT_TRUE(http.ok()) << http.status();
  httplib::Client web("127.0.0.1", (*http)->port());
  auto fresh = web.Get(absl::StrCat("/api/articles/r1?min_sequence=", written));
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->status, 200) << fresh->body;
  EXPECT_EQ(fresh->get_header_value("X-Newsdedup-Applied-Sequence"),
            absl::StrCat(written));
  auto later = web.Get(absl::StrCat(
      "/api/articles/r1?min_sequence=", written + 100, "&timeout_ms=200"));
  ASSERT_TRUE(later);
  EXPECT_EQ(later->status, 503);
  EXPECT_NE(later->body.find("not yet"), std::string::npos) << later->body;
  auto malformed = web.Get("/api/articles/r1?min_sequence=soon");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  (*http)->Stop();

  // Both replicas report the same state digest at the same sequence.
  v1::GetStateResponse state_a, state_b;
  grpc::ClientContext ask_a, ask_b;
  ASSERT_TRUE(a.Admin()->GetState(&ask_a, {}, &state_a).ok());
  ASSERT_TRUE(b.Admin()->GetState(&ask_b, {}, &state_b).ok());
  EXPECT_TRUE(state_a.replica());
  EXPECT_EQ(state_a.applied_sequence(), written);
  EXPECT_EQ(state_b.applied_sequence(), written);
  EXPECT_EQ(state_a.articles(), 1);
  EXPECT_EQ(state_a.digest().size(), 16u);
  EXPECT_EQ(state_a.digest(), state_b.digest());
}

// Issue 37: a stream of writes ends saying how far the replica had
// applied the log (what `client assign` prints for --min-sequence), and
// no answer says the log ends before what the replica applied from it.
// Issue 36: a change feed consumer that read half from one replica and
// resumes on another, after the first went away, receives every event
// exactly once, in order; an editor's merge reaches it as a merge.
TEST_F(ReplicaServiceTest, AFeedConsumerResumesOnAnotherReplica) {
  Replica a = Start();
  Replica b = Start();
  v1::AssignBatchRequest batch;
  for (const Article& article : testing::LoadStoriesFixture().articles) {
    ToProto(article, batch.add_articles());
  }
  v1::AssignBatchResponse assigned;
  grpc::ClientContext write;
  ASSERT_TRUE(a.stub->AssignBatch(&write, batch, &assigned).ok());
  const std::string summit = assigned.results(0).answer().cluster_id();
  std::string quake;
  for (const v1::AssignResult& r : assigned.results()) {
    if (r.answer().article_id() == "q1") quake = r.answer().cluster_id();
  }
  ASSERT_FALSE(quake.empty());
  v1::MergeClustersRequest merge;
  merge.set_cluster_id(quake);
  merge.set_into_cluster_id(summit);
  merge.set_reason("one story");
  v1::EditResponse edited;
  grpc::ClientContext edit;
  ASSERT_TRUE(b.stub->MergeClusters(&edit, merge, &edited).ok());
  const uint64_t last_entry = b.engine->applied_sequence();
  ASSERT_TRUE(
      a.engine->WaitForSequence(last_entry, absl::Now() + absl::Seconds(10)));
  const uint64_t newest = a.engine->FeedCursor();
  ASSERT_EQ(b.engine->FeedCursor(), newest);

  auto watch = [](const Replica& replica, uint64_t after, uint64_t count) {
    return testing::WatchEvents(replica.stub.get(), after, count);
  };
  std::vector<v1::ClusterChangeEvent> received = watch(a, 0, newest / 2);
  ASSERT_EQ(received.size(), newest / 2);
  a.server.reset();  // the first replica goes away
  a.engine.reset();
  const std::vector<v1::ClusterChangeEvent> rest =
      watch(b, received.back().cursor(), newest - newest / 2);
  received.insert(received.end(), rest.begin(), rest.end());
  ASSERT_EQ(received.size(), newest);
  int merges = 0;
  for (size_t i = 0; i < received.size(); ++i) {
    EXPECT_EQ(received[i].cursor(), i + 1) << "once each, in order";
    if (received[i].kind() == v1::ClusterChangeEvent::MERGED) {
      ++merges;
      EXPECT_EQ(received[i].cluster_id(), summit);
      EXPECT_EQ(received[i].related_cluster_id(), quake);
    }
  }
  EXPECT_EQ(merges, 1);
}

TEST_F(ReplicaServiceTest, AStreamEndsWithTheSequenceItsWritesReached) {
  Replica a = Start();
  grpc::ClientContext context;
  auto stream = a.stub->AssignStream(&context);
  for (const char* id : {"s1", "s2", "s3"}) {
    v1::AssignRequest request;
    request.mutable_article()->set_id(id);
    request.mutable_article()->set_title(
        absl::StrCat("Volcano erupts in Iceland, report ", id));
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  v1::AssignStreamResponse response;
  int answers = 0;
  while (stream->Read(&response)) ++answers;
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(answers, 3);
  const uint64_t reached =
      Sequence(context.GetServerTrailingMetadata(), kAppliedSequenceKey);
  EXPECT_EQ(reached, a.engine->applied_sequence());
  EXPECT_GE(reached, 3u);

  for (int i = 0; i < 20; ++i) {
    v1::AssignRequest request;
    request.mutable_article()->set_id(absl::StrCat("w", i));
    request.mutable_article()->set_title(absl::StrCat("Quake count ", i));
    v1::AssignResponse answer;
    grpc::ClientContext write;
    ASSERT_TRUE(a.stub->Assign(&write, request, &answer).ok());
    const auto& metadata = write.GetServerInitialMetadata();
    EXPECT_GE(Sequence(metadata, kLogSequenceKey),
              Sequence(metadata, kAppliedSequenceKey));
  }
}

TEST_F(ReplicaServiceTest, WithoutTheLogWritesAreUnavailableReadsAnswer) {
  Replica a = Start();
  v1::AssignRequest request;
  request.mutable_article()->set_id("r1");
  request.mutable_article()->set_title("Volcano erupts in Iceland");
  v1::AssignResponse answer;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(a.stub->Assign(&context, request, &answer).ok());
  }
  {
    // A refusal of the article's content names its field.
    v1::AssignRequest empty = request;
    empty.mutable_article()->set_id("r0");
    empty.mutable_article()->set_title("");
    grpc::ClientContext context;
    const grpc::Status field = a.stub->Assign(&context, empty, &answer);
    EXPECT_EQ(field.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(field.error_message(), "article."))
        << field.error_message();
  }
  log_->SetAvailable(false);
  request.mutable_article()->set_id("r2");
  grpc::ClientContext refused;
  const grpc::Status status = a.stub->Assign(&refused, request, &answer);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  // Issue 33.5: said "article.log unavailable", as if a field were wrong.
  EXPECT_FALSE(absl::StartsWith(status.error_message(), "article."))
      << status.error_message();
  v1::GetArticleRequest get;
  get.set_article_id("r1");
  v1::GetArticleResponse got;
  grpc::ClientContext read;
  EXPECT_TRUE(a.stub->GetArticle(&read, get, &got).ok());
  get.set_article_id("r2");
  grpc::ClientContext missing;
  EXPECT_EQ(a.stub->GetArticle(&missing, get, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace newsdedup
