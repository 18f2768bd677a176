// The replicated change log on NATS JetStream (Debian's libnats-dev 3.4 and
// nats-server 2.9): one stream, file storage, replicated by the NATS
// cluster with Raft. Appends are acknowledged once the stream has stored
// the entry on a quorum of its servers; readers are ordered consumers
// (no acks, in stream order, recreated from the last sequence seen after a
// server is lost).
#ifndef NEWSDEDUP_SERVICES_REPLICATION_JETSTREAM_LOG_H_
#define NEWSDEDUP_SERVICES_REPLICATION_JETSTREAM_LOG_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/replication/checkpoint_shelf.h"
#include "services/replication/replication_log.h"

namespace newsdedup {

struct JetStreamLogOptions {
  // NATS servers, e.g. {"nats://127.0.0.1:4222", "nats://127.0.0.1:4223"}:
  // the client connects to one and fails over to the others.
  std::vector<std::string> servers;
  // The stream; created if missing (subject "<stream>.log").
  std::string stream = "newsdedup";
  // Copies of the stream the NATS cluster keeps (1, 3 or 5). A write is
  // acknowledged once a majority has it.
  int replicas = 3;
  // Appends with the same dedup id within this window are stored once.
  absl::Duration duplicate_window = absl::Minutes(2);
  // Entries older than this are dropped from the stream (0: kept forever).
  // A replica that starts with an empty state replays the stream from its
  // first entry, so this must not drop what a new replica needs.
  absl::Duration max_age = absl::ZeroDuration();
  // NATS credentials file (JWT and NKey seed), and a CA bundle for TLS
  // (servers then must speak TLS); empty: none.
  std::string credentials_file;
  std::string tls_ca_file;
  // How long to wait for the first connection and the stream.
  absl::Duration connect_timeout = absl::Seconds(60);
};

// Connects, creates the stream if it is missing, and returns the log.
// Errors: INVALID_ARGUMENT for bad options, UNAVAILABLE when no server or
// no JetStream answered within connect_timeout.
absl::StatusOr<std::unique_ptr<ReplicationLog>> OpenJetStreamLog(
    const JetStreamLogOptions& options);

// The replicas' shared checkpoints in a second stream, "<stream>_checkpoints"
// (subjects "<stream>.checkpoints.>", as many copies as the log): the first
// replica to claim a checkpoint (a message whose id names it: JetStream
// stores one) publishes its files in chunks, then an index message; a new
// replica fetches the newest indexed one. Older checkpoints' chunks are
// purged once a newer one is indexed. Errors: as OpenJetStreamLog.
absl::StatusOr<std::unique_ptr<CheckpointShelf>> OpenJetStreamShelf(
    const JetStreamLogOptions& options);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_REPLICATION_JETSTREAM_LOG_H_
