// Crash test of the durable server: several clients stream articles, the
// server is killed with SIGKILL at random moments, restarted on the same
// data directory, and every article a client saw acknowledged must be there
// with the same cluster id, answering a resend with the same answer.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "tests/support/server_process.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using testing::ReadFile;
using testing::ServerProcess;

constexpr int kRounds = 5;
constexpr int kClients = 3;

// What a client was told about one article.
struct Acknowledged {
  v1::Article article;
  v1::AssignResponse answer;
};

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTempDir("crash-test");
    log_ = (dir_ / "server.log").string();
    for (const Article& a : testing::LoadStoriesFixture().articles) {
      titles_.push_back(a.title);
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void StartServer() {
    ASSERT_TRUE(server_.Start(
        NEWSDEDUP_CLI_PATH,
        absl::StrCat("--data-dir ", (dir_ / "data").string()), log_))
        << ReadFile(log_);
    stub_ = v1::DedupService::NewStub(grpc::CreateChannel(
        server_.address(), grpc::InsecureChannelCredentials()));
  }

  // Article number n: a fixture headline with a running number, so that
  // articles are distinct but form a few stories.
  v1::Article MakeArticle(int n) const {
    v1::Article a;
    a.set_id(absl::StrCat("crash-", n));
    a.set_title(absl::StrCat(titles_[n % titles_.size()], " (update ", n, ")"));
    a.set_source(absl::StrCat("outlet-", n % 7));
    a.mutable_published()->set_seconds(1761120000 + n * 10);
    return a;
  }

  // One client: streams new articles until the stream breaks, recording
  // every answer it receives. At most 64 articles are unanswered at
  // a time, as a pipeline with a bounded queue would send them.
  void StreamUntilBroken() {
    struct Window {
      absl::Mutex mu;
      int in_flight ABSL_GUARDED_BY(mu) = 0;
      bool reading ABSL_GUARDED_BY(mu) = true;
      bool MaySend() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
        return in_flight < 64 || !reading;
      }
    } window;
    grpc::ClientContext context;
    auto stream = stub_->AssignStream(&context);
    std::thread writer([&] {
      while (true) {
        {
          absl::MutexLock lock(&window.mu);
          window.mu.Await(absl::Condition(&window, &Window::MaySend));
          if (!window.reading) break;
          ++window.in_flight;
        }
        const v1::Article article = MakeArticle(next_article_++);
        {
          absl::MutexLock lock(&mu_);
          sent_[article.id()] = article;
        }
        v1::AssignRequest request;
        *request.mutable_article() = article;
        if (!stream->Write(request)) break;
      }
    });
    v1::AssignStreamResponse response;
    while (stream->Read(&response)) {
      {
        absl::MutexLock lock(&window.mu);
        --window.in_flight;
      }
      if (!response.result().has_answer()) continue;
      absl::MutexLock lock(&mu_);
      acknowledged_[response.article_id()] = {sent_[response.article_id()],
                                              response.result().answer()};
    }
    {
      absl::MutexLock lock(&window.mu);
      window.reading = false;
    }
    context.TryCancel();
    writer.join();
    stream->Finish();
  }

  // The live cluster an id (possibly absorbed since) belongs to now.
  std::string LiveCluster(const std::string& cluster_id) {
    grpc::ClientContext context;
    v1::GetClusterRequest request;
    request.set_cluster_id(cluster_id);
    request.set_page_size(1);
    v1::GetClusterResponse response;
    const grpc::Status s = stub_->GetCluster(&context, request, &response);
    return s.ok() ? response.cluster().cluster_id()
                  : "error: " + s.error_message();
  }

  // Every acknowledged article is present in its cluster, and a resend
  // answers the same.
  void VerifyAcknowledged() {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, ack] : acknowledged_) {
      const std::string live = LiveCluster(ack.answer.cluster_id());
      grpc::ClientContext get_context;
      v1::GetArticleRequest get;
      get.set_article_id(id);
      v1::GetArticleResponse stored;
      ASSERT_TRUE(stub_->GetArticle(&get_context, get, &stored).ok())
          << "lost acknowledged article " << id << "; server log:\n"
          << ReadFile(log_);
      EXPECT_EQ(stored.assignment().cluster_id(), live) << id;

      grpc::ClientContext assign_context;
      v1::AssignRequest resend;
      *resend.mutable_article() = ack.article;
      v1::AssignResponse again;
      ASSERT_TRUE(stub_->Assign(&assign_context, resend, &again).ok()) << id;
      EXPECT_EQ(again.cluster_id(), live) << id;
      EXPECT_EQ(again.relation(), ack.answer.relation()) << id;
      EXPECT_EQ(again.version(), 1) << id;
    }
  }

  std::filesystem::path dir_;
  std::string log_;
  std::vector<std::string> titles_;
  ServerProcess server_;
  std::unique_ptr<v1::DedupService::Stub> stub_;
  std::atomic<int> next_article_{0};
  absl::Mutex mu_;
  std::map<std::string, v1::Article> sent_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Acknowledged> acknowledged_ ABSL_GUARDED_BY(mu_);
};

TEST_F(CrashTest, KilledServerLosesNoAcknowledgedArticle) {
  std::mt19937 rng(20261125);
  std::uniform_int_distribution<int> delay_ms(150, 900);
  size_t acknowledged_before = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    StartServer();
    VerifyAcknowledged();
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([this] { StreamUntilBroken(); });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ASSERT_EQ(WTERMSIG(server_.Stop(SIGKILL)), SIGKILL);
    for (std::thread& t : clients) t.join();
    absl::MutexLock lock(&mu_);
    // The server kept accepting work after each restart.
    EXPECT_GT(acknowledged_.size(), acknowledged_before);
    acknowledged_before = acknowledged_.size();
  }
  StartServer();
  VerifyAcknowledged();
  EXPECT_GT(acknowledged_before, 100u) << "too few articles to mean much";
  EXPECT_NE(ReadFile(log_).find("event=recovered"), std::string::npos);
  server_.Stop(SIGTERM);
}

}  // namespace
}  // namespace newsdedup
