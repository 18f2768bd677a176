// One connection to NATS and its JetStream context, for the parts that
// speak to JetStream (the replication log and checkpoint shelf, ingest
// from a stream): owners of the C client's objects, errors as Status, and
// retries through the leader elections of a NATS cluster.
#ifndef NEWSDEDUP_SERVICES_REPLICATION_NATS_CONNECTION_H_
#define NEWSDEDUP_SERVICES_REPLICATION_NATS_CONNECTION_H_

#include <nats/nats.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace newsdedup {

// Owners of the C client's objects.
struct NatsDeleter {
  void operator()(natsOptions* p) const { natsOptions_Destroy(p); }
  void operator()(natsConnection* p) const { natsConnection_Destroy(p); }
  void operator()(jsCtx* p) const { jsCtx_Destroy(p); }
  void operator()(natsMsg* p) const { natsMsg_Destroy(p); }
  void operator()(jsMsgMetaData* p) const { jsMsgMetaData_Destroy(p); }
  void operator()(jsPubAck* p) const { jsPubAck_Destroy(p); }
  void operator()(jsStreamInfo* p) const { jsStreamInfo_Destroy(p); }
};
template <typename T>
using NatsPtr = std::unique_ptr<T, NatsDeleter>;

// A failed call as a Status: timeouts and lost connections are UNAVAILABLE
// (the caller may retry elsewhere); the rest are INTERNAL.
absl::Status NatsError(absl::string_view what, natsStatus s,
                       jsErrCode code = static_cast<jsErrCode>(0));

// `d` in milliseconds, at least 1 (the C client's timeouts).
int64_t Millis(absl::Duration d);

// JetStream API requests time out while the cluster elects its leaders (a
// NATS server just died or came back) and are answered a moment later:
// `attempt` is tried with short waits (`o`'s) until `timeout` has passed.
// `attempt` returns nullopt to be tried again, with `*last` saying why.
template <typename T, typename Attempt>
T RetryThroughElections(absl::Duration timeout, Attempt attempt) {
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = Millis(std::min(timeout, absl::Seconds(2)));
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last;
  do {
    std::optional<T> done = attempt(&o, &last);
    if (done.has_value()) return *std::move(done);
    absl::SleepFor(absl::Milliseconds(200));
  } while (absl::Now() < deadline);
  return last;
}

// Where and how to connect.
struct NatsEndpoint {
  // e.g. {"nats://127.0.0.1:4222", "nats://127.0.0.1:4223"}: the client
  // connects to one and fails over to the others, for ever.
  std::vector<std::string> servers;
  // NATS credentials file (JWT and NKey seed), and a CA bundle for TLS
  // (servers then must speak TLS); empty: none.
  std::string credentials_file;
  std::string tls_ca_file;
  // How long to keep trying the first connection while no server listens.
  absl::Duration connect_timeout = absl::Seconds(60);
};

// A connection and its JetStream context.
struct Connection {
  NatsPtr<natsConnection> conn;
  NatsPtr<jsCtx> js;
};

// Connects (trying again while no server listens, until connect_timeout)
// and opens JetStream. Errors: INVALID_ARGUMENT for bad servers,
// credentials or TLS files; UNAVAILABLE when no server answered in time.
absl::StatusOr<Connection> ConnectToJetStream(const NatsEndpoint& endpoint);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_REPLICATION_NATS_CONNECTION_H_
