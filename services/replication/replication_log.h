// The replicated change log: one ordered, durable sequence of entries that
// every replica applies, in order, to its own engine (docs/replication.md).
//
// Two implementations: NATS JetStream (services/replication/jetstream_log.h),
// which replicates the stream over a cluster of NATS servers with Raft, and an
// in-memory log for tests of what is built on top.
//
//   std::unique_ptr<ReplicationLog> log = NewInMemoryLog();
//   ASSIGN_OR_RETURN(uint64_t seq, log->Append("id-1", bytes, timeout));
//   ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader, log->Read(1));
//   ASSIGN_OR_RETURN(std::optional<LogRecord> next, reader->Next(timeout));
#ifndef NEWSDEDUP_SERVICES_REPLICATION_REPLICATION_LOG_H_
#define NEWSDEDUP_SERVICES_REPLICATION_REPLICATION_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace newsdedup {

struct LogRecord {
  uint64_t sequence = 0;  // 1, 2, ... in log order, no gaps
  absl::Time time;        // when the log stored it: the replicas' clock
  std::string data;
};

// Reads entries in order from one starting point. One thread at a time;
// destroyed before the log that made it.
class LogReader {
 public:
  virtual ~LogReader() = default;
  // The next entry, or nullopt if none arrived within `timeout`.
  // UNAVAILABLE while the log cannot be reached (reading resumes where it
  // stopped once it can).
  virtual absl::StatusOr<std::optional<LogRecord>> Next(
      absl::Duration timeout) = 0;
};

class ReplicationLog {
 public:
  virtual ~ReplicationLog() = default;

  // Appends `data` and returns its sequence once the log has stored it
  // durably (JetStream: on a quorum of its servers). An entry with the same
  // `dedup_id` stored within the log's duplicate window is not stored again:
  // the earlier entry's sequence is returned. UNAVAILABLE (or
  // DEADLINE_EXCEEDED) when storage was not confirmed within `timeout`;
  // then the entry may or may not be in the log, and appending it again
  // with the same `dedup_id` is safe.
  virtual absl::StatusOr<uint64_t> Append(absl::string_view dedup_id,
                                          absl::string_view data,
                                          absl::Duration timeout) = 0;

  // The sequence of the newest entry (0: empty log).
  virtual absl::StatusOr<uint64_t> LastSequence(absl::Duration timeout) = 0;

  // The sequence of the oldest entry the log still holds: entries before
  // it were purged. Sequences after it may still be missing (JetStream
  // 2.9 can skip sequence numbers across leader changes); those held no
  // entry, for any reader.
  virtual absl::StatusOr<uint64_t> FirstSequence(absl::Duration timeout) = 0;

  // Whether the log holds an entry at `sequence` (between its first and
  // last): false for one deleted (Delete) or a number the log skipped.
  // Every replica gets the same answer, so every replica steps over the
  // same missing numbers (ReplicatedEngine).
  virtual absl::StatusOr<bool> Holds(uint64_t sequence,
                                     absl::Duration timeout) = 0;

  // Deletes the entry at `sequence`: the operator's way to step over an
  // entry that holds every replica (a newer release's, written by mistake).
  // Replicas step over a number the log no longer holds; one that applied
  // the entry before keeps its effect, so delete only an entry no replica
  // could apply (docs/replication.md). NOT_FOUND when there is none.
  virtual absl::Status Delete(uint64_t sequence, absl::Duration timeout) = 0;

  // A reader from entry `first_sequence` on (1: the whole log).
  virtual absl::StatusOr<std::unique_ptr<LogReader>> Read(
      uint64_t first_sequence) = 0;
};

// A log in this process's memory, for tests: entries are timed by `clock`
// (the wall clock when null), the duplicate window is unbounded, and
// SetAvailable(false) makes Append and LastSequence fail with UNAVAILABLE,
// as a log without quorum does.
class InMemoryLog : public ReplicationLog {
 public:
  virtual void SetAvailable(bool available) = 0;
};
std::unique_ptr<InMemoryLog> NewInMemoryLog(
    std::function<absl::Time()> clock = nullptr);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_REPLICATION_REPLICATION_LOG_H_
