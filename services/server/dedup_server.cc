#include "services/server/dedup_server.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "services/server/prometheus_metrics.h"

namespace newsdedup {

DedupServer::DedupServer(const ServerOptions& options, ClusteringEngine* engine)
    : options_(options),
      service_(engine, options.limits, options.replica, options.access),
      admin_(engine, options.replica, options.access),
      reflection_v1_(
          {v1::DedupService::service_full_name(),
           v1::AdminService::service_full_name(), "grpc.health.v1.Health",
           "grpc.reflection.v1alpha.ServerReflection",
           grpc::reflection::v1::ServerReflection::service_full_name()}) {}

absl::StatusOr<std::unique_ptr<DedupServer>> DedupServer::Start(
    const ServerOptions& options, ClusteringEngine* engine) {
  if (engine == nullptr) {
    return absl::InvalidArgumentError("engine must not be null");
  }
  if (options.max_threads < 0) {
    return absl::InvalidArgumentError("max_threads must be >= 0");
  }
  if (options.max_message_bytes <= 0) {
    return absl::InvalidArgumentError("max_message_bytes must be positive");
  }
  absl::StatusOr<TlsMaterial> tls = ReadTlsFiles(options.tls);
  if (!tls.ok()) return tls.status();
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::InsecureServerCredentials();
  if (options.tls.enabled()) {
    grpc::SslServerCredentialsOptions ssl(
        tls->client_ca.empty()
            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = tls->client_ca;
    ssl.pem_key_cert_pairs.push_back({tls->key, tls->cert});
    credentials = grpc::SslServerCredentials(ssl);
  }
  // Process-wide switches; both must be set before a builder is created.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<DedupServer> server(new DedupServer(options, engine));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, credentials, &server->port_);
  // gRPC sets SO_REUSEPORT by default, which lets a second server bind the
  // same port and take half of the new connections to another store.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(&server->service_);
  builder.RegisterService(&server->admin_);
  builder.RegisterService(&server->reflection_v1_);
  if (options.metrics != nullptr) {
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(NewGrpcMetricsInterceptorFactory(options.metrics));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  if (options.max_threads > 0) {
    grpc::ResourceQuota quota("newsdedup");
    quota.SetMaxThreads(options.max_threads);
    builder.SetResourceQuota(quota);
  }
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address,
                     " (address in use or malformed?)"));
  }
  // Both names from the start: a probe configured with the service's name
  // must get an answer on a fresh server, not NOT_FOUND.
  server->ReportWritable(engine->Writable().ok());
  return server;
}

DedupServer::~DedupServer() { Shutdown(); }

void DedupServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_ || server_ == nullptr) return;  // null: never started
    shut_down_ = true;
  }
  server_->GetHealthCheckService()->SetServingStatus(false);
  service_.StopWatchers();  // a watch never ends by itself
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoSeconds(options_.shutdown_grace));
}

void DedupServer::Wait() { server_->Wait(); }

void DedupServer::ReportWritable(bool writable) {
  absl::MutexLock lock(&mu_);
  if (shut_down_ || server_ == nullptr) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  health->SetServingStatus(writable);
  health->SetServingStatus(v1::DedupService::service_full_name(), writable);
}

}  // namespace newsdedup
