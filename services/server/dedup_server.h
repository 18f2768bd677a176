// A running newsdedup gRPC server: the DedupService plus the standard gRPC
// health-checking and reflection services, on one listening address.
//
//   ServerOptions options;
//   options.listen_address = "127.0.0.1:0";  // any free port
//   ASSIGN_OR_RETURN(auto server, DedupServer::Start(options, engine.get()));
//   ... server->port() ...
//   server->Shutdown();  // graceful: in-flight calls finish
//
// Thread safety: Shutdown() may be called from any thread, once or more.
// The engine must outlive the server.
#ifndef NEWSDEDUP_SERVICES_SERVER_DEDUP_SERVER_H_
#define NEWSDEDUP_SERVICES_SERVER_DEDUP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/engine/engine.h"
#include "services/server/access_control.h"
#include "services/server/admin_service.h"
#include "services/server/dedup_service.h"
#include "services/server/prometheus_registry.h"
#include "services/server/reflection_v1.h"
#include "services/server/tls_options.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace newsdedup {

struct ServerOptions {
  // host:port to listen on. Loopback by default: exposing the service is a
  // deliberate choice ("0.0.0.0:50051"). Port 0 picks a free port.
  std::string listen_address = "127.0.0.1:50051";
  // Largest gRPC message accepted, either way. Must exceed
  // limits.max_article_bytes, or big articles fail before validation with a
  // less helpful message.
  int max_message_bytes = 16 * 1024 * 1024;
  // Most threads gRPC may use for the server's work (0: gRPC's default).
  int max_threads = 0;
  // How long Shutdown() lets in-flight calls run before cancelling them.
  absl::Duration shutdown_grace = absl::Seconds(10);
  ServiceLimits limits;
  // When set, every RPC is counted and timed in it (prometheus_metrics.h);
  // it must outlive the server.
  PrometheusRegistry* metrics = nullptr;
  // Set on a replica of a replicated service (docs/replication.md).
  const ReplicaProgress* replica = nullptr;
  // Who may call what (access_control.h); null lets every call through.
  // Health checks and reflection stay open (probes and tools use them).
  // It must outlive the server.
  const AccessControl* access = nullptr;
  // Certificates: set, the port speaks TLS only (mutual TLS with a client
  // CA).
  TlsOptions tls;
};

class DedupServer {
 public:
  // Builds and starts the server. Errors: kInvalidArgument for bad options,
  // those of ReadTlsFiles, kUnavailable if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<DedupServer>> Start(
      const ServerOptions& options, ClusteringEngine* engine);

  ~DedupServer();  // shuts down if still running

  // The bound port (resolved when the address asked for port 0).
  int port() const { return port_; }

  // Reports NOT_SERVING to health checks, stops accepting calls (new ones
  // get UNAVAILABLE), lets in-flight calls finish within the grace period,
  // then cancels what is left.
  void Shutdown();

  // Blocks until Shutdown() has completed.
  void Wait();

  // Health checks report NOT_SERVING (overall and for
  // newsdedup.v1.DedupService) while the engine cannot take changes, and
  // SERVING again once it can; reads are answered throughout. Ignored
  // after Shutdown().
  void ReportWritable(bool writable);

 private:
  DedupServer(const ServerOptions& options, ClusteringEngine* engine);

  const ServerOptions options_;
  DedupServiceImpl service_;
  AdminServiceImpl admin_;
  ReflectionV1Service reflection_v1_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_DEDUP_SERVER_H_
