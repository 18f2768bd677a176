// A replica's checkpoints kept beside its store (docs/replication.md):
// under `dir`, the engine's store in `store/` and the newest checkpoint, a
// RocksDB backup, in `checkpoints/<sequence>/`, named by the file
// `checkpoints/LATEST` (written by rename once the backup is complete, so
// a crash mid-save leaves the previous checkpoint in force).
#ifndef NEWSDEDUP_SERVICES_REPLICA_CHECKPOINTS_H_
#define NEWSDEDUP_SERVICES_REPLICA_CHECKPOINTS_H_

#include <memory>
#include <string>

#include "services/replicated_engine.h"

namespace newsdedup {

// The directory the replica's engine must open its store in.
std::string ReplicaStorePath(const std::string& dir);

std::unique_ptr<ReplicaCheckpoints> NewStoreCheckpoints(const std::string& dir);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_REPLICA_CHECKPOINTS_H_
