// An engine replica: every change goes through the replicated change log,
// and every replica applies the whole log, in order, to its own engine.
//
// A write (Assign, AssignBatch, DeleteArticle) is appended to the log and
// answered once this replica's engine has applied that entry, with the
// answer its engine computed there; since the engine's decisions depend
// only on the log (its clock is the entry's log time, entries are applied
// one at a time), every replica computed the same answer. A write is
// acknowledged only after the log confirmed it stored the entry on a
// quorum; when it cannot, the write fails with UNAVAILABLE and nothing was
// acknowledged. Reads are answered by the local engine at once, however
// far it has applied (applied_sequence() says how far; WaitForSequence
// lets a reader wait for its own earlier write).
//
// The replica's engine lives in memory: at start it replays the log from
// its first entry, and reports not writable (health: NOT_SERVING) until
// it has applied everything the log held when it last looked.
// See docs/replication.md.
#ifndef NEWSDEDUP_SERVICES_REPLICA_REPLICATED_ENGINE_H_
#define NEWSDEDUP_SERVICES_REPLICA_REPLICATED_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/engine/engine.h"
#include "services/replica/replica_progress.h"
#include "services/replication/checkpoint_shelf.h"
#include "services/replication/replication_log.h"

namespace newsdedup {

// A replica's local persistence: its engine's store saved as of a
// checkpoint entry of the log. Every replica of a stream must have one
// (checkpoints change the engine's state: it is rebuilt from its store).
class ReplicaCheckpoints {
 public:
  virtual ~ReplicaCheckpoints() = default;
  using Point = CheckpointPoint;
  // Writes a backup of the engine's open store into the directory given.
  using BackupFunction = std::function<absl::Status(const std::string& dir)>;

  // The directory the engine opens its store in.
  virtual std::string StorePath() const = 0;
  // Restores the newest saved checkpoint into a new store directory (an
  // empty one when there is none), which becomes StorePath(), removes
  // every other, and says which entry the checkpoint was saved at. Called
  // with no engine open.
  virtual absl::StatusOr<Point> Restore() = 0;
  // Saves the open store through `backup` as the checkpoint at `point`
  // (replacing the previous one only once complete), then restores it
  // into a new store directory, which becomes StorePath(): the caller
  // builds its next engine there while the current one goes on answering.
  // On error StorePath() is unchanged.
  virtual absl::Status Save(const Point& point,
                            const BackupFunction& backup) = 0;
  // Removes the store directories other than StorePath(), once no engine
  // has them open.
  virtual void RemoveOldStores() = 0;
  // The entry of the newest checkpoint other replicas shared (0: none, or
  // nothing is shared).
  virtual absl::StatusOr<uint64_t> NewestShared() { return 0; }
};

struct ReplicationOptions {
  // How long a write waits for the log to confirm an entry.
  absl::Duration append_timeout = absl::Seconds(5);
  // How long a write then waits for this replica to apply it.
  absl::Duration apply_timeout = absl::Seconds(30);
  // Answers kept for entries applied here, so that a resend (which the log
  // stores once) gets the answer of the first send.
  int kept_answers = 1 << 16;
  // How often the replica asks the log how far it reaches (catch-up and
  // reachability for health).
  absl::Duration poll_interval = absl::Milliseconds(500);
  // A reader that delivers nothing this long while the log is ahead is
  // replaced by a new one from the next entry (its server may be gone).
  absl::Duration stalled_reader_timeout = absl::Seconds(2);
  // Local persistence (null: none; the replica replays the whole log at
  // start, and neither asks for nor applies checkpoints).
  std::shared_ptr<ReplicaCheckpoints> checkpoints;
  // With checkpoints: a caught-up replica appends a checkpoint entry once
  // the log has grown by this many entries since the last one (0: never).
  int64_t checkpoint_every = 0;
  // Called for each entry that could not be applied (kept out of the
  // engine on every replica alike), for logging.
  std::function<void(uint64_t sequence, const absl::Status&)> on_rejected;
  // Called when this replica cannot apply the entry at `sequence` for a
  // reason of its own (its store cannot take changes now): it holds there,
  // not writable, retrying, and on_resumed is called once it applied it.
  std::function<void(uint64_t sequence, const absl::Status&)> on_stalled;
  std::function<void(uint64_t sequence)> on_resumed;
  // Called when the entries before `sequence` that this replica needs were
  // purged from the log: it restores the newest shared checkpoint.
  std::function<void(uint64_t sequence, const absl::Status&)> on_purged;
  // Called when entries `from` to `to` were stepped over because the log
  // no longer holds them (deleted by an operator: ReplicationLog::Delete).
  std::function<void(uint64_t from, uint64_t to)> on_stepped_over;
};

class ReplicatedEngine : public ClusteringEngine, public ReplicaProgress {
 public:
  // What the replica hands the engine it builds (EngineOptions' fields of
  // the same names): the clock it must use, the log time of the entry
  // being applied, and that entry's sequence.
  struct LogPosition {
    std::function<absl::Time()> clock;
    std::function<uint64_t()> log_sequence;
    // With checkpoints: the directory to open the engine's store in.
    std::string store_path;
  };
  // Builds the replica's engine with `build`, then starts applying the log
  // from its first entry (or its checkpoint's). Errors: those of `build`
  // and of the log.
  using EngineBuilder =
      std::function<absl::StatusOr<std::unique_ptr<ClusteringEngine>>(
          const LogPosition& position)>;
  static absl::StatusOr<std::unique_ptr<ReplicatedEngine>> Start(
      std::unique_ptr<ReplicationLog> log, const EngineBuilder& build,
      ReplicationOptions options = {});

  // The checkpoint this replica started from (0: the log's beginning).
  virtual uint64_t start_sequence() const = 0;
  // OK once everything the log held at start is applied and the log is
  // reachable; UNAVAILABLE saying which is not.
  absl::Status Writable() const override = 0;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_REPLICA_REPLICATED_ENGINE_H_
