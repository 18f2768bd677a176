#include "services/server/prometheus_metrics.h"

#include <grpcpp/support/interceptor.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/version.h"
#include "services/engine/state_digest.h"
#include "services/index/vector_index.h"
#include "services/storage/rocksdb_store.h"

namespace newsdedup {
namespace {

using grpc::experimental::InterceptionHookPoints;

struct GrpcFamilies {
  MetricFamily* requests;
  MetricFamily* duration;
  MetricFamily* in_flight;
  MetricFamily* stream_messages;
  MetricFamily* message_latency;
};

// Every RPC is labelled the same way, by the two halves of its path:
// "/newsdedup.v1.DedupService/Assign" -> {"newsdedup.v1.DedupService",
// "Assign"} (the grpc_service / grpc_method labels that gRPC's other
// Prometheus exporters use).
std::vector<std::string> MethodLabels(const char* path) {
  absl::string_view p = path == nullptr ? "" : path;
  absl::ConsumePrefix(&p, "/");
  const size_t slash = p.rfind('/');
  if (slash == absl::string_view::npos) return {"", std::string(p)};
  return {std::string(p.substr(0, slash)), std::string(p.substr(slash + 1))};
}

// "INVALID_ARGUMENT": gRPC's and absl's codes share their numbers.
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// One per call: counts it in flight from creation until its status is
// sent (or the call ends without one), then records code and duration.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(const GrpcFamilies& families,
                     std::vector<std::string> method)
      : families_(families), method_(std::move(method)), start_(absl::Now()) {
    families_.in_flight->Change({}, +1);
  }

  ~MetricsInterceptor() override {
    if (!finished_) Finish("CANCELLED");
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    // A read that ends the stream passes here too, without a message.
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      families_.stream_messages->Add(method_, 1);
      absl::MutexLock lock(&mu_);
      received_.push_back(absl::Now());
    }
    // Answers leave in request order (AssignStream keeps it), so each one
    // goes with the oldest request not yet answered.
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      absl::MutexLock lock(&mu_);
      if (!received_.empty()) {
        families_.message_latency->Observe(
            method_, absl::ToDoubleSeconds(absl::Now() - received_.front()));
        received_.pop_front();
      }
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS) &&
        !finished_) {
      Finish(CodeName(methods->GetSendStatus().error_code()));
    }
    methods->Proceed();
  }

 private:
  void Finish(const std::string& code) {
    finished_ = true;
    families_.in_flight->Change({}, -1);
    std::vector<std::string> labels = method_;
    labels.push_back(code);
    families_.requests->Add(labels, 1);
    families_.duration->Observe(method_,
                                absl::ToDoubleSeconds(absl::Now() - start_));
  }

  const GrpcFamilies& families_;
  const std::vector<std::string> method_;  // grpc_service, grpc_method
  const absl::Time start_;
  bool finished_ = false;
  // Arrival times of requests not yet answered (reads and writes of a
  // stream may run on different threads).
  absl::Mutex mu_;
  std::deque<absl::Time> received_ ABSL_GUARDED_BY(mu_);
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(PrometheusRegistry* registry) {
    families_.requests =
        registry->AddCounter("newsdedup_grpc_requests_total",
                             "RPCs finished, by method and gRPC status code.",
                             {"grpc_service", "grpc_method", "grpc_code"});
    families_.duration = registry->AddHistogram(
        "newsdedup_grpc_request_duration_seconds",
        "Time from the start of an RPC to its status, by method (whole "
        "stream for AssignStream).",
        {"grpc_service", "grpc_method"}, LatencyBuckets());
    families_.message_latency = registry->AddHistogram(
        "newsdedup_grpc_message_latency_seconds",
        "Time from a request message's arrival to its answer's send, by "
        "method: per article in AssignStream, per call otherwise.",
        {"grpc_service", "grpc_method"}, LatencyBuckets());
    families_.in_flight = registry->AddGauge(
        "newsdedup_grpc_requests_in_flight",
        "RPCs started and not yet finished (the server's queue depth).");
    families_.stream_messages = registry->AddCounter(
        "newsdedup_grpc_received_messages_total",
        "Request messages received, by method (one per unary call; one per "
        "article in AssignStream).",
        {"grpc_service", "grpc_method"});
  }

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(families_, MethodLabels(info->method()));
  }

 private:
  GrpcFamilies families_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewGrpcMetricsInterceptorFactory(PrometheusRegistry* registry) {
  return std::make_unique<MetricsInterceptorFactory>(registry);
}

void RegisterProcessMetrics(PrometheusRegistry* registry) {
  MetricFamily* cpu = registry->AddCounter("process_cpu_seconds_total",
                                           "User and system CPU time spent.");
  MetricFamily* resident = registry->AddGauge("process_resident_memory_bytes",
                                              "Resident memory size in bytes.");
  MetricFamily* virtual_memory = registry->AddGauge(
      "process_virtual_memory_bytes", "Virtual memory size in bytes.");
  MetricFamily* open_fds =
      registry->AddGauge("process_open_fds", "Open file descriptors.");
  MetricFamily* start_time = registry->AddGauge(
      "process_start_time_seconds",
      "Start time of the process since the Unix epoch, in seconds.");
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page_bytes = static_cast<double>(sysconf(_SC_PAGESIZE));
  // Boot time, for the start time (/proc/self/stat counts from boot).
  double boot_seconds = 0;
  {
    std::ifstream stat("/proc/stat");
    for (std::string line; std::getline(stat, line);) {
      if (absl::StartsWith(line, "btime ")) {
        (void)absl::SimpleAtod(line.substr(6), &boot_seconds);
      }
    }
  }
  registry->AddScrapeHook([=] {
    // /proc/self/stat: the fields after the command name (which may hold
    // spaces, hence the last ')'); utime, stime, starttime, vsize and rss
    // are fields 14, 15, 22, 23 and 24.
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)),
                     std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren != std::string::npos) {
      const std::vector<std::string> fields =
          absl::StrSplit(stat.substr(paren + 2), ' ', absl::SkipEmpty());
      auto field = [&fields](int number) {  // 1-based, as in proc(5)
        double value = 0;
        const size_t index = static_cast<size_t>(number - 3);
        if (index < fields.size())
          (void)absl::SimpleAtod(fields[index], &value);
        return value;
      };
      cpu->Set({}, (field(14) + field(15)) / ticks);
      start_time->Set({}, boot_seconds + field(22) / ticks);
      virtual_memory->Set({}, field(23));
      resident->Set({}, field(24) * page_bytes);
    }
    std::error_code error;
    int64_t fds = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", error);
         !error && it != std::filesystem::directory_iterator();
         it.increment(error)) {
      ++fds;
    }
    open_fds->Set({}, static_cast<double>(fds));
  });
}

void RegisterEngineMetrics(const ClusteringEngine* engine,
                           const std::string& data_dir,
                           PrometheusRegistry* registry) {
  MetricFamily* articles = registry->AddGauge(
      "newsdedup_articles", "Articles the engine holds (current versions).");
  MetricFamily* answers = registry->AddCounter(
      "newsdedup_assigned_articles_total",
      "New articles assigned (resends not counted), by relation; after a "
      "restart, counted again from the store.",
      {"relation"});
  MetricFamily* clusters = registry->AddGauge(
      "newsdedup_live_clusters", "Stories with at least one article.");
  MetricFamily* merges = registry->AddCounter(
      "newsdedup_cluster_merges_total", "Stories merged into an older one.");
  MetricFamily* waypoints = registry->AddGauge(
      "newsdedup_index_waypoints",
      "Removed vectors that graph shards keep as waypoints until the shard "
      "is compacted (when they outnumber its live vectors).",
      {});
  MetricFamily* shard_vectors = registry->AddGauge(
      "newsdedup_index_shard_vectors",
      "Vectors per live index shard, by time bucket number (a bucket spans "
      "one story window).",
      {"shard"});
  MetricFamily* indexed = registry->AddGauge(
      "newsdedup_index_vectors", "Vectors in the live (windowed) index.");
  MetricFamily* embeddings = registry->AddCounter(
      "newsdedup_embeddings_total", "Articles embedded by Assign.");
  MetricFamily* embedding_seconds = registry->AddCounter(
      "newsdedup_embedding_seconds_total",
      "Time spent embedding in Assign; divided by newsdedup_embeddings_total, "
      "the mean embedding time.");
  MetricFamily* store_pending = registry->AddGauge(
      "newsdedup_store_pending_batches",
      "Change batches waiting for their write to the store (queue depth).");
  MetricFamily* store_bytes = registry->AddGauge(
      "newsdedup_store_bytes", "Size of the data directory on disk.");
  MetricFamily* free_bytes = registry->AddGauge(
      "newsdedup_store_free_bytes",
      "Space left to the server on the data directory's file system; below "
      "--min-free-mb changes are refused.");
  MetricFamily* writable = registry->AddGauge(
      "newsdedup_writable",
      "1 while changes are accepted (health SERVING), 0 while they are "
      "refused: disk low, store failed, a replica behind or cut off from "
      "its log.");
  registry
      ->AddGauge("newsdedup_build_info",
                 "Always 1; the label says which version is running.",
                 {"version"})
      ->Set({Version()}, 1);
  MetricFamily* forgotten =
      registry->AddCounter("newsdedup_forgotten_articles_total",
                           "Articles deleted past the retention.");
  MetricFamily* forgotten_stories = registry->AddCounter(
      "newsdedup_forgotten_stories_total",
      "Stories forgotten a retention after their last article left.");
  MetricFamily* feed_cursor = registry->AddGauge(
      "newsdedup_feed_cursor",
      "The change feed's newest cursor (events so far): a consumer's lag is "
      "this minus the last cursor it processed.");
  registry->AddScrapeHook([=] {
    const EngineStats s = engine->stats();
    feed_cursor->Set({}, static_cast<double>(engine->FeedCursor()));
    articles->Set({}, s.articles);
    answers->Set({"NEW_STORY"}, s.new_stories);
    answers->Set({"SAME_STORY"}, s.same_story);
    answers->Set({"NEAR_DUPLICATE"}, s.near_duplicates);
    answers->Set({"EXACT_DUPLICATE"}, s.exact_duplicates);
    clusters->Set({}, s.live_clusters);
    merges->Set({}, s.merges);
    indexed->Set({}, s.indexed_vectors);
    waypoints->Set({}, s.index_waypoints);
    shard_vectors->Clear();
    for (const auto& [bucket, size] : s.shard_sizes) {
      shard_vectors->Set(
          {bucket == VectorIndex::kTimelessBucket ? std::string("undated")
                                                  : absl::StrCat(bucket)},
          size);
    }
    embeddings->Set({}, s.embeddings);
    embedding_seconds->Set({}, s.embedding_seconds);
    store_pending->Set({}, s.store_pending);
    forgotten->Set({}, s.forgotten);
    forgotten_stories->Set({}, s.forgotten_stories);
    writable->Set({}, engine->Writable().ok() ? 1 : 0);
    if (!data_dir.empty()) {
      store_bytes->Set({}, StoreSizeBytes(data_dir).value_or(0));
      std::error_code error;
      const std::filesystem::space_info space =
          std::filesystem::space(data_dir, error);
      if (!error) free_bytes->Set({}, static_cast<double>(space.available));
    }
  });
}

void RegisterReplicaMetrics(const ReplicatedEngine* replica,
                            PrometheusRegistry* registry) {
  MetricFamily* applied = registry->AddGauge(
      "newsdedup_replication_applied_sequence",
      "The newest change-log entry this replica has applied.");
  MetricFamily* log = registry->AddGauge(
      "newsdedup_replication_log_sequence",
      "The newest entry of the change log when this replica last asked.");
  MetricFamily* digest = registry->AddGauge(
      "newsdedup_state_digest",
      "Fingerprint of the story state (article clusters, representatives, "
      "aliases; low 52 bits): equal on replicas at the same applied "
      "sequence.");
  MetricFamily* digest_sequence = registry->AddGauge(
      "newsdedup_state_digest_sequence",
      "The applied sequence the digest was read at (changes landing while "
      "it is read make it approximate).");
  // The digest reads the whole state: computed again only when the replica
  // has applied something since (scrapes of an idle replica cost nothing).
  struct LastDigest {
    absl::Mutex mu;
    std::optional<uint64_t> at ABSL_GUARDED_BY(mu);
  };
  auto last = std::make_shared<LastDigest>();
  registry->AddScrapeHook([=] {
    const uint64_t at = replica->applied_sequence();
    {
      absl::MutexLock lock(&last->mu);
      if (last->at != at) {
        const StateDigest state = ComputeStateDigest(*replica);
        digest->Set({}, static_cast<double>(state.digest & ((1ULL << 52) - 1)));
        digest_sequence->Set({}, static_cast<double>(at));
        last->at = at;
      }
    }
    applied->Set({}, static_cast<double>(replica->applied_sequence()));
    log->Set({}, static_cast<double>(replica->log_sequence()));
  });
}

}  // namespace newsdedup
