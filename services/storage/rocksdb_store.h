// The engine's durable store on RocksDB, and the operations an operator
// runs on a data directory (backup, restore, compaction, integrity check).
//
//   RocksDbStoreOptions options;
//   options.path = "newsdedup-data";
//   options.embedder_fingerprint = EmbedderFingerprint(...);
//   ASSIGN_OR_RETURN(std::unique_ptr<EngineStore> store,
//                    OpenRocksDbStore(options));
//
// Layout: one RocksDB database; key "m" holds the StoreMeta, "a" + 8-byte
// big-endian seq an article, "c" + 8-byte big-endian number a cluster,
// "e" + 8-byte big-endian cursor a change feed event (records in
// newsdedup/storage/v1/state.proto). Every batch is one atomic
// RocksDB write through its write-ahead log.
#ifndef NEWSDEDUP_SERVICES_STORAGE_ROCKSDB_STORE_H_
#define NEWSDEDUP_SERVICES_STORAGE_ROCKSDB_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/engine/engine_store.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace newsdedup {

// When a batch counts as durable.
enum class SyncPolicy {
  // Written to the write-ahead log and fsynced before the answer: survives
  // a crash of the process and of the machine (power loss). The default.
  kAlways,
  // Written to the write-ahead log (the operating system's page cache)
  // before the answer, fsynced by the operating system later: survives a
  // crash of the process (kill -9), may lose the last seconds on power
  // loss. Faster on disks with slow fsync.
  kNone,
};

// Parses "always" or "none". Errors: kInvalidArgument.
absl::StatusOr<SyncPolicy> ParseSyncPolicy(absl::string_view name);

// What to do when the write-ahead log ends in an incomplete record at start
// and the store does not know how it got there. It drops by itself the
// record of a write that failed, or of a write cut off when the last server
// to use the store died holding it (kill -9, power loss): neither was ever
// acknowledged. After a clean close the log was cut by other means, and
// acknowledged articles are missing.
enum class WalTailPolicy {
  // Refuse to start (kDataLoss); the operator decides.
  kRefuse,
  // Drop the incomplete record and start (reported through `warn`).
  kDrop,
};

struct RocksDbStoreOptions {
  std::string path;  // the data directory
  SyncPolicy sync = SyncPolicy::kAlways;
  // Identifies the embedder; a store built by another one is refused
  // (its clusters would not match what this embedder computes).
  std::string embedder_fingerprint;
  // Opening fails when the data directory's file system has less free
  // space than this: better a clear error at start than failed writes.
  int64_t min_free_bytes = int64_t{64} << 20;
  WalTailPolicy wal_tail = WalTailPolicy::kRefuse;
  // Receives warnings: a dropped log tail, a failed write, writes resumed.
  std::function<void(const std::string&)> warn;
  // The file system RocksDB uses (null: the default); tests inject faults.
  rocksdb::Env* env = nullptr;
  // Writes RocksDB gathers in memory before it writes them out as a table
  // file; up to twice this is held while one buffer flushes. Larger takes
  // bursts with fewer compactions, smaller keeps the server's memory
  // close to what its articles need.
  int64_t write_buffer_bytes = int64_t{8} << 20;
  // Keep the index's graphs in a file beside the records from a clean stop
  // to the next start (EngineStore::snapshot_path), which then reads them
  // instead of building them again. Off for a replica: every replica
  // restarts from a checkpoint with graphs built exactly as every other
  // replica built them there (docs/replication.md).
  bool index_snapshot = true;
};

// Opens (creating if needed) the store in options.path. Errors, each with
// a message that names the directory and what to do:
// kFailedPrecondition when another process holds the directory, when it
// was written by another embedder or a newer format, or when the disk is
// (nearly) full; kDataLoss for a store that cannot be read back in full:
// a damaged write-ahead log or table, or a log ending in an incomplete
// record unless options.wal_tail says to drop it. A store is checked
// read-only (log replay and every block checksum) before it is opened for
// writing, so a refusal leaves every file as it was. kInternal for other
// I/O errors.
absl::StatusOr<std::unique_ptr<EngineStore>> OpenRocksDbStore(
    const RocksDbStoreOptions& options);

// Opens the store in `path` for reading alone: no lock is taken and
// nothing is written, so it may be open beside a server (it sees the
// state of the server's last flush plus its write-ahead log). An engine
// recovers from it as from its own store; every change is refused
// (kFailedPrecondition). Errors: kNotFound without a store;
// kFailedPrecondition for a store of another embedder or a newer format;
// kDataLoss or kInternal when RocksDB cannot open it.
absl::StatusOr<std::unique_ptr<EngineStore>> OpenRocksDbStoreForReading(
    const std::string& path, const std::string& embedder_fingerprint);

// Whether `path` holds a store (of any state; opening it says more).
bool StoreExists(const std::string& path);

// Bytes the store's files take on disk.
absl::StatusOr<int64_t> StoreSizeBytes(const std::string& path);

// Operator commands; the data directory must not be in use by a server
// (kFailedPrecondition otherwise).

// Adds an (incremental) backup of the store at `path` to `backup_dir`.
absl::Status BackupStore(const std::string& path,
                         const std::string& backup_dir);

// Restores the latest backup in `backup_dir` into `path`, which must not
// hold a store (kAlreadyExists otherwise: restore never overwrites data).
absl::Status RestoreStore(const std::string& backup_dir,
                          const std::string& path);

// Compacts the whole key range (reclaims space of deleted articles).
absl::Status CompactStore(const std::string& path);

// Reads every record without changing anything, as RocksDB knows them:
// block checksums, records that do not parse or name another key, unknown
// keys, the meta record and its counters behind the records. Whether the
// records make one consistent state (merge chains, placements,
// representatives) is the engine's to say: `admin check` then recovers an
// engine from OpenRocksDbStoreForReading, as a restart would. Returns the
// problems found (empty when healthy); errors only when the store cannot
// be opened at all.
struct StoreCheckReport {
  int64_t articles = 0;
  int64_t clusters = 0;  // cluster records, merged and emptied ones too
  std::vector<std::string> problems;
  // On a replica's store: the newest log entry whose changes it holds.
  uint64_t log_sequence = 0;
};
absl::StatusOr<StoreCheckReport> CheckStore(const std::string& path);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_STORAGE_ROCKSDB_STORE_H_
