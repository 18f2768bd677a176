// `newsdedup serve`: the gRPC server on the engine, until SIGTERM/SIGINT.
#include <omp.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "common/time_format.h"
#include "embeddings/tokenizer.h"
#include "services/replica/replicated_engine.h"
#include "services/replication/jetstream_log.h"
#include "services/server/access_control.h"
#include "services/server/node.h"
#include "services/server/tls_options.h"
#include "tools/commands.h"
#include "tools/engine_flags.h"
#include "tools/log.h"

namespace newsdedup {
namespace {

// How often an idle server applies the retention.
constexpr int kRetentionSweepSeconds = 60;

struct ServeFlags {
  ServerOptions server;
  std::string http_listen = "127.0.0.1:8080";
  double shutdown_grace_seconds = 10;
  // Access (docs/security.md).
  std::string auth_tokens_file;
  bool insecure = false;
  bool metrics_open = false;
  std::vector<std::string> http_allowed_hosts;
  std::vector<std::string> http_allowed_origins;
  EngineFlags engine;
  // Replication (docs/replication.md): on when servers are given.
  JetStreamLogOptions replication;
  double replication_max_age_hours = 0;
  int64_t replication_checkpoint_entries = 100000;
  double replication_connect_timeout_seconds = 60;
  // Ingest from JetStream (docs/integrations.md): on when a stream is
  // named.
  JetStreamIngestOptions ingest;
  double ingest_connect_timeout_seconds = 60;
  JetStreamFeedOptions feed_stream;
};

// The node `flags` describe: a single server on its store, or a replica
// whose state is the change log (its engine replays it on a store of its
// own under the data directory, or a temporary one with --in-memory).
absl::StatusOr<NodeOptions> NodeOptionsOf(const ServeFlags& flags,
                                          const AccessControl* access) {
  NodeOptions node;
  node.grpc = flags.server;
  node.grpc.access = access;
  node.grpc.shutdown_grace = absl::Seconds(flags.shutdown_grace_seconds);
  node.http_listen = flags.http_listen;
  node.ingest = flags.ingest;
  node.ingest.nats.connect_timeout =
      absl::Seconds(flags.ingest_connect_timeout_seconds);
  if (node.ingest.nats.servers.empty()) {
    node.ingest.nats.servers =
        flags.replication.servers.empty()
            ? std::vector<std::string>{"nats://127.0.0.1:4222"}
            : flags.replication.servers;
  }
  node.ingest.log = [](absl::string_view event, absl::string_view detail) {
    LogEvent(event == "ingest_dead_letter" ? "warning" : "error", event,
             {{"detail", std::string(detail)}});
  };
  // The feed's publisher speaks to the ingest's NATS (same servers,
  // credentials and CA) unless told otherwise.
  node.feed_stream = flags.feed_stream;
  const std::vector<std::string> feed_servers = node.feed_stream.nats.servers;
  node.feed_stream.nats = node.ingest.nats;
  if (!feed_servers.empty()) node.feed_stream.nats.servers = feed_servers;
  node.feed_stream.log = [](absl::string_view event, absl::string_view detail) {
    LogEvent(event == "feed_publish_gap" ? "warning" : "error", event,
             {{"detail", std::string(detail)}});
  };
  node.http.access = access;
  node.http.tls = flags.server.tls;
  node.http.metrics_open = flags.metrics_open;
  node.http.allowed_hosts = flags.http_allowed_hosts;
  node.http.allowed_origins = flags.http_allowed_origins;
  if (flags.replication.servers.empty()) {
    if (flags.engine.store.durable) node.data_dir = flags.engine.store.data_dir;
    node.build_engine =
        [engine_flags = flags.engine](const ReplicatedEngine::LogPosition*) {
          return BuildEngine(engine_flags);
        };
    return node;
  }
  node.replication = flags.replication;
  node.replication.max_age =
      absl::Seconds(flags.replication_max_age_hours * 3600);
  node.replication.connect_timeout =
      absl::Seconds(flags.replication_connect_timeout_seconds);
  node.replica_dir = flags.engine.store.data_dir;
  if (!flags.engine.store.durable) {
    char pattern[] = "/tmp/newsdedup-replica-XXXXXX";
    if (mkdtemp(pattern) == nullptr) {
      return absl::InternalError("cannot make a temporary directory");
    }
    node.replica_dir = pattern;
    static std::string to_remove;
    to_remove = node.replica_dir;
    std::atexit([] { std::filesystem::remove_all(to_remove); });
  }
  EngineFlags engine_flags = flags.engine;
  engine_flags.store.durable = true;
  // A restart restores the newest checkpoint, never the store's later
  // writes (the log holds them), so those need no fsync.
  engine_flags.store.sync = "none";
  // Nor graphs from a snapshot: a replica's graphs are those every replica
  // built at the checkpoint.
  engine_flags.store.index_snapshot = false;
  node.build_engine =
      [engine_flags](const ReplicatedEngine::LogPosition* position) mutable {
        engine_flags.engine.clock = position->clock;
        engine_flags.engine.log_sequence = position->log_sequence;
        engine_flags.store.data_dir = position->store_path;
        return BuildEngine(engine_flags);
      };
  ReplicationOptions& replica = node.replica;
  replica.checkpoint_every = flags.replication_checkpoint_entries;
  replica.on_rejected = [](uint64_t sequence, const absl::Status& status) {
    LogEvent(
        "warning", "log_entry_refused",
        {{"sequence", absl::StrCat(sequence)}, {"error", status.ToString()}});
  };
  replica.on_stalled = [](uint64_t sequence, const absl::Status& status) {
    LogEvent(
        "warning", "replica_stalled",
        {{"sequence", absl::StrCat(sequence)}, {"error", status.ToString()}});
  };
  replica.on_purged = [](uint64_t sequence, const absl::Status& status) {
    LogEvent(
        "warning", "replica_restoring_checkpoint",
        {{"sequence", absl::StrCat(sequence)}, {"reason", status.ToString()}});
  };
  replica.on_stepped_over = [](uint64_t from, uint64_t to) {
    LogEvent("warning", "log_entries_stepped_over",
             {{"from", absl::StrCat(from)},
              {"to", absl::StrCat(to)},
              {"reason", "no longer in the log (deleted)"}});
  };
  replica.on_resumed = [](uint64_t sequence) {
    LogEvent("info", "replica_resumed", {{"sequence", absl::StrCat(sequence)}});
  };
  return node;
}

// The tokens of --auth-tokens (everyone allowed without it), after the
// check that a server reachable from other machines has them.
absl::StatusOr<std::unique_ptr<AccessControl>> OpenAccess(
    const ServeFlags& flags) {
  if (flags.auth_tokens_file.empty()) {
    for (const std::string& address :
         {flags.server.listen_address, flags.http_listen}) {
      if (address.empty() || flags.insecure) continue;
      const std::string host = address.substr(0, address.rfind(':'));
      if (!IsLoopbackHost(host)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "refusing to listen on ", address,
            " without --auth-tokens: anyone who reaches it could read, "
            "ingest, edit and delete. Give --auth-tokens FILE (docs/"
            "security.md), listen on 127.0.0.1, or pass --insecure to run "
            "open anyway"));
      }
    }
    return AccessControl::Open();
  }
  return AccessControl::FromTokenFile(flags.auth_tokens_file);
}

// SIGHUP: reads the token file again; on an error the old tokens stay.
void ReloadTokens(AccessControl* access) {
  if (!access->enabled()) {
    LogEvent("info", "tokens_not_reloaded",
             {{"reason", "SIGHUP without --auth-tokens"}});
    return;
  }
  absl::StatusOr<int> tokens = access->Reload();
  if (tokens.ok()) {
    LogEvent("info", "tokens_reloaded", {{"tokens", absl::StrCat(*tokens)}});
  } else {
    LogEvent("error", "tokens_reload_failed",
             {{"error", std::string(tokens.status().message())},
              {"note", "the previous tokens stay in force"}});
  }
}

// The thread that waits for SIGINT and SIGTERM (RunServe's).
std::atomic<pthread_t> signal_waiter;

// Runs in a thread that started before the signals were blocked (a
// library's, at load time, e.g. OpenBLAS's pool): without it the default
// action would end the process there. Hands the signal to the waiter,
// which has it blocked and takes it with sigtimedwait.
void ForwardToWaiter(int signal_number) {
  pthread_kill(signal_waiter.load(), signal_number);
}

// Until the server serves (a store's recovery, the first NATS connection:
// a minute or more at worst), SIGTERM and SIGINT end the process at once:
// the main thread takes them only once it serves, and a replica that could
// not reach NATS yet ignored a stop for as long as it tried. Ending here
// is safe: nothing is acknowledged before serving, and the store recovers
// from an ended process as from a crash.
class StartupSignalWatch {
 public:
  explicit StartupSignalWatch(const sigset_t& signals)
      : signals_(signals),
        main_(pthread_self()),
        thread_([this] { Watch(); }) {}
  ~StartupSignalWatch() {
    done_.store(true);
    thread_.join();
  }

 private:
  void Watch() {
    // Signals that a thread without them blocked (libnats') catches are
    // forwarded here (ForwardToWaiter), and then back to the main thread.
    signal_waiter.store(pthread_self());
    const timespec tick = {0, 100'000'000};
    while (!done_.load()) {
      const int signal_number = sigtimedwait(&signals_, nullptr, &tick);
      if (signal_number == SIGTERM || signal_number == SIGINT) {
        LogEvent("info", "stopped_during_startup",
                 {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
        std::_Exit(kExitOk);
      }
      // SIGHUP: the token file is read as the server starts anyway.
    }
    signal_waiter.store(main_);
    // One forwarded here meanwhile goes to the main thread's loop.
    const timespec now = {0, 0};
    const int late = sigtimedwait(&signals_, nullptr, &now);
    if (late >= 0) pthread_kill(main_, late);
  }

  const sigset_t signals_;
  const pthread_t main_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// The engine's events in the server's log: retention's totals once a
// minute, and each takedown, merge, representative change and editorial
// action.
void LogEngineEvents(EngineOptions* options) {
  // At the article cap every new article forgets one: one line a minute
  // with the totals, not one per article.
  auto newest_cutoff = std::make_shared<std::atomic<int64_t>>(0);
  auto forgotten = std::make_shared<ThrottledTotals>(
      absl::Minutes(1),
      [newest_cutoff](int64_t sweeps, const std::vector<int64_t>& totals) {
        LogEvent("info", "retention_forgot",
                 {{"articles", absl::StrCat(totals[0])},
                  {"expired_clusters", absl::StrCat(totals[1])},
                  {"forgotten_clusters", absl::StrCat(totals[2])},
                  {"sweeps", absl::StrCat(sweeps)},
                  {"received_before",
                   FormatRfc3339(absl::FromUnixNanos(newest_cutoff->load()))}});
      });
  options->on_retention_sweep =
      [forgotten, newest_cutoff](const EngineOptions::RetentionSweep& sweep) {
        newest_cutoff->store(absl::ToUnixNanos(sweep.cutoff));
        forgotten->Add(
            {sweep.articles, sweep.expired_stories, sweep.forgotten_stories});
      };
  options->on_story_change = [](const EngineOptions::StoryChange& change) {
    using Kind = EngineOptions::StoryChange::Kind;
    switch (change.kind) {
      case Kind::kTakedown:
        LogEvent(
            "info", "takedown",
            {{"article", change.article_id}, {"cluster", change.story_id}});
        break;
      case Kind::kMerge:
        LogEvent(
            "info", "clusters_merged",
            {{"cluster", change.story_id}, {"absorbed", change.absorbed_id}});
        break;
      case Kind::kRepresentativeChanged:
        LogEvent(
            "info", "representative_changed",
            {{"cluster", change.story_id}, {"article", change.article_id}});
        break;
      case Kind::kEdited:
        // Every editorial action: who, what and why, in the log too.
        LogEvent("info", "editorial_action",
                 {{"cluster", change.story_id},
                  {"action", change.action},
                  {"editor", change.editor},
                  {"reason", change.reason},
                  {"detail", change.detail}});
        break;
    }
  };
}

int RunServe(ServeFlags& flags) {
  // SIGINT and SIGTERM are taken by sigtimedwait() below; block them before
  // any gRPC thread starts so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // reloads the token file
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal_waiter = pthread_self();
  struct sigaction forward = {};
  forward.sa_handler = ForwardToWaiter;
  sigemptyset(&forward.sa_mask);
  sigaction(SIGINT, &forward, nullptr);
  sigaction(SIGTERM, &forward, nullptr);
  sigaction(SIGHUP, &forward, nullptr);
  auto startup_watch = std::make_unique<StartupSignalWatch>(signals);

  absl::StatusOr<std::unique_ptr<AccessControl>> access = OpenAccess(flags);
  if (!access.ok()) {
    LogEvent("error", "access_failed",
             {{"error", std::string(access.status().message())}});
    return kExitUsage;
  }

  // Concurrency comes from gRPC's threads, one request each; FAISS's own
  // OpenMP threads would only compete with them for the cores.
  omp_set_num_threads(1);
  const absl::Time start = absl::Now();
  LogEngineEvents(&flags.engine.engine);
  flags.engine.store.warn = [](const std::string& warning) {
    LogEvent("warning", "store_warning", {{"warning", warning}});
  };
  absl::StatusOr<NodeOptions> node_options =
      NodeOptionsOf(flags, access->get());
  absl::StatusOr<std::unique_ptr<Node>> node =
      node_options.ok() ? Node::Create(*std::move(node_options))
                        : node_options.status();
  if (!node.ok()) {
    LogEvent("error", "engine_failed", {{"error", node.status().ToString()}});
    return kExitFailure;
  }
  ClusteringEngine* engine = (*node)->engine();
  ReplicatedEngine* replica = (*node)->replica();
  if (replica != nullptr) {
    LogEvent("info", "replica",
             {{"stream", flags.replication.stream},
              {"servers", absl::StrJoin(flags.replication.servers, ",")},
              {"log_entries", absl::StrCat(replica->log_sequence())},
              {"from_checkpoint", absl::StrCat(replica->start_sequence())}});
  } else if (flags.engine.store.durable) {
    const EngineStats recovered = engine->stats();
    std::vector<std::pair<std::string, std::string>> fields = {
        {"data_dir", flags.engine.store.data_dir},
        {"sync", flags.engine.store.sync},
        {"articles", absl::StrCat(recovered.recovered_articles)},
        {"clusters", absl::StrCat(recovered.live_clusters)},
        {"indexed_vectors", absl::StrCat(recovered.indexed_vectors)},
        // Vectors whose graph links came from the last clean stop's
        // snapshot instead of being built again.
        {"from_snapshot", absl::StrCat(recovered.snapshot_vectors)},
        {"recovery_ms",
         absl::StrFormat("%.0f", recovered.recovery_seconds * 1000)}};
    if (!recovered.snapshot_refused.empty()) {
      fields.emplace_back("snapshot_refused", recovered.snapshot_refused);
    }
    LogEvent("info", "recovered", fields);
  } else {
    LogEvent("warning", "in_memory",
             {{"note", "--in-memory: nothing is kept when the process ends"}});
  }
  // The slow part is done and nothing serves yet: from here a signal waits
  // for the loop below, which stops the servers it started gracefully.
  startup_watch.reset();
  if (absl::Status http = (*node)->StartHttp(); !http.ok()) {
    LogEvent("error", "http_failed", {{"error", http.ToString()}});
    return kExitFailure;
  }
  if ((*node)->http_port() >= 0) {
    LogEvent("info", "http_serving",
             {{"address", flags.http_listen},
              {"http_port", absl::StrCat((*node)->http_port())},
              {"paths", "/ /metrics /v1/ /api/ /openapi.json"}});
  }
  if (absl::Status grpc = (*node)->StartGrpc(); !grpc.ok()) {
    LogEvent("error", "listen_failed", {{"error", grpc.ToString()}});
    return kExitFailure;
  }
  LogEvent("info", "serving",
           {{"address", flags.server.listen_address},
            {"port", absl::StrCat((*node)->grpc_port())},
            {"auth", (*access)->enabled() ? "tokens" : "open"},
            {"tls", !flags.server.tls.enabled()               ? "off"
                    : flags.server.tls.client_ca_file.empty() ? "on"
                                                              : "mutual"},
            // Which tokenizer model it loaded (an installed copy finds its
            // own under PREFIX/share/newsdedup).
            {"model", flags.engine.embedder.tokenizer_model_path.empty()
                          ? DefaultTokenizerModelPath()
                          : flags.engine.embedder.tokenizer_model_path},
            {"startup_ms", absl::StrFormat("%.0f", absl::ToDoubleMilliseconds(
                                                       absl::Now() - start))}});
  if (absl::Status ingest = (*node)->StartIngest(); !ingest.ok()) {
    LogEvent("error", "ingest_failed", {{"error", ingest.ToString()}});
    (*node)->Stop();
    return kExitFailure;
  }
  if (!flags.feed_stream.stream.empty()) {
    LogEvent("info", "publishing_feed", {{"stream", flags.feed_stream.stream}});
  }
  if (!flags.ingest.stream.empty()) {
    LogEvent("info", "ingesting",
             {{"stream", flags.ingest.stream},
              {"servers", absl::StrJoin(flags.ingest.nats.servers, ",")}});
  }
  // Once a second: is the store writable (health follows it; each change
  // is logged once)? Once a minute: retention, which also runs with every
  // change, for a quiet server.
  int signal_number = -1;
  const timespec tick = {1, 0};
  for (int64_t seconds = 1;; ++seconds) {
    signal_number = sigtimedwait(&signals, nullptr, &tick);
    if (signal_number == SIGHUP) {
      ReloadTokens(access->get());
      continue;
    }
    if (signal_number >= 0) break;  // SIGTERM or SIGINT; else the tick
    absl::Status health;
    if ((*node)->UpdateHealth(&health)) {
      if (health.ok()) {
        LogEvent("info", replica ? "replica_ready" : "store_writable",
                 {{"applied",
                   absl::StrCat(replica ? replica->applied_sequence() : 0)}});
      } else {
        LogEvent(replica ? "warning" : "error",
                 replica ? "replica_not_ready" : "store_not_writable",
                 {{"error", std::string(health.message())}});
      }
    }
    if ((*node)->writable() && seconds % kRetentionSweepSeconds == 0) {
      if (absl::Status swept = engine->ForgetExpired(); !swept.ok()) {
        LogEvent("warning", "retention_failed", {{"error", swept.ToString()}});
      }
    }
  }
  LogEvent("info", "shutting_down",
           {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*node)->Stop();
  const EngineStats stats = engine->stats();
  LogEvent("info", "stopped",
           {{"articles", absl::StrCat(stats.articles)},
            {"clusters", absl::StrCat(stats.live_clusters)}});
  return kExitOk;
}

// --ingest-*: articles from a JetStream stream (jetstream_ingest.h);
// --feed-*: the change feed to one (jetstream_feed.h).
void AddIngestFlags(CLI::App* command, ServeFlags* flags) {
  JetStreamIngestOptions& o = flags->ingest;
  const auto group = "Ingest from JetStream (docs/integrations.md)";
  command
      ->add_option("--ingest-stream", o.stream,
                   "Consume articles (one JSON Article per message) from this "
                   "JetStream stream, created if missing; off when empty")
      ->group(group);
  command
      ->add_option("--ingest-subject", o.subject,
                   "Subject the articles are published on (default "
                   "STREAM.articles)")
      ->group(group);
  command
      ->add_option("--ingest-url", o.nats.servers,
                   "NATS servers, comma-separated (default: --replication-url, "
                   "else nats://127.0.0.1:4222)")
      ->delimiter(',')
      ->group(group);
  command
      ->add_option("--ingest-consumer", o.consumer,
                   "Durable consumer; servers naming the same one share the "
                   "articles")
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--ingest-answers-subject", o.answers_subject,
                   "Where each answer is published (default STREAM.answers)")
      ->group(group);
  command
      ->add_option("--ingest-dead-letter-subject", o.dead_letter_subject,
                   "Where malformed messages go, with their error, stored in "
                   "the stream STREAM_dead_letter (default STREAM.dead-letter)")
      ->group(group);
  command
      ->add_option("--ingest-replicas", o.replicas,
                   "Copies of new ingest streams the NATS cluster keeps")
      ->check(CLI::Range(1, 5))
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--ingest-connect-timeout-seconds",
                   flags->ingest_connect_timeout_seconds,
                   "How long to wait for NATS at start")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--ingest-creds", o.nats.credentials_file,
                   "NATS credentials file for ingest")
      ->group(group);
  command
      ->add_option("--ingest-tls-ca", o.nats.tls_ca_file,
                   "CA bundle: ingest from NATS over TLS")
      ->group(group);
  const auto feed_group = "Change feed to JetStream (docs/integrations.md)";
  command
      ->add_option("--feed-stream", flags->feed_stream.stream,
                   "Publish every change feed event (JSON, headers "
                   "Newsdedup-Cursor and Newsdedup-Kind) to this JetStream "
                   "stream, created if missing, each cursor once; off when "
                   "empty. NATS as for --ingest-url, --ingest-creds, "
                   "--ingest-tls-ca")
      ->group(feed_group);
  command
      ->add_option("--feed-subject", flags->feed_stream.subject,
                   "Subject of the events (default STREAM.events)")
      ->group(feed_group);
  command
      ->add_option("--feed-url", flags->feed_stream.nats.servers,
                   "NATS servers of the feed stream, comma-separated "
                   "(default: those of the ingest)")
      ->delimiter(',')
      ->group(feed_group);
  command
      ->add_option("--feed-replicas", flags->feed_stream.replicas,
                   "Copies of a new feed stream the NATS cluster keeps")
      ->check(CLI::Range(1, 5))
      ->capture_default_str()
      ->group(feed_group);
}

}  // namespace

void RegisterServeCommand(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* command = app->add_subcommand(
      "serve",
      "Run the gRPC service (newsdedup.v1.DedupService, plus grpc.health.v1 "
      "and server reflection)\nuntil SIGTERM or SIGINT; shutdown lets calls "
      "in flight finish. Logs one line per event on stderr.");
  command
      ->add_option("--listen", flags->server.listen_address,
                   "host:port to listen on (port 0: any free port)")
      ->capture_default_str();
  command
      ->add_option("--http-listen", flags->http_listen,
                   "host:port of the dashboard, /metrics (Prometheus) and the "
                   "JSON API (port 0: any free port; empty: off)")
      ->capture_default_str();
  command
      ->add_option("--max-message-bytes", flags->server.max_message_bytes,
                   "Largest gRPC message accepted or sent")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--max-article-bytes",
                   flags->server.limits.max_article_bytes,
                   "Largest article (RESOURCE_EXHAUSTED above)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--max-batch", flags->server.limits.max_batch_size,
                   "Most articles in one AssignBatch")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--max-threads", flags->server.max_threads,
                   "Most threads gRPC may use (0: gRPC's default)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command
      ->add_option("--shutdown-grace-seconds", flags->shutdown_grace_seconds,
                   "How long calls in flight may run after a shutdown signal")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command->add_option(
      "--auth-tokens", flags->auth_tokens_file,
      "Token file: one 'TOKEN ROLE NAME' line per credential, roles read < "
      "ingest < edit < admin; calls then need 'authorization: Bearer TOKEN'. "
      "Reloaded on SIGHUP (docs/security.md)");
  command->add_option("--tls-cert", flags->server.tls.cert_file,
                      "TLS certificate chain (PEM) for the gRPC and HTTP "
                      "ports; with --tls-key they speak TLS only");
  command->add_option("--tls-key", flags->server.tls.key_file,
                      "Private key of --tls-cert (PEM)");
  command->add_option("--tls-client-ca", flags->server.tls.client_ca_file,
                      "CA bundle (PEM): gRPC and HTTPS clients must present a "
                      "certificate it signed (mutual TLS)");
  command->add_flag("--insecure", flags->insecure,
                    "Allow listening beyond loopback without --auth-tokens");
  command
      ->add_option("--http-allowed-hosts", flags->http_allowed_hosts,
                   "Host names (comma-separated, no port) browsers may reach "
                   "the dashboard by, besides IP addresses and localhost; "
                   "requests naming any other are refused (DNS rebinding). "
                   "'*': any")
      ->delimiter(',');
  command
      ->add_option("--http-allowed-origins", flags->http_allowed_origins,
                   "Origins (comma-separated, e.g. https://app.example.org) "
                   "whose browser pages may call the JSON API with a token "
                   "(CORS); preflights from any other are refused")
      ->delimiter(',')
      ->check([](const std::string& origin) -> std::string {
        const size_t scheme = origin.find("://");
        if ((origin.rfind("http://", 0) != 0 &&
             origin.rfind("https://", 0) != 0) ||
            origin.find('/', scheme + 3) != std::string::npos ||
            origin.size() == scheme + 3) {
          return "an origin is scheme://host[:port] without a path, e.g. "
                 "https://app.example.org: " +
                 origin;
        }
        return "";
      });
  command->add_flag("--metrics-open", flags->metrics_open,
                    "With --auth-tokens, leave /metrics open for scrapers "
                    "(/healthz is always open)");
  AddEngineFlags(command, &flags->engine);
  AddStoreFlags(command, &flags->engine);
  AddReplicationLogFlags(
      command,
      "NATS servers of the JetStream change log, comma-separated "
      "(nats://127.0.0.1:4222,...): run as one replica of a replicated "
      "service (docs/replication.md); its store and checkpoints go under "
      "--data-dir",
      &flags->replication, &flags->replication_connect_timeout_seconds);
  command
      ->add_option("--replication-replicas", flags->replication.replicas,
                   "Copies of a new stream the NATS cluster keeps (1, 3 or 5)")
      ->check(CLI::Range(1, 5))
      ->capture_default_str();
  command
      ->add_option("--replication-max-age-hours",
                   flags->replication_max_age_hours,
                   "Entries older than this leave a new stream (0: kept); a "
                   "new replica replays the stream from its first entry")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command
      ->add_option("--replication-checkpoint-entries",
                   flags->replication_checkpoint_entries,
                   "A checkpoint every this many log entries: replicas "
                   "save their store there and a restart replays only the "
                   "entries after it (0: never)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  AddIngestFlags(command, flags.get());
  command->callback([flags, exit_code] { *exit_code = RunServe(*flags); });
}

void AddReplicationLogFlags(CLI::App* command, const std::string& url_help,
                            JetStreamLogOptions* options,
                            double* connect_timeout_seconds) {
  command->add_option("--replication-url", options->servers, url_help)
      ->delimiter(',');
  command
      ->add_option("--replication-stream", options->stream,
                   "JetStream stream of the change log (created if missing)")
      ->capture_default_str();
  command
      ->add_option("--replication-connect-timeout-seconds",
                   *connect_timeout_seconds,
                   "How long to wait for a NATS server to listen and for the "
                   "stream (a replica may start before NATS)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--replication-creds", options->credentials_file,
                      "NATS credentials file (JWT and NKey seed)");
  command->add_option("--replication-tls-ca", options->tls_ca_file,
                      "CA bundle: connect to NATS over TLS");
}

}  // namespace newsdedup
