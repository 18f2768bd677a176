// A serving node: the engine (alone, or a replica of a change log), its
// metrics, the HTTP and the gRPC server, assembled from one options struct
// and stopped in the reverse order (etcd's `embed` beside `etcdmain`).
// `newsdedup serve` parses flags into NodeOptions, starts a node and
// handles signals; tests and other programs can start one the same way.
//
//   NodeOptions options;
//   options.build_engine = ...;           // the engine on its store
//   options.grpc.listen_address = "127.0.0.1:0";
//   auto node = Node::Create(std::move(options));  // the slow part
//   RETURN_IF_ERROR((*node)->Serve());             // HTTP, then gRPC
//   ...
//   (*node)->Stop();                                // gRPC, then HTTP
#ifndef NEWSDEDUP_SERVICES_SERVER_NODE_H_
#define NEWSDEDUP_SERVICES_SERVER_NODE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/engine/engine.h"
#include "services/replica/replicated_engine.h"
#include "services/replication/jetstream_log.h"
#include "services/server/dedup_server.h"
#include "services/server/jetstream_feed.h"
#include "services/server/jetstream_ingest.h"
#include "services/server/ops_http_server.h"
#include "services/server/prometheus_registry.h"

namespace newsdedup {

struct NodeOptions {
  // Builds the engine. On a replica it is called with the replica's log
  // position (its clock, log sequence and the store directory to open);
  // on a single node with null.
  using EngineFactory =
      std::function<absl::StatusOr<std::unique_ptr<ClusteringEngine>>(
          const ReplicatedEngine::LogPosition* position)>;
  EngineFactory build_engine;

  // Replication (docs/replication.md): the node is a replica when
  // replication.servers is not empty. Its store and checkpoints live
  // under replica_dir, checkpoints shared through JetStream; the
  // callbacks of `replica` (on_stalled, ...) are kept.
  JetStreamLogOptions replication;
  std::string replica_dir;
  ReplicationOptions replica;

  // The gRPC server (its metrics and replica fields are the node's own).
  ServerOptions grpc;
  // host:port of the HTTP server (dashboard, metrics, JSON API); empty:
  // none.
  std::string http_listen;
  HttpAccess http;

  // Ingest from a JetStream stream (jetstream_ingest.h): on when
  // ingest.stream is not empty; started once the node serves.
  JetStreamIngestOptions ingest;
  // The change feed published to a JetStream stream (jetstream_feed.h):
  // on when feed_stream.stream is not empty; started with the ingest.
  JetStreamFeedOptions feed_stream;

  // A single node's durable store directory: its disk use is exported,
  // and the node writes the gRPC address into it for `newsdedup admin`
  // (removed at Stop). Empty otherwise.
  std::string data_dir;
};

class Node {
 public:
  // Builds the engine and the metrics; serves nothing yet (a store's
  // recovery or a replica's first look at the log may take a while).
  static absl::StatusOr<std::unique_ptr<Node>> Create(NodeOptions options);

  ~Node();  // Stop()

  // Starts the HTTP server (if any), then the gRPC server, which reports
  // the engine's health from its first probe on, then the ingest from
  // JetStream and the feed's publisher to it (if any).
  absl::Status Serve();
  // The steps of Serve(), for a caller that reports each.
  absl::Status StartHttp();
  absl::Status StartGrpc();
  absl::Status StartIngest();

  // Stops the ingest and the feed's publisher, stops accepting calls, lets
  // gRPC's in-flight ones finish within the grace period, then stops HTTP.
  // Idempotent.
  void Stop();

  // Reports the engine's health to gRPC health checks when it changed:
  // true once, with `why` the engine's answer, when it did.
  bool UpdateHealth(absl::Status* why);
  // The health last reported (writable or not).
  bool writable() const { return writable_; }

  ClusteringEngine* engine() const { return engine_.get(); }
  // Null on a single node.
  ReplicatedEngine* replica() const { return replica_; }
  int grpc_port() const { return grpc_ != nullptr ? grpc_->port() : -1; }
  int http_port() const { return http_ != nullptr ? http_->port() : -1; }
  // Where a local client reaches the gRPC server.
  std::string LocalGrpcAddress() const;

 private:
  explicit Node(NodeOptions options) : options_(std::move(options)) {}
  absl::Status BuildEngine();

  NodeOptions options_;
  PrometheusRegistry metrics_;
  std::unique_ptr<ClusteringEngine> engine_;
  ReplicatedEngine* replica_ = nullptr;  // engine_, when a replica
  std::unique_ptr<OpsHttpServer> http_;
  std::unique_ptr<DedupServer> grpc_;
  std::unique_ptr<JetStreamIngest> ingest_;
  std::unique_ptr<JetStreamFeed> feed_stream_;
  std::string address_file_;
  bool writable_ = false;
};

// The file in a durable store's directory that names the address of the
// server holding it (`newsdedup admin` reads it).
std::string ServerAddressFile(const std::string& data_dir);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_NODE_H_
