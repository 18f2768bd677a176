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

// Frees a subscription once the connection's read loop is done with it.
// nats.c 3.4 takes a subscription for an incoming message, lets go of the
// connection's lock, then locks the subscription: one freed in between is
// locked after free (nats.c#637, fixed in 3.6; a newcomer replica died of
// it about once in ten failover checks, SIGSEGV in pthread_mutex_trylock).
// Unsubscribed first, the read loop finds it no more; a round trip to the
// server (its PONG is read after every earlier message) lets a message
// already taken finish.
//
// Unsubscribing a JetStream subscription also asks the server to delete its
// consumer, a request that waits out its whole timeout (the connect timeout)
// while no server is reachable: a replica stopped together with its NATS
// servers (Ctrl-C of scripts/replicated.sh) took 15 s and was killed. With
// the connection down, no read loop runs to race with: Destroy unsubscribes
// without that request, and the server drops the ordered consumer left
// behind once it is idle.
struct SubscriptionCloser {
  natsConnection* conn = nullptr;
  void operator()(natsSubscription* sub) const {
    if (conn != nullptr &&
        natsConnection_Status(conn) != NATS_CONN_STATUS_CONNECTED) {
      natsSubscription_Destroy(sub);
      return;
    }
    if (natsSubscription_Unsubscribe(sub) == NATS_OK && conn != nullptr &&
        natsConnection_FlushTimeout(conn, 1000) != NATS_OK) {
      absl::SleepFor(absl::Milliseconds(50));  // no round trip: wait instead
    }
    natsSubscription_Destroy(sub);
  }
};
using SubscriptionPtr = std::unique_ptr<natsSubscription, SubscriptionCloser>;

// Checks the name of a JetStream stream or durable consumer (`what`
// says which, for the message): non-empty, without spaces, dots, * or >.
absl::Status CheckJetStreamName(absl::string_view what, absl::string_view name);

// A stream to create if it does not exist.
struct StreamSpec {
  std::string name;
  std::string subject;  // the one subject it captures
  int replicas = 1;     // copies the NATS cluster keeps
  absl::Duration duplicate_window = absl::Minutes(2);
  absl::Duration max_age = absl::ZeroDuration();  // 0: kept for ever
};

// Finds the stream, or creates it, through leader elections for up to
// `timeout`. An existing stream is taken as it is.
absl::Status EnsureJetStream(jsCtx* js, const StreamSpec& spec,
                             absl::Duration timeout);

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
