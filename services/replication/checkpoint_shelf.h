// Where replicas share their checkpoints, so that a new one starts from
// the newest instead of replaying the whole log (jetstream_log.h keeps
// them in a JetStream stream beside the log). A checkpoint is a directory
// of files; what they hold is the replica's business
// (services/replica/replica_checkpoints.h).
#ifndef NEWSDEDUP_SERVICES_REPLICATION_CHECKPOINT_SHELF_H_
#define NEWSDEDUP_SERVICES_REPLICATION_CHECKPOINT_SHELF_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace newsdedup {

// Which log entry a checkpoint was made at.
struct CheckpointPoint {
  uint64_t sequence = 0;  // 0: no checkpoint
  absl::Time time;        // the checkpoint entry's log time
};

class CheckpointShelf {
 public:
  virtual ~CheckpointShelf() = default;
  // Puts the files under `dir` on the shelf as checkpoint `point`, unless
  // another replica already does so for this checkpoint.
  virtual absl::Status Publish(const CheckpointPoint& point,
                               const std::string& dir) = 0;
  // The sequence of the newest complete checkpoint on the shelf (0: none).
  virtual absl::StatusOr<uint64_t> NewestSequence() = 0;
  // Writes the newest complete checkpoint on the shelf into `dir` (which
  // must not exist) and says which it is (sequence 0: the shelf is empty).
  virtual absl::StatusOr<CheckpointPoint> FetchNewest(
      const std::string& dir) = 0;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_REPLICATION_CHECKPOINT_SHELF_H_
