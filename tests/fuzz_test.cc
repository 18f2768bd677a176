// Bounded random-input tests (a fuzzer run for a fixed number of inputs,
// seeded, so CI sees the same inputs every time): the JSONL reader and the
// gRPC service's request parsing and validation get mutated versions of
// valid input. Nothing may crash or hang; every input gets an answer with
// a client-error code, never INTERNAL, UNKNOWN or UNIMPLEMENTED.
//
// NEWSDEDUP_FUZZ_INPUTS=N runs N inputs per target instead of the default
// (for a longer run by hand).
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <future>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "services/server/dedup_server.h"
#include "tests/support/test_articles.h"
#include "tools/article_jsonl.h"

namespace newsdedup {
namespace {

int Inputs(int default_count) {
  const char* n = std::getenv("NEWSDEDUP_FUZZ_INPUTS");
  return n != nullptr && std::atoi(n) > 0 ? std::atoi(n) : default_count;
}

// Byte-level mutations of `seed`, in the manner of libFuzzer's: flips,
// random bytes, truncation, duplication of a slice, bytes that are not
// UTF-8, and splices of two seeds.
class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  std::string Mutate(const std::vector<std::string>& seeds) {
    std::string s = seeds[Below(seeds.size())];
    const int rounds = 1 + static_cast<int>(Below(4));
    for (int r = 0; r < rounds; ++r) {
      switch (Below(7)) {
        case 0:  // flip a bit
          if (!s.empty()) s[Below(s.size())] ^= 1 << Below(8);
          break;
        case 1:  // a random byte somewhere
          s.insert(s.begin() + Below(s.size() + 1),
                   static_cast<char>(Below(256)));
          break;
        case 2:  // truncate
          s.resize(Below(s.size() + 1));
          break;
        case 3: {  // duplicate a slice
          if (s.empty()) break;
          const size_t from = Below(s.size());
          const size_t length =
              Below(std::min<size_t>(64, s.size() - from)) + 1;
          s.insert(Below(s.size() + 1), s.substr(from, length));
          break;
        }
        case 4:  // bytes that are never valid UTF-8
          s.insert(Below(s.size() + 1), Below(2) ? "\xff\xfe" : "\xc3");
          break;
        case 5: {  // splice another seed
          const std::string& other = seeds[Below(seeds.size())];
          s = s.substr(0, Below(s.size() + 1)) +
              other.substr(Below(other.size() + 1));
          break;
        }
        default:  // overwrite a byte with a structural one
          if (!s.empty()) s[Below(s.size())] = "{}[]\",:\\\0\n"[Below(11)];
          break;
      }
    }
    return s;
  }

 private:
  size_t Below(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }
  std::mt19937 rng_;
};

TEST(FuzzTest, JsonlReaderNeverCrashesAndExplainsEveryRejection) {
  std::vector<std::string> seeds;
  std::istringstream fixture(testing::StoriesJsonl());
  for (std::string line; std::getline(fixture, line);) seeds.push_back(line);
  seeds.push_back(
      "{\"id\": 7, \"title\": [1, 2], \"published\": \"yesterday\"}");
  seeds.push_back(
      "{\"id\": \"x\", \"title\": \"\\ud800\", \"published\": 1e400}");
  Mutator mutator(20261201);
  int accepted = 0;
  const int n = Inputs(20000);
  for (int i = 0; i < n; ++i) {
    const std::string line = mutator.Mutate(seeds);
    absl::StatusOr<ParsedArticle> parsed = ParseArticleLine(line);
    if (parsed.ok()) {
      ++accepted;
      EXPECT_FALSE(parsed->article.id.empty()) << line;
    } else {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
          << line;
      EXPECT_FALSE(parsed.status().message().empty()) << line;
    }
  }
  // Whole streams, with the mutated lines' newlines and NULs.
  std::string stream;
  for (int i = 0; i < 2000; ++i)
    absl::StrAppend(&stream, mutator.Mutate(seeds), "\n");
  std::istringstream in(stream);
  int lines = 0;
  ForEachArticleLine(in,
                     [&](int64_t, absl::StatusOr<ParsedArticle>) { ++lines; });
  EXPECT_GT(lines, 0);
  EXPECT_GT(accepted, 0) << "mutations too harsh to reach the validation";
}

class ServiceFuzzTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = testing::MakeEngine();
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.limits.max_article_bytes = 64 << 10;
    options.limits.max_batch_size = 50;
    auto server = DedupServer::Start(options, engine_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
  }

  // Serialised valid requests of each kind, the fuzzer's seeds.
  static std::vector<std::string> Seeds(const std::string& method) {
    std::vector<std::string> out;
    const auto& articles = testing::LoadStoriesFixture().articles;
    for (size_t i = 0; i < articles.size(); ++i) {
      v1::Article a;
      a.set_id(articles[i].id);
      a.set_title(articles[i].title);
      a.set_body(articles[i].body);
      a.set_source(articles[i].source);
      a.mutable_published()->set_seconds(
          absl::ToUnixSeconds(articles[i].published));
      if (method == "Assign" || method == "AssignStream") {
        v1::AssignRequest r;
        *r.mutable_article() = a;
        out.push_back(r.SerializeAsString());
      } else if (method == "AssignBatch") {
        v1::AssignBatchRequest r;
        *r.add_articles() = a;
        *r.add_articles() = a;
        out.push_back(r.SerializeAsString());
      } else if (method == "FindSimilar") {
        v1::FindSimilarRequest r;
        *r.mutable_article() = a;
        r.set_k(static_cast<int>(i));
        out.push_back(r.SerializeAsString());
      } else if (method == "GetCluster") {
        v1::GetClusterRequest r;
        r.set_cluster_id(absl::StrCat("story-", i));
        r.set_page_size(static_cast<int>(i));
        r.set_page_token(absl::StrCat(i));
        out.push_back(r.SerializeAsString());
      } else if (method == "ListClusters") {
        v1::ListClustersRequest r;
        r.set_sort_by(static_cast<v1::ListClustersRequest::SortBy>(i % 4));
        r.set_page_size(static_cast<int>(i));
        r.mutable_updated_since()->set_seconds(1761091200);
        out.push_back(r.SerializeAsString());
      } else if (method == "GetArticle") {
        v1::GetArticleRequest r;
        r.set_article_id(a.id());
        out.push_back(r.SerializeAsString());
      } else if (method == "DeleteArticle") {
        v1::DeleteArticleRequest r;
        r.set_article_id(a.id());
        out.push_back(r.SerializeAsString());
      }
    }
    return out;
  }

  static grpc::ByteBuffer Buffer(const std::string& bytes) {
    grpc::Slice slice(bytes);
    return grpc::ByteBuffer(&slice, 1);
  }

  static bool IsClientError(grpc::StatusCode code) {
    switch (code) {
      case grpc::StatusCode::OK:
      case grpc::StatusCode::INVALID_ARGUMENT:
      case grpc::StatusCode::NOT_FOUND:
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        return true;
      default:
        return false;
    }
  }

  std::unique_ptr<ClusteringEngine> engine_;
  std::unique_ptr<DedupServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ServiceFuzzTest, MutatedRequestsGetClientErrorsOnEveryUnaryRpc) {
  grpc::GenericStub stub(channel_);
  Mutator mutator(7);
  const std::vector<std::string> methods = {
      "Assign",     "AssignBatch",  "FindSimilar",  "GetCluster",
      "GetArticle", "ListClusters", "DeleteArticle"};
  const int n = Inputs(3000);
  for (int i = 0; i < n; ++i) {
    const std::string& method = methods[i % methods.size()];
    const std::string bytes = mutator.Mutate(Seeds(method));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    const grpc::ByteBuffer request = Buffer(bytes);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, "/newsdedup.v1.DedupService/" + method,
                   grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status s) { done.set_value(std::move(s)); });
    const grpc::Status status = done.get_future().get();
    ASSERT_TRUE(IsClientError(status.error_code()))
        << method << " answered " << status.error_code() << " "
        << status.error_message();
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      EXPECT_FALSE(status.error_message().empty()) << method;
    }
  }
}

// Stream items mutated field by field (invalid UTF-8 included, which the
// client library sends with a logged complaint): each gets its own answer
// and the stream ends OK.
TEST_F(ServiceFuzzTest, MutatedStreamItemsAreEachAnswered) {
  Mutator mutator(11);
  std::mt19937_64 rng(13);
  const auto& articles = testing::LoadStoriesFixture().articles;
  auto stub = v1::DedupService::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(120));
  auto stream = stub->AssignStream(&context);
  const int n = Inputs(1000);
  int answered = 0, errors = 0;
  // Answers are read while items are written, as a pipeline would (the
  // server stops reading when too many answers wait for the client).
  std::thread reader([&] {
    v1::AssignStreamResponse response;
    while (stream->Read(&response)) {
      ++answered;
      if (response.result().has_error()) {
        ++errors;
        EXPECT_TRUE(IsClientError(
            static_cast<grpc::StatusCode>(response.result().error().code())))
            << response.result().error().message();
      }
    }
  });
  for (int i = 0; i < n; ++i) {
    const Article& base = articles[i % articles.size()];
    v1::AssignRequest request;
    v1::Article* a = request.mutable_article();
    a->set_id(mutator.Mutate({base.id, "", " ", std::string(600, 'i')}));
    a->set_title(mutator.Mutate({base.title, ""}));
    a->set_body(mutator.Mutate({base.body, "", "<p>&amp;</p>"}));
    a->set_url(mutator.Mutate({"https://example.com/a", ""}));
    a->set_source(mutator.Mutate({base.source, ""}));
    a->set_language(mutator.Mutate({"en", "de-AT", ""}));
    if (rng() % 2) {
      a->mutable_published()->set_seconds(static_cast<int64_t>(rng()));
      a->mutable_published()->set_nanos(static_cast<int32_t>(rng()));
    }
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  reader.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(answered, n);
  EXPECT_GT(errors, 0);
  EXPECT_LT(errors, n) << "mutations too harsh to reach the engine";
}

}  // namespace
}  // namespace newsdedup
