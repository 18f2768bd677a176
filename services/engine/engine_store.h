// Where a ClusteringEngine keeps its state durable.
//
// The engine describes every operation's effects as one Batch (the articles
// it accepted or dropped, the clusters it changed) and stages it while it
// still holds its lock, so batches reach the store in the engine's order.
// It answers the caller only after WaitDurable() returns for that batch:
// nothing acknowledged is ever lost. On start the engine reads everything
// back through Load() and rebuilds its index and centroids from it.
//
// Implementations: the RocksDB store (services/storage/rocksdb_store.h); an
// engine without a store keeps its state in memory only.
#ifndef NEWSDEDUP_SERVICES_ENGINE_ENGINE_STORE_H_
#define NEWSDEDUP_SERVICES_ENGINE_ENGINE_STORE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "newsdedup/storage/v1/state.pb.h"

namespace newsdedup {

// Version of the record layout in newsdedup/storage/v1/state.proto that
// this build reads and writes.
inline constexpr int kStoreFormatVersion = 1;

class EngineStore {
 public:
  // The changes made by one engine operation.
  struct Batch {
    std::vector<storage::v1::StoredArticle> put_articles;
    std::vector<int64_t> delete_articles;  // by seq
    std::vector<storage::v1::StoredCluster> put_clusters;
    std::vector<int64_t> delete_clusters;  // by number
    storage::v1::StoreMeta meta;           // replaces the stored one
    // Change feed events to add, and the cursor below which every event
    // goes (0: none).
    std::vector<storage::v1::StoredFeedEvent> put_events;
    uint64_t delete_events_before = 0;
  };

  // What Load() reports, in this order: the meta record (once, possibly
  // empty for a new store), every cluster by number, every article by seq.
  // A callback's error stops the load and is returned.
  struct Visitor {
    std::function<absl::Status(const storage::v1::StoreMeta&)> meta;
    std::function<absl::Status(const storage::v1::StoredCluster&)> cluster;
    std::function<absl::Status(const storage::v1::StoredArticle&)> article;
  };

  virtual ~EngineStore() = default;

  // Reads the whole store back. Errors: kDataLoss for a record that does
  // not parse; the store's read errors.
  virtual absl::Status Load(const Visitor& visitor) = 0;

  // Up to `limit` stored change feed events after `after_cursor`, in
  // cursor order, into `out` (durable ones, and perhaps some of the batches
  // being written). Errors: kUnimplemented for a store that keeps none;
  // kDataLoss for a record that does not parse; the store's read errors.
  virtual absl::Status ReadEvents(
      uint64_t after_cursor, int limit,
      std::vector<storage::v1::StoredFeedEvent>* out) const {
    (void)after_cursor;
    (void)limit;
    (void)out;
    return absl::UnimplementedError("this store keeps no change feed");
  }

  // Queues `batch` behind every batch staged before it and returns its
  // ticket (increasing from 1). Cheap: called under the engine's lock.
  virtual uint64_t Stage(Batch batch) = 0;

  // Returns once batch `ticket` and all batches before it are durable (as
  // the store's sync policy defines it). Concurrent waiters share one
  // write (group commit). Errors: kUnavailable once a write has failed;
  // the store then refuses every later batch, since the engine's memory
  // is ahead of the disk (restart to recover the durable state).
  virtual absl::Status WaitDurable(uint64_t ticket) = 0;

  // Batches staged but not yet durable (a queue depth, for metrics).
  virtual int64_t pending() const = 0;

  // OK while changes can be written. Errors: kUnavailable when the store
  // cannot take them (its disk is nearly full, or a write failed); the
  // engine then refuses changes before making them, so that a refused
  // change leaves memory as it was.
  virtual absl::Status Writable() const { return absl::OkStatus(); }

  // Failed writes so far (0 while healthy). After one, the engine's memory
  // holds changes the store does not: the engine rebuilds itself from the
  // store when this count grows (see services/engine/durable_engine.cc).
  virtual uint64_t failed_writes() const { return 0; }

  // After a failed write: makes the store writable again if it can (its
  // disk has room again), dropping the batches that failed, whose callers
  // were told. Errors: kUnavailable while it still cannot write.
  virtual absl::Status Resume() { return absl::OkStatus(); }

  // A file where the engine may keep its index's graphs between a clean
  // stop and the next start (engine_snapshot.cc); empty for a store that
  // keeps none (one opened for reading alone).
  virtual std::string snapshot_path() const { return ""; }

  // What a backup holds.
  struct BackupInfo {
    uint32_t id = 0;
    uint64_t size_bytes = 0;
  };

  // Adds a consistent backup of everything durable so far to `backup_dir`
  // while writes go on. Errors: kUnimplemented for a store that cannot;
  // the store's I/O errors.
  virtual absl::StatusOr<BackupInfo> Backup(const std::string& backup_dir) {
    (void)backup_dir;
    return absl::UnimplementedError("this store cannot back up");
  }
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_ENGINE_STORE_H_
