// The service's Prometheus metrics: every RPC counted and timed by method
// and status code (a gRPC server interceptor), the engine's state read at
// scrape time (articles by relation, live clusters, vectors per index
// shard, embedding time, store size and queue depths), and the process's
// own figures. (Quality scores of a clustering are tools/quality_scores.h.)
#ifndef NEWSDEDUP_SERVICES_SERVER_PROMETHEUS_METRICS_H_
#define NEWSDEDUP_SERVICES_SERVER_PROMETHEUS_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

#include "services/engine/engine.h"
#include "services/replica/replicated_engine.h"
#include "services/server/prometheus_registry.h"

namespace newsdedup {

// Interceptor factory for ServerBuilder: newsdedup_grpc_requests_total
// {grpc_service,grpc_method,grpc_code},
// newsdedup_grpc_request_duration_seconds and
// newsdedup_grpc_message_latency_seconds {grpc_service,grpc_method},
// newsdedup_grpc_requests_in_flight, newsdedup_grpc_received_messages_total
// {grpc_service,grpc_method}. `registry` must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewGrpcMetricsInterceptorFactory(PrometheusRegistry* registry);

// The process's own figures, under the names Prometheus client libraries
// use: process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds and
// process_start_time_seconds (read from /proc/self at each scrape).
void RegisterProcessMetrics(PrometheusRegistry* registry);

// Declares the engine's metrics and a scrape hook that refreshes them from
// engine->stats() (and the size of `data_dir` when not empty). `engine`
// must outlive the registry's use.
void RegisterEngineMetrics(const ClusteringEngine* engine,
                           const std::string& data_dir,
                           PrometheusRegistry* registry);

// A replica's place in the change log (newsdedup_replication_applied_
// sequence, newsdedup_replication_log_sequence) and its state digest
// (newsdedup_state_digest: the low 52 bits, exact in a float; equal on
// replicas that applied the same entries). `replica` must outlive the
// registry's use.
void RegisterReplicaMetrics(const ReplicatedEngine* replica,
                            PrometheusRegistry* registry);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_PROMETHEUS_METRICS_H_
