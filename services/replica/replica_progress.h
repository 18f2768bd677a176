// How far a replica has applied the replicated change log
// (docs/replication.md), for the service's consistency metadata: every
// answer says which entry the replica had applied, and a read may ask to
// wait for an entry it wrote through another replica.
#ifndef NEWSDEDUP_SERVICES_REPLICA_REPLICA_PROGRESS_H_
#define NEWSDEDUP_SERVICES_REPLICA_REPLICA_PROGRESS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace newsdedup {

class ReplicaProgress {
 public:
  virtual ~ReplicaProgress() = default;
  // The newest log entry this replica has applied (0: none).
  virtual uint64_t applied_sequence() const = 0;
  // The newest entry the log held when last asked (0 before the first
  // answer); applied_sequence() less this is how stale reads are.
  virtual uint64_t log_sequence() const = 0;
  // Waits until entry `sequence` is applied here or `deadline` passes;
  // whether it was.
  virtual bool WaitForSequence(uint64_t sequence,
                               absl::Time deadline) const = 0;
};

// A read that asked for entry `wanted` (as the client wrote it; `name` is
// the field it came in, for the error) waits for it until `deadline`:
// INVALID_ARGUMENT when it is not a sequence number, UNAVAILABLE saying
// how far this replica got when the deadline passes. The gRPC metadata
// and the JSON API's ?min_sequence= both wait here.
absl::Status AwaitSequence(const ReplicaProgress& replica,
                           absl::string_view name, absl::string_view wanted,
                           absl::Time deadline);

// gRPC metadata keys (lower case, as gRPC requires).
// Sent by clients: wait until this entry is applied before answering.
inline constexpr char kMinSequenceKey[] = "x-newsdedup-min-sequence";
// Sent with every answer of a replica.
inline constexpr char kAppliedSequenceKey[] = "x-newsdedup-applied-sequence";
inline constexpr char kLogSequenceKey[] = "x-newsdedup-log-sequence";

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_REPLICA_REPLICA_PROGRESS_H_
