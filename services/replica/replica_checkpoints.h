// A replica's checkpoints kept beside its store (docs/replication.md):
// under `dir`, the engine's store in `store-<sequence>/` (restored from
// the checkpoint at that sequence; two while the next engine is built)
// and the newest checkpoint, a RocksDB backup, in
// `checkpoints/<sequence>/`, named by the file `checkpoints/LATEST`
// (written by rename once the backup is complete, so a crash mid-save
// leaves the previous checkpoint in force).
#ifndef NEWSDEDUP_SERVICES_REPLICA_REPLICA_CHECKPOINTS_H_
#define NEWSDEDUP_SERVICES_REPLICA_REPLICA_CHECKPOINTS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/replica/replicated_engine.h"
#include "services/replication/checkpoint_shelf.h"

namespace newsdedup {

// The newest store directory under a replica's `dir` (what `admin check`
// reads).
std::string ReplicaStorePath(const std::string& dir);

// Checkpoints under `dir`. With a `shelf`, each saved checkpoint is also
// put on it (in a thread of its own), and a replica whose own is older
// starts from the shelf's newest.
std::unique_ptr<ReplicaCheckpoints> NewStoreCheckpoints(
    const std::string& dir, std::shared_ptr<CheckpointShelf> shelf = nullptr);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_REPLICA_REPLICA_CHECKPOINTS_H_
