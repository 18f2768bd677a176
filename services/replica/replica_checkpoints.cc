#include "services/replica/replica_checkpoints.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <system_error>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "services/storage/rocksdb_store.h"

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

constexpr absl::string_view kStorePrefix = "store-";

// The store directories under `dir`, by the checkpoint each started from.
std::map<uint64_t, fs::path> StoreDirs(const fs::path& dir) {
  std::map<uint64_t, fs::path> out;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    uint64_t sequence = 0;
    if (entry.is_directory() && absl::StartsWith(name, kStorePrefix) &&
        absl::SimpleAtoi(name.substr(kStorePrefix.size()), &sequence)) {
      out[sequence] = entry.path();
    }
  }
  return out;
}

class StoreCheckpoints final : public ReplicaCheckpoints {
 public:
  StoreCheckpoints(fs::path dir, std::shared_ptr<CheckpointShelf> shelf)
      : dir_(std::move(dir)),
        checkpoints_(dir_ / "checkpoints"),
        shelf_(std::move(shelf)),
        store_(ReplicaStorePath(dir_.string())) {}

  ~StoreCheckpoints() override {
    if (publisher_.joinable()) publisher_.join();
  }

  std::string StorePath() const override { return store_.string(); }

  absl::StatusOr<uint64_t> NewestShared() override {
    if (shelf_ == nullptr) return 0;
    return shelf_->NewestSequence();
  }

  absl::StatusOr<Point> Restore() override {
    ASSIGN_OR_RETURN(Point latest, Latest());
    // A newer shared checkpoint beats our own: the log before the shared
    // one's predecessor may have been purged (JetStreamShelf::Publish).
    // The shelf only saves replaying: when it cannot answer, replay.
    if (shelf_ != nullptr) {
      absl::StatusOr<uint64_t> shared = shelf_->NewestSequence();
      if (!shared.ok()) {
        // Said, not swallowed: a newcomer that replays instead may find the
        // log purged and wait for the shelf (a failover check's newcomer
        // applied nothing for five minutes with no word why).
        std::fprintf(stderr,
                     "event=checkpoint_shelf_unreadable level=warning "
                     "error=\"%s\" then=\"replaying the log\"\n",
                     absl::CEscape(shared.status().ToString()).c_str());
      }
      // Which checkpoint a replica starts from, and why, is in its log:
      // a newcomer that found the log purged and no shared checkpoint
      // waited with nothing else to go on (2 clean-clone runs in 10).
      std::fprintf(stderr,
                   "event=checkpoint_lookup level=info own=%llu shared=%s\n",
                   static_cast<unsigned long long>(latest.sequence),
                   shared.ok() ? absl::StrCat(*shared).c_str() : "unreadable");
      if (shared.ok() && *shared > latest.sequence) {
        absl::StatusOr<Point> fetched = FromShelf();
        if (fetched.ok()) {
          latest = *fetched;
        } else {
          std::fprintf(stderr,
                       "event=checkpoint_refused level=warning "
                       "error=\"%s\" then=\"replaying the log\"\n",
                       absl::CEscape(fetched.status().ToString()).c_str());
        }
      }
      (void)Removed(checkpoints_ / "incoming");
    }
    // Stores hold changes past their checkpoint: those are replayed.
    for (const auto& [sequence, path] : StoreDirs(dir_)) {
      RETURN_IF_ERROR(Removed(path));
    }
    RETURN_IF_ERROR(Removed(dir_ / "store"));  // the layout before store-N
    store_ = StoreDir(latest.sequence);
    if (latest.sequence > 0) {
      RETURN_IF_ERROR(
          RestoreStore(Dir(latest.sequence).string(), store_.string()));
    }
    return latest;
  }

  absl::Status Save(const Point& point, const BackupFunction& backup) override {
    // The previous checkpoint's upload must end before its files go.
    if (publisher_.joinable()) publisher_.join();
    const fs::path dir = Dir(point.sequence);
    RETURN_IF_ERROR(Removed(dir));
    RETURN_IF_ERROR(backup(dir.string()));
    RETURN_IF_ERROR(SetLatest(point));
    // Older checkpoints are no longer needed.
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(checkpoints_, error)) {
      if (entry.is_directory() && entry.path() != dir) {
        (void)Removed(entry.path());
      }
    }
    // Other replicas may start from it; the upload runs beside the
    // replica (a failed one is logged: the log still holds the entries).
    if (shelf_ != nullptr) {
      publisher_ = std::thread([this, point, dir] {
        const absl::Status published = shelf_->Publish(point, dir.string());
        if (!published.ok()) {
          std::fprintf(stderr, "replica: sharing checkpoint %llu failed: %s\n",
                       static_cast<unsigned long long>(point.sequence),
                       published.ToString().c_str());
        }
      });
    }
    const fs::path next = StoreDir(point.sequence);
    RETURN_IF_ERROR(Removed(next));
    RETURN_IF_ERROR(RestoreStore(dir.string(), next.string()));
    store_ = next;
    return absl::OkStatus();
  }

  void RemoveOldStores() override {
    for (const auto& [sequence, path] : StoreDirs(dir_)) {
      if (path != store_) (void)Removed(path);
    }
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
  fs::path StoreDir(uint64_t sequence) const {
    return dir_ / absl::StrCat(kStorePrefix, sequence);
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

  const fs::path dir_;
  const fs::path checkpoints_;
  const std::shared_ptr<CheckpointShelf> shelf_;
  fs::path store_;         // the engine's (the applier's thread only)
  std::thread publisher_;  // the newest checkpoint's upload to the shelf
};

}  // namespace

std::string ReplicaStorePath(const std::string& dir) {
  const std::map<uint64_t, fs::path> stores = StoreDirs(dir);
  if (stores.empty()) return (fs::path(dir) / "store-0").string();
  return stores.rbegin()->second.string();
}

std::unique_ptr<ReplicaCheckpoints> NewStoreCheckpoints(
    const std::string& dir, std::shared_ptr<CheckpointShelf> shelf) {
  std::error_code error;
  fs::create_directories(fs::path(dir) / "checkpoints", error);
  return std::make_unique<StoreCheckpoints>(fs::path(dir), std::move(shelf));
}

}  // namespace newsdedup
