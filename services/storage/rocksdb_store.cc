#include "services/storage/rocksdb_store.h"

#include <fcntl.h>
#include <malloc.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/backup_engine.h>
#include <rocksdb/write_batch.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"

namespace newsdedup {
namespace {

using storage::v1::StoredArticle;
using storage::v1::StoredCluster;
using storage::v1::StoredFeedEvent;
using storage::v1::StoreMeta;

constexpr char kMetaKey[] = "m";

// The free space a store that failed a write needs before it reopens
// (unless --min-free-mb asks for more): its recovery writes a table of
// what the log held and a new MANIFEST.
constexpr int64_t kResumeFreeBytes = int64_t{4} << 20;
constexpr char kArticlePrefix = 'a';
constexpr char kClusterPrefix = 'c';
constexpr char kEventPrefix = 'e';

// Prefix byte + big-endian number: keys sort in number order.
std::string NumberKey(char prefix, int64_t number) {
  std::string key(9, '\0');
  key[0] = prefix;
  const uint64_t n = static_cast<uint64_t>(number);
  for (int i = 0; i < 8; ++i) key[8 - i] = static_cast<char>(n >> (8 * i));
  return key;
}

int64_t NumberOfKey(const rocksdb::Slice& key) {
  uint64_t n = 0;
  for (int i = 1; i < 9; ++i) n = (n << 8) | static_cast<uint8_t>(key[i]);
  return static_cast<int64_t>(n);
}

// Maps a RocksDB status to ours, naming the directory and the remedy.
absl::Status FromRocksDb(const rocksdb::Status& s, const std::string& path,
                         absl::string_view action) {
  if (s.ok()) return absl::OkStatus();
  const std::string detail = s.ToString();
  if (s.IsIOError() && absl::StrContains(detail, "lock")) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", path, " is in use by another process (",
                     detail, "); stop it or pick another --data-dir"));
  }
  if (s.IsNoSpace()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no space left for the store in ", path, " while ", action,
                     ": ", detail));
  }
  if (s.IsCorruption()) {
    return absl::DataLossError(absl::StrCat(
        "store in ", path, " is corrupt or truncated (", detail,
        "); nothing was changed. Run `newsdedup admin check --data-dir ", path,
        "` and restore from a backup (`newsdedup admin restore`)"));
  }
  return absl::InternalError(
      absl::StrCat("store in ", path, ": ", action, " failed: ", detail));
}

absl::Status CheckFreeSpace(const std::string& path, int64_t min_free_bytes) {
  struct statvfs fs;
  if (statvfs(path.c_str(), &fs) != 0) return absl::OkStatus();
  const int64_t free_bytes =
      static_cast<int64_t>(fs.f_bavail) * static_cast<int64_t>(fs.f_frsize);
  if (free_bytes < min_free_bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("only ", free_bytes >> 20, " MiB free for the store in ",
                     path, " (need at least ", min_free_bytes >> 20,
                     " MiB); free space or pick another --data-dir"));
  }
  return absl::OkStatus();
}

// RocksDB's informational log, kept off the data disk. Its own LOG file
// there is written by a writer that, once a write of it failed (a full
// disk), aborts the process on its next line (RocksDB 7.8's
// WritableFileWriter asserts on reuse after an error, facebook/rocksdb
// #12448), and the next line comes with the very error that filled the
// disk. Its errors go to `warn` (stderr without one); its warnings are
// routine (one per open) and our own messages say what matters.
class WarningLogger final : public rocksdb::Logger {
 public:
  explicit WarningLogger(std::function<void(const std::string&)> warn)
      : rocksdb::Logger(rocksdb::InfoLogLevel::ERROR_LEVEL),
        warn_(std::move(warn)) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, ap);
    const std::string message =
        absl::StrCat("rocksdb: ", absl::StripTrailingAsciiWhitespace(line));
    if (warn_) {
      warn_(message);
    } else {
      std::fprintf(stderr, "%s\n", message.c_str());
    }
  }

 private:
  const std::function<void(const std::string&)> warn_;
};

rocksdb::Options BaseOptions(const RocksDbStoreOptions& store = {}) {
  rocksdb::Options options;
  if (store.env != nullptr) options.env = store.env;
  options.info_log = std::make_shared<WarningLogger>(store.warn);
  // The memtable: what RocksDB holds in memory before it writes a table
  // file (one filling, one more while it flushes). Its default (64 MiB)
  // made a server's memory grow by ~130 MiB long after its articles
  // stopped growing (docs/reliability.md, the soak).
  options.write_buffer_size = static_cast<size_t>(store.write_buffer_bytes);
  options.create_if_missing = true;
  options.paranoid_checks = true;
  // Every record of the write-ahead log must read back, the last one
  // included. RocksDB's default (point-in-time recovery) stops at the
  // first damaged record and silently drops it and everything after it,
  // acknowledged articles included, then deletes the log. An incomplete
  // last record is only tolerated on request (WalTailPolicy::kDrop).
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kAbsoluteConsistency;
  options.max_background_jobs = 2;
  return options;
}

// Markers: empty files in the data directory that tell a start how the
// write-ahead log came to end in an incomplete record, if it does. Such a
// record is a write cut off before it completed, whose caller was never
// told it succeeded (an answer leaves only after its write, and with
// --sync always its fsync, completed), or else a log truncated or damaged
// by other means, which loses acknowledged articles.
//
// Left when a store write fails, until the store is open again: the
// incomplete record is that write's, and its caller was told it failed.
constexpr char kFailedWriteMarker[] = "NEWSDEDUP-FAILED-WRITE";
// Left while a process holds the store open for writing, removed by a clean
// close. Found at a start, the last process died holding the store (kill -9,
// the OOM killer, power loss), maybe in the middle of a write: an
// incomplete last record is that write's (issue 33: one kill -9 in the
// crash test's rounds landed inside a write and the next start was
// refused). Without either marker nothing was writing when the log was cut,
// and the start is refused.
constexpr char kOpenMarker[] = "NEWSDEDUP-OPEN";
// The index's graphs as the last clean stop left them (EngineStore::
// snapshot_path).
constexpr char kSnapshotFile[] = "NEWSDEDUP-INDEX-SNAPSHOT";

std::filesystem::path MarkerPath(const std::string& path,
                                 absl::string_view marker) {
  return std::filesystem::path(path) / std::string(marker);
}

// Creates the marker, durably. An empty file needs no free blocks, so this
// works on a full disk; when it does not, a start refuses the tail.
void PlaceMarker(const std::string& path, absl::string_view marker) {
  const std::string file = MarkerPath(path, marker).string();
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
  const int dir = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  ::fsync(dir);
  ::close(dir);
}

void RemoveMarker(const std::string& path, absl::string_view marker) {
  std::error_code ignored;
  std::filesystem::remove(MarkerPath(path, marker), ignored);
}

bool HasMarker(const std::string& path, absl::string_view marker) {
  std::error_code ignored;
  return std::filesystem::exists(MarkerPath(path, marker), ignored);
}

// What an operator does with a store that cannot be read back in full.
std::string RestoreAdvice(const std::string& path) {
  return absl::StrCat(
      "`newsdedup admin check --data-dir ", path,
      "` lists the damage. Restore the latest backup into a new directory "
      "(`newsdedup admin restore --from BACKUP_DIR --data-dir NEW_DIR`) and "
      "start "
      "on it; keep this directory for inspection");
}

// Checks an existing store without changing a byte of it: opens it
// read-only (which replays the write-ahead log in memory) with the strict
// log mode and verifies every block checksum, so that damage is refused
// before the read-write open rewrites the log, MANIFEST and OPTIONS.
// Returns the log recovery mode to open it with.
absl::StatusOr<rocksdb::WALRecoveryMode> CheckBeforeOpening(
    const RocksDbStoreOptions& options) {
  const std::string& path = options.path;
  rocksdb::Options strict = BaseOptions(options);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(strict, path, &raw);
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WALRecoveryMode mode = strict.wal_recovery_mode;
  if (s.IsCorruption()) {
    // Damage in the middle of the log, or only an incomplete last record
    // (what a crash in the middle of a write leaves)?
    rocksdb::Options tolerant = BaseOptions(options);
    tolerant.wal_recovery_mode =
        rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
    raw = nullptr;
    const rocksdb::Status tail_only =
        rocksdb::DB::OpenForReadOnly(tolerant, path, &raw);
    db.reset(raw);
    if (!tail_only.ok()) {
      return absl::DataLossError(absl::StrCat(
          "the store in ", path,
          " cannot be read back in full: its write-ahead log or tables are "
          "damaged (",
          s.ToString(),
          "), so acknowledged articles would be lost. Nothing was changed. ",
          RestoreAdvice(path)));
    }
    const bool failed_write = HasMarker(path, kFailedWriteMarker);
    const bool died_open = HasMarker(path, kOpenMarker);
    if (options.wal_tail != WalTailPolicy::kDrop && !failed_write &&
        !died_open) {
      return absl::DataLossError(absl::StrCat(
          "the write-ahead log of the store in ", path,
          " ends in an incomplete record (", s.ToString(),
          "), and the last server to use it closed it cleanly: the log was "
          "truncated or damaged after, and acknowledged articles are missing. "
          "Nothing was changed. Restore the latest backup (`newsdedup admin "
          "restore`), or start once with --wal-tail drop to go on without "
          "them"));
    }
    if (options.warn) {
      options.warn(absl::StrCat(
          "dropping the incomplete last record of the write-ahead log in ",
          path,
          failed_write ? " (left by a write that failed, so never "
                         "acknowledged): "
          : died_open  ? " (the last server to use the store ended without "
                         "closing it, in the middle of that write, which was "
                         "never acknowledged): "
                       : " (--wal-tail drop): ",
          s.ToString()));
    }
    mode = tolerant.wal_recovery_mode;
  } else if (s.IsPathNotFound() ||
             (s.IsIOError() &&
              absl::StrContains(s.ToString(), "No such file"))) {
    // CURRENT names a MANIFEST that is gone, or the MANIFEST names tables
    // that are: files were deleted or lost under the store.
    return absl::DataLossError(absl::StrCat(
        "the store in ", path, " is missing files it names (", s.ToString(),
        "): something deleted or lost them. Nothing was changed. ",
        RestoreAdvice(path)));
  } else if (!s.ok()) {
    return FromRocksDb(s, path, "opening read-only");
  }
  const rocksdb::Status checksums = db->VerifyChecksum();
  if (!checksums.ok()) {
    return absl::DataLossError(absl::StrCat(
        "the store in ", path, " has damaged tables (", checksums.ToString(),
        "). Nothing was changed. ", RestoreAdvice(path)));
  }
  return mode;
}

// Opens the database for exclusive use by an operator command.
absl::StatusOr<std::unique_ptr<rocksdb::DB>> OpenExisting(
    const std::string& path) {
  if (!StoreExists(path)) {
    return absl::NotFoundError(absl::StrCat("no store in ", path));
  }
  rocksdb::Options options = BaseOptions();
  options.create_if_missing = false;
  rocksdb::DB* db = nullptr;
  RETURN_IF_ERROR(
      FromRocksDb(rocksdb::DB::Open(options, path, &db), path, "opening"));
  return std::unique_ptr<rocksdb::DB>(db);
}

// Opens an existing store read-only: takes no lock and writes nothing, so
// it may run beside a server (it then sees the state of the server's last
// flush plus its write-ahead log).
absl::StatusOr<std::unique_ptr<rocksdb::DB>> OpenExistingForReading(
    const std::string& path) {
  if (!StoreExists(path)) {
    return absl::NotFoundError(absl::StrCat("no store in ", path));
  }
  rocksdb::DB* db = nullptr;
  RETURN_IF_ERROR(
      FromRocksDb(rocksdb::DB::OpenForReadOnly(BaseOptions(), path, &db), path,
                  "opening read-only"));
  return std::unique_ptr<rocksdb::DB>(db);
}

// Adds a backup of the open database `db` to `backup_dir`. Consistent as of
// one moment (RocksDB flushes, then copies the live files with deletions
// held off) while writes go on.
absl::StatusOr<EngineStore::BackupInfo> BackupDatabase(
    rocksdb::DB* db, const std::string& backup_dir) {
  rocksdb::BackupEngine* engine = nullptr;
  RETURN_IF_ERROR(FromRocksDb(
      rocksdb::BackupEngine::Open(rocksdb::Env::Default(),
                                  rocksdb::BackupEngineOptions(backup_dir),
                                  &engine),
      backup_dir, "opening the backup directory"));
  std::unique_ptr<rocksdb::BackupEngine> owner(engine);
  rocksdb::CreateBackupOptions options;
  options.flush_before_backup = true;
  rocksdb::BackupID id = 0;
  RETURN_IF_ERROR(FromRocksDb(engine->CreateNewBackup(options, db, &id),
                              backup_dir, "backing up"));
  rocksdb::BackupInfo info;
  RETURN_IF_ERROR(FromRocksDb(engine->GetBackupInfo(id, &info), backup_dir,
                              "reading the backup's size"));
  return EngineStore::BackupInfo{id, info.size};
}

// Reads a store's records in the order the engine recovers them: the meta
// record, then clusters, then articles, each in key order.
class RecordReader {
 public:
  RecordReader(rocksdb::DB* db, const std::string& path)
      : db_(db), path_(path) {}

  // The meta record; nullopt for a new store.
  absl::StatusOr<std::optional<StoreMeta>> ReadMeta() const {
    std::string value;
    const rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), kMetaKey, &value);
    if (s.IsNotFound()) return std::nullopt;
    RETURN_IF_ERROR(FromRocksDb(s, path_, "reading the meta record"));
    StoreMeta meta;
    if (!meta.ParseFromString(value)) {
      return absl::DataLossError(
          absl::StrCat("store in ", path_, ": the meta record does not parse"));
    }
    return meta;
  }

  absl::Status Load(const EngineStore::Visitor& visitor) const {
    ASSIGN_OR_RETURN(std::optional<StoreMeta> meta, ReadMeta());
    RETURN_IF_ERROR(visitor.meta(meta.value_or(StoreMeta())));
    RETURN_IF_ERROR(Scan<StoredCluster>(std::string(1, kClusterPrefix), -1,
                                        visitor.cluster));
    return Scan<StoredArticle>(std::string(1, kArticlePrefix), -1,
                               visitor.article);
  }

  absl::Status ReadEvents(uint64_t after_cursor, int limit,
                          std::vector<StoredFeedEvent>* out) const {
    return Scan<StoredFeedEvent>(
        NumberKey(kEventPrefix, static_cast<int64_t>(after_cursor + 1)), limit,
        [out](const StoredFeedEvent& event) {
          out->push_back(event);
          return absl::OkStatus();
        });
  }

  // Whether this build may use the store `meta` describes.
  absl::Status CheckCompatible(const StoreMeta& meta,
                               const std::string& fingerprint) const {
    if (meta.format_version() > kStoreFormatVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("store in ", path_, " has format version ",
                       meta.format_version(), "; this build reads up to ",
                       kStoreFormatVersion, ". Use a newer newsdedup"));
    }
    if (meta.embedder_fingerprint() != fingerprint) {
      return absl::FailedPreconditionError(absl::StrCat(
          "store in ", path_,
          " was built with another embedder (tokenizer model or feature "
          "settings): stored fingerprint ",
          meta.embedder_fingerprint(), ", this build's ", fingerprint,
          ". Use the original --model and embedder flags, or a new "
          "--data-dir"));
    }
    return absl::OkStatus();
  }

 private:
  // Visits the records of `start`'s prefix (its first byte) from `start`
  // on, in key order, `limit` at most (-1: all).
  template <typename Record>
  absl::Status Scan(
      const std::string& start, int limit,
      const std::function<absl::Status(const Record&)>& visit) const {
    rocksdb::ReadOptions read_options;
    read_options.verify_checksums = true;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options));
    const char prefix = start[0];
    Record record;
    for (it->Seek(start); it->Valid() && it->key()[0] == prefix && limit != 0;
         it->Next(), --limit) {
      if (it->key().size() != 9 ||
          !record.ParseFromArray(it->value().data(),
                                 static_cast<int>(it->value().size()))) {
        return absl::DataLossError(
            absl::StrCat("store in ", path_, ": record ",
                         it->key().ToString(/*hex=*/true), " does not parse"));
      }
      RETURN_IF_ERROR(visit(record));
    }
    return FromRocksDb(it->status(), path_, "reading");
  }

  rocksdb::DB* const db_;
  const std::string& path_;
};

class RocksDbStore final : public EngineStore {
 public:
  RocksDbStore(const RocksDbStoreOptions& options,
               std::unique_ptr<rocksdb::DB> db)
      : options_(options), db_(std::move(db)) {
    write_options_.sync = options.sync == SyncPolicy::kAlways;
  }

  ~RocksDbStore() override {
    // Closing flushes nothing that matters: every batch is in the log.
    // Closed cleanly, no write can have been cut off (kOpenMarker).
    if (db_ != nullptr && db_->Close().ok()) {
      RemoveMarker(options_.path, kOpenMarker);
    }
  }

  std::string snapshot_path() const override {
    if (!options_.index_snapshot) return "";
    return (std::filesystem::path(options_.path) / kSnapshotFile).string();
  }

  // Checks that this build may use the store; claims a new one for this
  // embedder.
  absl::Status CheckMeta() {
    const RecordReader reader(db_.get(), options_.path);
    ASSIGN_OR_RETURN(std::optional<StoreMeta> stored, reader.ReadMeta());
    if (!stored.has_value()) {
      StoreMeta meta;
      meta.set_format_version(kStoreFormatVersion);
      meta.set_embedder_fingerprint(options_.embedder_fingerprint);
      return FromRocksDb(
          db_->Put(write_options_, kMetaKey, meta.SerializeAsString()),
          options_.path, "initialising");
    }
    return reader.CheckCompatible(*stored, options_.embedder_fingerprint);
  }

  absl::Status Closed() const {
    return absl::UnavailableError(absl::StrCat(
        "the store in ", options_.path,
        " could not be reopened after a failed write; restart the server"));
  }

  absl::Status Load(const Visitor& visitor) override {
    if (db_ == nullptr) return Closed();
    return RecordReader(db_.get(), options_.path).Load(visitor);
  }

  absl::Status ReadEvents(uint64_t after_cursor, int limit,
                          std::vector<StoredFeedEvent>* out) const override {
    if (db_ == nullptr) return Closed();
    return RecordReader(db_.get(), options_.path)
        .ReadEvents(after_cursor, limit, out);
  }

  uint64_t Stage(Batch batch) override {
    // Only queued here, under the engine's lock; the writing thread
    // serialises (WaitDurable).
    absl::MutexLock lock(&mu_);
    // After a failed write nothing more is written (WaitDurable reports the
    // failure); queueing would only grow memory.
    if (failed_.ok()) pending_.push_back(std::move(batch));
    return ++staged_;
  }

  uint64_t failed_writes() const override {
    absl::MutexLock lock(&mu_);
    return failed_writes_;
  }

  absl::Status Resume() override {
    {
      absl::MutexLock lock(&mu_);
      if (failed_.ok()) return absl::OkStatus();
      if (writing_) return failed_;
    }
    // Reopening on a disk that is still full would succeed and fail the
    // next write at once: some room first, whatever --min-free-mb says.
    RETURN_IF_ERROR(CheckFreeSpace(
        options_.path, std::max(options_.min_free_bytes, kResumeFreeBytes)));
    // RocksDB 7.8's own DB::Resume() does not recover from a failed log
    // write (facebook/rocksdb#11643: the log writer keeps its error), so
    // the database is closed and opened again. The failed write may have
    // left an incomplete last record: it was never acknowledged (its write
    // failed), so here alone it is dropped.
    if (db_ != nullptr) db_->Close().PermitUncheckedError();
    db_.reset();
    rocksdb::Options reopen = BaseOptions(options_);
    reopen.wal_recovery_mode =
        rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
    rocksdb::DB* db = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(reopen, options_.path, &db);
    db_.reset(db);
    absl::MutexLock lock(&mu_);
    if (!s.ok()) {
      return absl::UnavailableError(
          absl::StrCat("the store still cannot write: ",
                       FromRocksDb(s, options_.path, "reopening").message()));
    }
    // Every batch staged since the failure was built on changes the disk
    // does not have; their callers were told. Later ones start afresh.
    lost_from_ = durable_ + 1;
    lost_to_ = staged_;
    lost_ = failed_;
    pending_.clear();
    durable_ = staged_;
    failed_ = absl::OkStatus();
    RemoveMarker(options_.path, kFailedWriteMarker);  // the reopen dropped it
    if (options_.warn) options_.warn("the store can write again");
    return absl::OkStatus();
  }

  absl::Status Writable() const override {
    {
      absl::MutexLock lock(&mu_);
      if (!failed_.ok()) return failed_;
    }
    // Refused up front, while RocksDB can still write what is in flight:
    // a write that fails half-way leaves the engine's memory ahead of the
    // disk.
    absl::Status space = CheckFreeSpace(options_.path, options_.min_free_bytes);
    if (space.ok()) return space;
    return absl::UnavailableError(absl::StrCat(
        "the store cannot take changes now: ", space.message(),
        "; changes resume by themselves once space is freed (reads go on)"));
  }

  absl::StatusOr<BackupInfo> Backup(const std::string& backup_dir) override {
    if (db_ == nullptr) return Closed();
    return BackupDatabase(db_.get(), backup_dir);
  }

  int64_t pending() const override {
    absl::MutexLock lock(&mu_);
    return static_cast<int64_t>(staged_ - durable_);
  }

  absl::Status WaitDurable(uint64_t ticket) override {
    absl::MutexLock lock(&mu_);
    // A batch dropped by a failed write stays failed after Resume().
    if (ticket >= lost_from_ && ticket <= lost_to_) return lost_;
    while (durable_ < ticket) {
      if (!failed_.ok()) return failed_;
      if (writing_) {  // another caller is writing; it may cover us
        written_.Wait(&mu_);
        continue;
      }
      // Lead: write everything staged so far in one atomic batch. Deletes
      // go after puts; the engine never puts and deletes one key in one
      // operation, and a delete of a key put by an earlier operation
      // correctly comes later.
      writing_ = true;
      std::deque<Batch> taking;
      taking.swap(pending_);
      const uint64_t last = staged_;
      mu_.Unlock();
      rocksdb::WriteBatch batch = Serialize(&taking);
      const rocksdb::Status s = db_->Write(write_options_, &batch);
      mu_.Lock();
      writing_ = false;
      if (s.ok()) {
        durable_ = last;
      } else {
        // The engine's memory now holds changes the disk does not: every
        // later change is refused, and a restart reloads the durable state.
        failed_ = absl::UnavailableError(absl::StrCat(
            "a store write failed (",
            FromRocksDb(s, options_.path, "writing").message(),
            "); nothing of it was kept, and changes are refused until the "
            "store can write again (reads go on)"));
        ++failed_writes_;
        PlaceMarker(options_.path, kFailedWriteMarker);
        if (options_.warn) options_.warn(std::string(failed_.message()));
      }
      written_.SignalAll();
    }
    return absl::OkStatus();
  }

 private:
  // One RocksDB write for staged batches, in order. Each batch's meta
  // replaces the one before, so only the last is written.
  rocksdb::WriteBatch Serialize(std::deque<Batch>* batches) const {
    rocksdb::WriteBatch out;
    for (const Batch& b : *batches) {
      for (const StoredArticle& a : b.put_articles) {
        out.Put(NumberKey(kArticlePrefix, a.seq()), a.SerializeAsString());
      }
      for (const StoredCluster& c : b.put_clusters) {
        out.Put(NumberKey(kClusterPrefix, c.number()), c.SerializeAsString());
      }
      for (int64_t seq : b.delete_articles) {
        out.Delete(NumberKey(kArticlePrefix, seq));
      }
      for (int64_t number : b.delete_clusters) {
        out.Delete(NumberKey(kClusterPrefix, number));
      }
      if (b.delete_events_before > 0) {
        out.DeleteRange(NumberKey(kEventPrefix, 0),
                        NumberKey(kEventPrefix, static_cast<int64_t>(
                                                    b.delete_events_before)));
      }
      for (const StoredFeedEvent& e : b.put_events) {
        out.Put(NumberKey(kEventPrefix, static_cast<int64_t>(e.cursor())),
                e.SerializeAsString());
      }
    }
    if (!batches->empty()) {
      StoreMeta& meta = batches->back().meta;
      meta.set_format_version(kStoreFormatVersion);
      meta.set_embedder_fingerprint(options_.embedder_fingerprint);
      out.Put(kMetaKey, meta.SerializeAsString());
    }
    return out;
  }

  const RocksDbStoreOptions options_;
  // Null only after a reopen (Resume) failed; every use checks. Replaced
  // by Resume only while no other call uses the store (the engine calls it
  // with every other call held off).
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_options_;

  mutable absl::Mutex mu_;
  absl::CondVar written_;
  std::deque<Batch> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t staged_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t durable_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  uint64_t failed_writes_ ABSL_GUARDED_BY(mu_) = 0;
  // Tickets of batches dropped by a failed write, and why.
  uint64_t lost_from_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t lost_to_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status lost_ ABSL_GUARDED_BY(mu_);
};

// A store opened for reading alone, beside a server that may hold it: the
// engine recovers from it as from its own store (`admin check`), and every
// change is refused before it is made (Writable).
class ReadOnlyStore final : public EngineStore {
 public:
  ReadOnlyStore(std::string path, std::unique_ptr<rocksdb::DB> db)
      : path_(std::move(path)), db_(std::move(db)) {}

  absl::Status Load(const Visitor& visitor) override {
    return RecordReader(db_.get(), path_).Load(visitor);
  }
  absl::Status ReadEvents(uint64_t after_cursor, int limit,
                          std::vector<StoredFeedEvent>* out) const override {
    return RecordReader(db_.get(), path_).ReadEvents(after_cursor, limit, out);
  }
  uint64_t Stage(Batch) override { return ++staged_; }
  absl::Status WaitDurable(uint64_t) override { return Writable(); }
  int64_t pending() const override { return 0; }
  absl::Status Writable() const override {
    return absl::FailedPreconditionError(
        absl::StrCat("the store in ", path_, " is open for reading only"));
  }

 private:
  const std::string path_;
  const std::unique_ptr<rocksdb::DB> db_;
  std::atomic<uint64_t> staged_{0};
};

}  // namespace

bool StoreExists(const std::string& path) {
  std::error_code ignored;
  return std::filesystem::exists(std::filesystem::path(path) / "CURRENT",
                                 ignored);
}

namespace {

// RocksDB builds each memtable from blocks of an eighth of its size and
// frees them all when it has flushed. glibc serves such blocks by mmap
// until the first is freed, then raises its mmap threshold past them and
// serves the next ones from the heap, where freed blocks stay resident:
// a durable engine at its article cap grew by two memtables over ten
// minutes while its live state stayed the same (soak_benchmark +28%, 8
// MiB memtables). A fixed threshold keeps them mapped, and returned on
// free. Process-wide, set once, by the first store opened.
void ReturnFreedMemtablesToTheSystem() {
  static std::once_flag once;
  std::call_once(once, [] { mallopt(M_MMAP_THRESHOLD, 128 * 1024); });
}

}  // namespace

absl::StatusOr<SyncPolicy> ParseSyncPolicy(absl::string_view name) {
  if (name == "always") return SyncPolicy::kAlways;
  if (name == "none") return SyncPolicy::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("sync policy must be 'always' or 'none', got '", name, "'"));
}

absl::StatusOr<std::unique_ptr<EngineStore>> OpenRocksDbStore(
    const RocksDbStoreOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("store path must not be empty");
  }
  std::error_code error;
  std::filesystem::create_directories(options.path, error);
  if (error) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create data dir ", options.path, ": ", error.message()));
  }
  RETURN_IF_ERROR(CheckFreeSpace(options.path, options.min_free_bytes));
  ReturnFreedMemtablesToTheSystem();
  rocksdb::Options db_options = BaseOptions(options);
  if (StoreExists(options.path)) {
    ASSIGN_OR_RETURN(db_options.wal_recovery_mode, CheckBeforeOpening(options));
  }
  rocksdb::DB* db = nullptr;
  RETURN_IF_ERROR(FromRocksDb(rocksdb::DB::Open(db_options, options.path, &db),
                              options.path, "opening"));
  // Open: whatever record a failed write or a dead server left is gone.
  RemoveMarker(options.path, kFailedWriteMarker);
  PlaceMarker(options.path, kOpenMarker);
  auto store =
      std::make_unique<RocksDbStore>(options, std::unique_ptr<rocksdb::DB>(db));
  RETURN_IF_ERROR(store->CheckMeta());
  return std::unique_ptr<EngineStore>(std::move(store));
}

absl::StatusOr<std::unique_ptr<EngineStore>> OpenRocksDbStoreForReading(
    const std::string& path, const std::string& embedder_fingerprint) {
  ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> db,
                   OpenExistingForReading(path));
  const RecordReader reader(db.get(), path);
  ASSIGN_OR_RETURN(std::optional<StoreMeta> meta, reader.ReadMeta());
  if (meta.has_value()) {
    RETURN_IF_ERROR(reader.CheckCompatible(*meta, embedder_fingerprint));
  }
  return std::unique_ptr<EngineStore>(
      std::make_unique<ReadOnlyStore>(path, std::move(db)));
}

absl::StatusOr<int64_t> StoreSizeBytes(const std::string& path) {
  std::error_code error;
  int64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(path, error);
       !error && it != std::filesystem::recursive_directory_iterator();
       it.increment(error)) {
    if (it->is_regular_file(error)) {
      total += static_cast<int64_t>(it->file_size(error));
    }
  }
  if (error) {
    return absl::NotFoundError(
        absl::StrCat("cannot measure ", path, ": ", error.message()));
  }
  return total;
}

absl::Status BackupStore(const std::string& path,
                         const std::string& backup_dir) {
  ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> db, OpenExisting(path));
  return BackupDatabase(db.get(), backup_dir).status();
}

absl::Status RestoreStore(const std::string& backup_dir,
                          const std::string& path) {
  if (StoreExists(path)) {
    return absl::AlreadyExistsError(
        absl::StrCat(path,
                     " already holds a store; restore into an empty or new "
                     "directory (restore never overwrites data)"));
  }
  rocksdb::BackupEngineReadOnly* engine = nullptr;
  RETURN_IF_ERROR(
      FromRocksDb(rocksdb::BackupEngineReadOnly::Open(
                      rocksdb::Env::Default(),
                      rocksdb::BackupEngineOptions(backup_dir), &engine),
                  backup_dir, "opening the backup directory"));
  std::unique_ptr<rocksdb::BackupEngineReadOnly> owner(engine);
  std::vector<rocksdb::BackupInfo> backups;
  engine->GetBackupInfo(&backups);
  if (backups.empty()) {
    return absl::NotFoundError(absl::StrCat("no backup in ", backup_dir));
  }
  // An index snapshot left in the directory describes another state.
  std::error_code ignored;
  std::filesystem::remove(std::filesystem::path(path) / kSnapshotFile, ignored);
  return FromRocksDb(engine->RestoreDBFromLatestBackup(path, path), path,
                     "restoring");
}

absl::Status CompactStore(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> db, OpenExisting(path));
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  return FromRocksDb(db->CompactRange(options, nullptr, nullptr), path,
                     "compacting");
}

absl::StatusOr<StoreCheckReport> CheckStore(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> db,
                   OpenExistingForReading(path));
  StoreCheckReport report;
  const rocksdb::Status checksums = db->VerifyChecksum();
  if (!checksums.ok()) {
    report.problems.push_back(
        absl::StrCat("block checksums: ", checksums.ToString()));
  }

  StoreMeta meta;
  bool has_meta = false;
  int64_t max_seq = -1;
  rocksdb::ReadOptions read_options;
  read_options.verify_checksums = true;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    const rocksdb::Slice value = it->value();
    const int size = static_cast<int>(value.size());
    if (key == kMetaKey) {
      has_meta = meta.ParseFromArray(value.data(), size);
      if (!has_meta) report.problems.push_back("meta record does not parse");
    } else if (key.size() == 9 && key[0] == kClusterPrefix) {
      StoredCluster c;
      if (!c.ParseFromArray(value.data(), size) ||
          c.number() != NumberOfKey(key)) {
        report.problems.push_back(
            absl::StrCat("cluster record ", NumberOfKey(key), " is damaged"));
        continue;
      }
      ++report.clusters;
    } else if (key.size() == 9 && key[0] == kEventPrefix) {
      StoredFeedEvent e;
      if (!e.ParseFromArray(value.data(), size) ||
          e.cursor() != static_cast<uint64_t>(NumberOfKey(key))) {
        report.problems.push_back(
            absl::StrCat("feed event ", NumberOfKey(key), " is damaged"));
      }
    } else if (key.size() == 9 && key[0] == kArticlePrefix) {
      StoredArticle a;
      if (!a.ParseFromArray(value.data(), size) ||
          a.seq() != NumberOfKey(key) || a.id().empty()) {
        report.problems.push_back(
            absl::StrCat("article record ", NumberOfKey(key), " is damaged"));
        continue;
      }
      ++report.articles;
      max_seq = std::max(max_seq, a.seq());
    } else {
      report.problems.push_back(
          absl::StrCat("unknown key ", key.ToString(/*hex=*/true)));
    }
  }
  if (!it->status().ok()) {
    report.problems.push_back(
        absl::StrCat("reading: ", it->status().ToString()));
  }
  report.log_sequence = meta.log_sequence();
  if (!has_meta) {
    if (report.articles > 0) report.problems.push_back("meta record missing");
  } else {
    if (meta.format_version() > kStoreFormatVersion) {
      report.problems.push_back(
          absl::StrCat("format version ", meta.format_version(),
                       " is newer than ", kStoreFormatVersion));
    }
    if (meta.next_seq() <= max_seq) {
      report.problems.push_back(absl::StrCat("meta next_seq ", meta.next_seq(),
                                             " is not past article ", max_seq));
    }
  }
  return report;
}

}  // namespace newsdedup
