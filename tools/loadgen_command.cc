// `newsdedup loadgen`: drives a newsdedup server over loopback and prints
// throughput and latency percentiles.
//
// Requests are built before each phase starts, so that the figures are the
// server's and the transport's, not the load generator's string work.
//
// Phases: (1) preload N articles through AssignStream, so that the story
// window holds them; (2) stream M more through C concurrent AssignStreams
// and report articles/s; (3) send unary Assign calls open-loop at a fixed
// rate for a few seconds and report latency percentiles. Articles are made
// from a JSONL file (headlines of real news by default): each synthetic
// article is a real title plus a few words drawn from the corpus, so none is
// an exact duplicate and all need embedding and search.
#include <grpcpp/grpcpp.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "services/api/api_messages.h"
#include "services/server/dedup_server.h"
#include "tools/article_jsonl.h"
#include "tools/client_channel.h"
#include "tools/commands.h"
#include "tools/engine_flags.h"
#include "tools/quality_scores.h"
#include "tools/synthetic_articles.h"

namespace newsdedup {
namespace {

struct LoadgenFlags {
  // server empty: run an in-process server on a free port
  ChannelFlags channel;
  std::string corpus = "../shared/data/uci-news-dev.jsonl";
  int preload = 100000;
  int stream_articles = 20000;
  int update_articles = 20000;
  int streams = 4;
  double rate = 500;
  double seconds = 10;
  uint64_t seed = 1;
  EngineFlags engine;
};

// Loadgen's articles: one second apart from 2025-10-22, so that the whole
// run stays inside one story window.
v1::Article MakeLoadArticle(SyntheticArticles* maker, int64_t n) {
  const Article a = maker->Make(n, absl::FromUnixSeconds(1761091200),
                                absl::Seconds(1), "load-");
  v1::Article out;
  ToProto(a, &out);
  return out;
}

// Makes the requests for articles [first, first + count) ahead of time, so
// that building them is not counted as the server's time. `updated`: new
// versions of those articles (same ids, edited headlines).
std::vector<v1::AssignRequest> MakeRequests(SyntheticArticles* maker,
                                            int64_t first, int64_t count,
                                            bool updated = false) {
  std::vector<v1::AssignRequest> requests(count);
  for (int64_t i = 0; i < count; ++i) {
    v1::Article* article = requests[i].mutable_article();
    *article = MakeLoadArticle(maker, first + i);
    if (updated) article->set_title(article->title() + " (updated)");
  }
  return requests;
}

// Sends `requests` through one AssignStream; returns the number of articles
// answered with an error, or -1 if the stream failed.
int64_t StreamArticles(v1::DedupService::Stub* stub, const ChannelFlags& target,
                       const std::vector<v1::AssignRequest>& requests) {
  grpc::ClientContext context;
  AddCallCredentials(target, &context);
  auto stream = stub->AssignStream(&context);
  std::thread writer([&] {
    for (const v1::AssignRequest& request : requests) {
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
  });
  v1::AssignStreamResponse response;
  int64_t errors = 0;
  while (stream->Read(&response)) {
    if (response.result().has_error()) ++errors;
  }
  writer.join();
  const grpc::Status status = stream->Finish();
  if (!status.ok()) {
    std::cerr << "loadgen: stream failed: " << status.error_message() << "\n";
    return -1;
  }
  return errors;
}

// Sends requests[c] through stream c, all streams at once; returns the
// seconds taken and adds the articles answered with an error to `errors`.
double StreamConcurrently(
    v1::DedupService::Stub* stub, const ChannelFlags& target,
    const std::vector<std::vector<v1::AssignRequest>>& requests,
    int64_t* errors) {
  std::vector<std::thread> streams;
  std::atomic<int64_t> failed{0};
  const absl::Time start = absl::Now();
  for (const std::vector<v1::AssignRequest>& stream : requests) {
    streams.emplace_back([&] {
      const int64_t e = StreamArticles(stub, target, stream);
      failed += e < 0 ? static_cast<int64_t>(stream.size()) : e;
    });
  }
  for (auto& t : streams) t.join();
  *errors += failed.load();
  return absl::ToDoubleSeconds(absl::Now() - start);
}

int RunLoadgen(const LoadgenFlags& flags) {
  // Concurrency comes from gRPC's threads, one request each; FAISS's own
  // OpenMP threads would only compete with them for the cores.
  omp_set_num_threads(1);
  auto made = SyntheticArticles::FromJsonl(flags.corpus, flags.seed);
  if (!made.ok()) {
    std::cerr << "loadgen: " << made.status().message() << "\n";
    return kExitFailure;
  }
  SyntheticArticles maker = *std::move(made);

  std::unique_ptr<ClusteringEngine> engine;
  std::unique_ptr<DedupServer> server;
  ChannelFlags target = flags.channel;
  if (target.server.empty()) {
    auto built = BuildEngine(flags.engine);
    if (!built.ok()) {
      std::cerr << "loadgen: " << built.status().message() << "\n";
      return kExitFailure;
    }
    engine = *std::move(built);
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    auto started = DedupServer::Start(options, engine.get());
    if (!started.ok()) {
      std::cerr << "loadgen: " << started.status().message() << "\n";
      return kExitFailure;
    }
    server = *std::move(started);
    target.server = absl::StrCat("127.0.0.1:", server->port());
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenChannel(target);
  if (!channel.ok()) {
    std::cerr << "loadgen: " << channel.status().message() << "\n";
    return kExitUsage;
  }
  auto stub = v1::DedupService::NewStub(*channel);
  std::cout << "loadgen: server " << target.server
            << (server ? " (in-process)" : "") << "\n";

  // Phase 1: preload.
  const std::vector<v1::AssignRequest> preload =
      MakeRequests(&maker, 0, flags.preload);
  absl::Time start = absl::Now();
  if (StreamArticles(stub.get(), target, preload) < 0) return kExitFailure;
  double s = absl::ToDoubleSeconds(absl::Now() - start);
  std::cout << absl::StrFormat("preload: %d articles in %.1fs (%.0f/s)\n",
                               flags.preload, s, flags.preload / s);

  // Phase 2: concurrent streams of new articles; then the same streams
  // sending new versions of preloaded articles.
  const int64_t per_stream = flags.stream_articles / flags.streams;
  const int64_t updates_per_stream =
      std::min<int64_t>(flags.update_articles, flags.preload) / flags.streams;
  auto stream_phase = [&](const char* what, int64_t first, int64_t count,
                          bool updated) {
    std::vector<std::vector<v1::AssignRequest>> requests;
    for (int c = 0; c < flags.streams; ++c) {
      requests.push_back(
          MakeRequests(&maker, first + c * count, count, updated));
    }
    int64_t errors = 0;
    const double seconds =
        StreamConcurrently(stub.get(), target, requests, &errors);
    std::cout << absl::StrFormat(
        "AssignStream%s: %d articles over %d streams in %.1fs: %.0f Assign/s "
        "(%d errors)\n",
        what, count * flags.streams, flags.streams, seconds,
        count * flags.streams / seconds, errors);
  };
  stream_phase("", flags.preload, per_stream, /*updated=*/false);
  if (updates_per_stream > 0) {
    stream_phase(" updates (new versions)", 0, updates_per_stream,
                 /*updated=*/true);
  }

  // Phase 3: unary Assign, open loop at a fixed rate.
  const int64_t total = static_cast<int64_t>(flags.rate * flags.seconds);
  const int64_t first = flags.preload + per_stream * flags.streams;
  const std::vector<v1::AssignRequest> unary =
      MakeRequests(&maker, first, total);
  std::vector<double> latencies_ms(total, -1);
  std::atomic<int64_t> next{0}, failed{0};
  const absl::Time t0 = absl::Now() + absl::Milliseconds(100);
  const int kSenders = 16;  // enough to keep the schedule under queuing
  std::vector<std::thread> senders;
  for (int w = 0; w < kSenders; ++w) {
    senders.emplace_back([&] {
      for (int64_t i = next++; i < total; i = next++) {
        const absl::Time due = t0 + absl::Seconds(i / flags.rate);
        absl::SleepFor(due - absl::Now());
        const v1::AssignRequest& request = unary[i];
        v1::AssignResponse response;
        grpc::ClientContext context;
        AddCallCredentials(target, &context);
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(10));
        // Latency is measured from the scheduled send time, so a server
        // that falls behind shows it (no coordinated omission).
        const grpc::Status status = stub->Assign(&context, request, &response);
        if (!status.ok()) ++failed;
        latencies_ms[i] = absl::ToDoubleMilliseconds(absl::Now() - due);
      }
    });
  }
  for (auto& t : senders) t.join();
  const double max_ms =
      *std::max_element(latencies_ms.begin(), latencies_ms.end());
  const double p50 = Percentile(&latencies_ms, 0.50);
  const double p90 = Percentile(&latencies_ms, 0.90);
  const double p99 = Percentile(&latencies_ms, 0.99);
  std::cout << absl::StrFormat(
      "unary Assign at %.0f/s for %.0fs: p50=%.2fms p90=%.2fms p99=%.2fms "
      "max=%.2fms (%d failed)\n",
      flags.rate, flags.seconds, p50, p90, p99, max_ms, failed.load());
  if (server) server->Shutdown();
  return kExitOk;
}

}  // namespace

void RegisterLoadgenCommand(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<LoadgenFlags>();
  CLI::App* command = app->add_subcommand(
      "loadgen",
      "Benchmark a server over loopback: preload articles, measure "
      "AssignStream throughput,\nthen unary Assign latency at a fixed rate. "
      "Without --server it runs its own server in-process.");
  AddChannelFlags(command, &flags->channel);
  command->add_option("--server", flags->channel.server,
                      "host:port of a running server (default: in-process)");
  command
      ->add_option("--corpus", flags->corpus,
                   "JSONL whose titles seed the synthetic articles")
      ->capture_default_str();
  command->add_option("--preload", flags->preload, "Articles loaded first")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command
      ->add_option("--stream-articles", flags->stream_articles,
                   "Articles sent through the concurrent streams")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--update-articles", flags->update_articles,
                   "New versions of preloaded articles sent over the streams "
                   "after the new ones (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command->add_option("--streams", flags->streams, "Concurrent AssignStreams")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--rate", flags->rate, "Unary Assign calls per second")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--seconds", flags->seconds, "Duration of the unary phase")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--seed", flags->seed, "Random seed")
      ->capture_default_str();
  AddEngineFlags(command, &flags->engine);
  command->callback([flags, exit_code] { *exit_code = RunLoadgen(*flags); });
}

}  // namespace newsdedup
