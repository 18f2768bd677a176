// Index snapshots: the graphs of the vector index, written when an engine
// on a store closes in step with it, and read back at the next start
// instead of built again (graph inserts are most of a restart's work).
//
// A snapshot is only an acceleration. It is valid for the store exactly as
// the engine that wrote it left it: the next start reads it (if its
// checksum, its store position and its embedder agree) and then deletes
// it before anything can change the store, so a snapshot never outlives
// the state it describes. Whatever is wrong with one, the start rebuilds
// the graphs as if there were none.
//
// Layout: kSnapshotMagic, the store's next_seq and newest time, the
// embedder's fingerprint, VectorIndex::WriteGraphs' bytes (vertices named
// by ProvisionalId of their article's seq), then XXH3-64 of everything
// before it.
#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/pod_io.h"
#include "common/status_macros.h"
#include "services/engine/engine_impl.h"
#include "services/engine/internal/engine_factory.h"

namespace newsdedup {
namespace internal {
namespace {

// "NDSNAP01".
constexpr uint64_t kSnapshotMagic = 0x31305041'4e53444eULL;
constexpr size_t kChecksumBytes = sizeof(uint64_t);
constexpr size_t kMaxFingerprintBytes = 1 << 16;

// XXH3-64 of the first `size` bytes of the file at `path`.
absl::StatusOr<uint64_t> ChecksumOf(const std::string& path, uint64_t size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  std::vector<char> chunk(1 << 20);
  uint64_t left = size;
  while (left > 0) {
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
    if (!in.read(chunk.data(), static_cast<std::streamsize>(n))) break;
    XXH3_64bits_update(state, chunk.data(), n);
    left -= n;
  }
  const uint64_t checksum = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  if (left > 0) return absl::DataLossError(absl::StrCat("short file ", path));
  return checksum;
}

// The newest publication time as a snapshot records it: a store of
// undated articles alone has none (InfinitePast, which Unix nanoseconds
// cannot say).
int64_t NewestForSnapshot(absl::Time newest) {
  return newest == absl::InfinitePast() ? std::numeric_limits<int64_t>::min()
                                        : absl::ToUnixNanos(newest);
}

// Flushes `path` to the disk (a snapshot renamed into place must not turn
// out empty after a power loss; the checksum would catch it, but a start
// would then rebuild for nothing).
absl::Status SyncFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path));
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return absl::InternalError(absl::StrCat("cannot sync ", path));
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteIndexSnapshot(ClusteringEngine& engine_proper) {
  return static_cast<ClusteringEngineImpl&>(engine_proper).WriteIndexSnapshot();
}

int64_t ClusteringEngineImpl::ProvisionalId(int64_t seq) { return -seq - 2; }

absl::Status ClusteringEngineImpl::WriteIndexSnapshot() {
  if (store_ == nullptr) return absl::OkStatus();
  const std::string path = store_->snapshot_path();
  if (path.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(store_->WaitDurable(last_ticket_));
  const std::string temporary = path + ".tmp";
  // A failed write leaves no partial file behind.
  absl::Cleanup remove_temporary = [&temporary] {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
  };
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    WritePod(out, kSnapshotMagic);
    WritePod<int64_t>(out, next_seq_);
    WritePod<int64_t>(out, NewestForSnapshot(newest_));
    const std::string fingerprint = embedder_->fingerprint();
    WritePod<uint64_t>(out, fingerprint.size());
    out.write(fingerprint.data(),
              static_cast<std::streamsize>(fingerprint.size()));
    RETURN_IF_ERROR(index_
                        ->WriteGraphs(out, OldestIndexedBucket(),
                                      [this](int64_t a) {
                                        return articles_.contains(a)
                                                   ? ProvisionalId(
                                                         articles_[a].seq)
                                                   : -1;  // refused when read
                                      })
                        .status());
    out.close();
    if (!out) return absl::DataLossError(absl::StrCat("cannot write ", path));
  }
  const uint64_t size = std::filesystem::file_size(temporary);
  ASSIGN_OR_RETURN(const uint64_t checksum, ChecksumOf(temporary, size));
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::app);
    WritePod(out, checksum);
    out.close();
    if (!out) return absl::DataLossError(absl::StrCat("cannot write ", path));
  }
  RETURN_IF_ERROR(SyncFile(temporary));
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", temporary, ": ", error.message()));
  }
  // The store refuses to open on a nearly full disk (RocksDbStoreOptions::
  // min_free_bytes), and the next start deletes the snapshot only once
  // open: a snapshot that took the last free space would stop that start.
  if (absl::Status writable = store_->Writable(); !writable.ok()) {
    std::filesystem::remove(path, error);
    return absl::ResourceExhaustedError(absl::StrCat(
        "snapshot removed, the disk is nearly full: ", writable.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::flat_hash_map<int64_t, int64_t>>
ClusteringEngineImpl::ReadIndexSnapshot(int64_t stored_next_seq,
                                        absl::Time stored_newest,
                                        int64_t keep_from_bucket) {
  absl::flat_hash_map<int64_t, int64_t> bucket_of_seq;
  const std::string path = store_->snapshot_path();
  if (path.empty()) return bucket_of_seq;
  // Used or not, the snapshot goes before the store can change (with what
  // a stop that failed half-way left).
  absl::Cleanup remove_snapshot = [&path] {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
    std::filesystem::remove(path + ".tmp", ignored);
  };
  std::error_code error;
  const uint64_t size = std::filesystem::file_size(path, error);
  if (error) return bucket_of_seq;  // none: the last stop was not clean
  if (size < kChecksumBytes) return absl::DataLossError("snapshot too short");
  ASSIGN_OR_RETURN(const uint64_t checksum,
                   ChecksumOf(path, size - kChecksumBytes));
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(size - kChecksumBytes));
  uint64_t written_checksum = 0;
  if (!ReadPod(in, &written_checksum) || written_checksum != checksum) {
    return absl::DataLossError("snapshot checksum does not match");
  }
  in.seekg(0);
  uint64_t magic = 0;
  int64_t next_seq = 0;
  int64_t newest_nanos = 0;
  uint64_t fingerprint_size = 0;
  if (!ReadPod(in, &magic) || magic != kSnapshotMagic ||
      !ReadPod(in, &next_seq) || !ReadPod(in, &newest_nanos) ||
      !ReadPod(in, &fingerprint_size) ||
      fingerprint_size > kMaxFingerprintBytes) {
    return absl::DataLossError("not a snapshot");
  }
  std::string fingerprint(fingerprint_size, '\0');
  if (!in.read(fingerprint.data(),
               static_cast<std::streamsize>(fingerprint_size))) {
    return absl::DataLossError("not a snapshot");
  }
  if (next_seq != stored_next_seq ||
      newest_nanos != NewestForSnapshot(stored_newest)) {
    return absl::FailedPreconditionError(
        "the snapshot is of another store position");
  }
  if (fingerprint != embedder_->fingerprint()) {
    return absl::FailedPreconditionError("the snapshot is of another embedder");
  }
  ASSIGN_OR_RETURN(VectorIndex::SnapshotContents contents,
                   index_->ReadGraphs(in, keep_from_bucket));
  for (const auto& [bucket, ids] : contents) {
    for (int64_t id : ids) bucket_of_seq[ProvisionalId(id)] = bucket;
  }
  return bucket_of_seq;
}

}  // namespace internal
}  // namespace newsdedup
