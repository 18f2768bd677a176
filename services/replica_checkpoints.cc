#include "services/replica_checkpoints.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "services/rocksdb_store.h"

namespace newsdedup {
namespace {

namespace fs = std::filesystem;

absl::Status Removed(const fs::path& path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot remove ", path.string(), ": ", error.message()));
  }
  return absl::OkStatus();
}

class StoreCheckpoints final : public ReplicaCheckpoints {
 public:
  StoreCheckpoints(fs::path dir, std::shared_ptr<CheckpointShelf> shelf)
      : store_(ReplicaStorePath(dir.string())),
        checkpoints_(dir / "checkpoints"),
        shelf_(std::move(shelf)) {}

  absl::StatusOr<Point> Restore() override {
    ASSIGN_OR_RETURN(Point latest, Latest());
    // A newer shared checkpoint beats our own: the log before the shared
    // one's predecessor may have been purged (JetStreamShelf::Publish).
    // The shelf only saves replaying: when it cannot answer, replay.
    if (shelf_ != nullptr) {
      absl::StatusOr<uint64_t> shared = shelf_->NewestSequence();
      if (shared.ok() && *shared > latest.sequence) {
        absl::StatusOr<Point> fetched = FromShelf();
        if (fetched.ok()) latest = *fetched;
      }
      (void)Removed(checkpoints_ / "incoming");
    }
    // The store may hold changes past the checkpoint: they are replayed.
    RETURN_IF_ERROR(Removed(store_));
    if (latest.sequence > 0) {
      RETURN_IF_ERROR(
          RestoreStore(Dir(latest.sequence).string(), store_.string()));
    }
    return latest;
  }

  absl::Status Save(const Point& point) override {
    const fs::path dir = Dir(point.sequence);
    RETURN_IF_ERROR(Removed(dir));
    RETURN_IF_ERROR(BackupStore(store_.string(), dir.string()));
    RETURN_IF_ERROR(SetLatest(point));
    // Older checkpoints are no longer needed.
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(checkpoints_, error)) {
      if (entry.is_directory() && entry.path() != dir) {
        (void)Removed(entry.path());
      }
    }
    if (shelf_ != nullptr) return shelf_->Publish(point, dir.string());
    return absl::OkStatus();
  }

 private:
  // A checkpoint fetched from the shelf, made this replica's own.
  absl::StatusOr<Point> FromShelf() {
    const fs::path incoming = checkpoints_ / "incoming";
    RETURN_IF_ERROR(Removed(incoming));
    ASSIGN_OR_RETURN(Point point, shelf_->FetchNewest(incoming.string()));
    if (point.sequence == 0) return point;
    const fs::path dir = Dir(point.sequence);
    RETURN_IF_ERROR(Removed(dir));
    std::error_code error;
    fs::rename(incoming, dir, error);
    if (error) {
      return absl::InternalError(absl::StrCat(
          "cannot rename ", incoming.string(), ": ", error.message()));
    }
    RETURN_IF_ERROR(SetLatest(point));
    return point;
  }

  // Names `point` the newest checkpoint (by rename: all or nothing).
  absl::Status SetLatest(const Point& point) {
    const fs::path latest = checkpoints_ / "LATEST";
    const fs::path temporary = checkpoints_ / "LATEST.tmp";
    {
      std::ofstream out(temporary, std::ios::trunc);
      out << point.sequence << " " << absl::ToUnixNanos(point.time) << "\n";
      out.flush();
      if (!out) {
        return absl::InternalError(
            absl::StrCat("cannot write ", temporary.string()));
      }
    }
    std::error_code error;
    fs::rename(temporary, latest, error);
    if (error) {
      return absl::InternalError(absl::StrCat(
          "cannot rename ", temporary.string(), ": ", error.message()));
    }
    return absl::OkStatus();
  }

  fs::path Dir(uint64_t sequence) const {
    return checkpoints_ / absl::StrCat(sequence);
  }

  absl::StatusOr<Point> Latest() const {
    std::ifstream in(checkpoints_ / "LATEST");
    if (!in) return Point();
    std::string line;
    std::getline(in, line);
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    Point point;
    int64_t nanos = 0;
    if (fields.size() != 2 || !absl::SimpleAtoi(fields[0], &point.sequence) ||
        !absl::SimpleAtoi(fields[1], &nanos)) {
      return absl::DataLossError(absl::StrCat(
          (checkpoints_ / "LATEST").string(), " is damaged ('", line,
          "'); remove the directory to replay the whole log"));
    }
    point.time = absl::FromUnixNanos(nanos);
    return point;
  }

  const fs::path store_;
  const fs::path checkpoints_;
  const std::shared_ptr<CheckpointShelf> shelf_;
};

}  // namespace

std::string ReplicaStorePath(const std::string& dir) {
  return (fs::path(dir) / "store").string();
}

std::unique_ptr<ReplicaCheckpoints> NewStoreCheckpoints(
    const std::string& dir, std::shared_ptr<CheckpointShelf> shelf) {
  std::error_code error;
  fs::create_directories(fs::path(dir) / "checkpoints", error);
  return std::make_unique<StoreCheckpoints>(fs::path(dir), std::move(shelf));
}

}  // namespace newsdedup
