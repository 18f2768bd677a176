#include "services/server/node.h"

#include <cstdio>
#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/replica/replica_checkpoints.h"
#include "services/server/prometheus_metrics.h"

namespace newsdedup {

std::string ServerAddressFile(const std::string& data_dir) {
  return data_dir + "/newsdedup-server.address";
}

absl::StatusOr<std::unique_ptr<Node>> Node::Create(NodeOptions options) {
  if (!options.build_engine) {
    return absl::InvalidArgumentError("a node needs build_engine");
  }
  std::unique_ptr<Node> node(new Node(std::move(options)));
  RETURN_IF_ERROR(node->BuildEngine());
  RegisterProcessMetrics(&node->metrics_);
  RegisterEngineMetrics(node->engine_.get(), node->options_.data_dir,
                        &node->metrics_);
  if (node->replica_ != nullptr) {
    RegisterReplicaMetrics(node->replica_, &node->metrics_);
  }
  return node;
}

absl::Status Node::BuildEngine() {
  if (options_.replication.servers.empty()) {
    ASSIGN_OR_RETURN(engine_, options_.build_engine(nullptr));
    return absl::OkStatus();
  }
  // A replica's state is the change log: its engine replays it, from
  // the newest checkpoint, shared through JetStream so that a new
  // replica starts from the newest one.
  ASSIGN_OR_RETURN(std::unique_ptr<ReplicationLog> log,
                   OpenJetStreamLog(options_.replication));
  ASSIGN_OR_RETURN(std::unique_ptr<CheckpointShelf> shelf,
                   OpenJetStreamShelf(options_.replication));
  ReplicationOptions replica = options_.replica;
  replica.checkpoints =
      NewStoreCheckpoints(options_.replica_dir, std::move(shelf));
  NodeOptions::EngineFactory build = options_.build_engine;
  ASSIGN_OR_RETURN(std::unique_ptr<ReplicatedEngine> engine,
                   ReplicatedEngine::Start(
                       std::move(log),
                       [build](const ReplicatedEngine::LogPosition& position) {
                         return build(&position);
                       },
                       std::move(replica)));
  replica_ = engine.get();
  engine_ = std::move(engine);
  return absl::OkStatus();
}

absl::Status Node::Serve() {
  RETURN_IF_ERROR(StartHttp());
  RETURN_IF_ERROR(StartGrpc());
  return StartIngest();
}

absl::Status Node::StartIngest() {
  if (!options_.ingest.stream.empty()) {
    ASSIGN_OR_RETURN(ingest_,
                     JetStreamIngest::Start(options_.ingest, engine_.get()));
  }
  if (!options_.feed_stream.stream.empty()) {
    ASSIGN_OR_RETURN(feed_stream_,
                     JetStreamFeed::Start(options_.feed_stream, engine_.get()));
  }
  return absl::OkStatus();
}

absl::Status Node::StartHttp() {
  if (!options_.http_listen.empty()) {
    const size_t colon = options_.http_listen.rfind(':');
    int port = -1;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(options_.http_listen.substr(colon + 1), &port)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the HTTP address must be host:port, got '",
                       options_.http_listen, "'"));
    }
    ASSIGN_OR_RETURN(
        http_, OpsHttpServer::Start(options_.http_listen.substr(0, colon), port,
                                    engine_.get(), &metrics_, replica_,
                                    options_.http));
  }
  return absl::OkStatus();
}

absl::Status Node::StartGrpc() {
  ServerOptions grpc = options_.grpc;
  grpc.metrics = &metrics_;
  grpc.replica = replica_;
  ASSIGN_OR_RETURN(grpc_, DedupServer::Start(grpc, engine_.get()));
  // A replica still catching up is NOT_SERVING from the first probe on.
  writable_ = engine_->Writable().ok();
  grpc_->ReportWritable(writable_);
  if (!options_.data_dir.empty()) {
    address_file_ = ServerAddressFile(options_.data_dir);
    std::ofstream(address_file_) << LocalGrpcAddress() << "\n";
  }
  return absl::OkStatus();
}

bool Node::UpdateHealth(absl::Status* why) {
  const absl::Status status = engine_->Writable();
  if (status.ok() == writable_ || grpc_ == nullptr) return false;
  writable_ = status.ok();
  grpc_->ReportWritable(writable_);
  *why = status;
  return true;
}

std::string Node::LocalGrpcAddress() const {
  const std::string& listen = options_.grpc.listen_address;
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = "127.0.0.1";
  return absl::StrCat(host, ":", grpc_port());
}

void Node::Stop() {
  if (ingest_ != nullptr) {
    ingest_->Stop();
    ingest_.reset();
  }
  if (feed_stream_ != nullptr) {
    feed_stream_->Stop();
    feed_stream_.reset();
  }
  if (grpc_ != nullptr) {
    grpc_->Shutdown();
    grpc_->Wait();
    grpc_.reset();
  }
  if (!address_file_.empty()) {
    std::remove(address_file_.c_str());
    address_file_.clear();
  }
  if (http_ != nullptr) {
    http_->Stop();
    http_.reset();
  }
}

Node::~Node() { Stop(); }

}  // namespace newsdedup
