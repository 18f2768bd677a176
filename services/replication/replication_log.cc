#include "services/replication/replication_log.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace newsdedup {
namespace {

// An entry and whether it was deleted (its number stays taken).
struct StoredRecord : LogRecord {
  bool deleted = false;
};

// The entries, shared by the log and its readers.
struct Entries {
  absl::Mutex mu;
  std::vector<StoredRecord> records ABSL_GUARDED_BY(mu);
};

class InMemoryReader final : public LogReader {
 public:
  InMemoryReader(std::shared_ptr<Entries> entries, uint64_t next)
      : entries_(std::move(entries)), next_(next) {}

  absl::StatusOr<std::optional<LogRecord>> Next(
      absl::Duration timeout) override {
    absl::MutexLock lock(&entries_->mu);
    auto arrived = [this]() ABSL_SHARED_LOCKS_REQUIRED(entries_->mu) {
      return entries_->records.size() >= next_;
    };
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      entries_->mu.AwaitWithDeadline(absl::Condition(&arrived), deadline);
      if (!arrived()) return std::nullopt;
      const StoredRecord& record = entries_->records[next_++ - 1];
      // A deleted one is not delivered.
      if (!record.deleted) return static_cast<const LogRecord&>(record);
    }
  }

 private:
  const std::shared_ptr<Entries> entries_;
  uint64_t next_;
};

class InMemoryLogImpl final : public InMemoryLog {
 public:
  explicit InMemoryLogImpl(std::function<absl::Time()> clock)
      : clock_(std::move(clock)), entries_(std::make_shared<Entries>()) {}

  absl::StatusOr<uint64_t> Append(absl::string_view dedup_id,
                                  absl::string_view data,
                                  absl::Duration) override {
    absl::MutexLock lock(&entries_->mu);
    if (!available_) return absl::UnavailableError("log unavailable");
    auto [it, added] = dedup_.try_emplace(dedup_id, 0);
    if (!added) return it->second;
    StoredRecord record;
    record.sequence = entries_->records.size() + 1;
    record.time = clock_ ? clock_() : absl::Now();
    record.data = std::string(data);
    entries_->records.push_back(std::move(record));
    it->second = entries_->records.size();
    return it->second;
  }

  absl::StatusOr<uint64_t> FirstSequence(absl::Duration) override {
    return 1;  // never purged
  }

  absl::StatusOr<uint64_t> LastSequence(absl::Duration) override {
    absl::MutexLock lock(&entries_->mu);
    if (!available_) return absl::UnavailableError("log unavailable");
    return entries_->records.size();
  }

  absl::StatusOr<bool> Holds(uint64_t sequence, absl::Duration) override {
    absl::MutexLock lock(&entries_->mu);
    if (!available_) return absl::UnavailableError("log unavailable");
    return sequence >= 1 && sequence <= entries_->records.size() &&
           !entries_->records[sequence - 1].deleted;
  }

  absl::Status Delete(uint64_t sequence, absl::Duration) override {
    absl::MutexLock lock(&entries_->mu);
    if (!available_) return absl::UnavailableError("log unavailable");
    if (sequence < 1 || sequence > entries_->records.size() ||
        entries_->records[sequence - 1].deleted) {
      return absl::NotFoundError(absl::StrCat("no log entry ", sequence));
    }
    entries_->records[sequence - 1].deleted = true;
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<LogReader>> Read(
      uint64_t first_sequence) override {
    return std::make_unique<InMemoryReader>(
        entries_, std::max<uint64_t>(first_sequence, 1));
  }

  void SetAvailable(bool available) override {
    absl::MutexLock lock(&entries_->mu);
    available_ = available;
  }

 private:
  const std::function<absl::Time()> clock_;
  const std::shared_ptr<Entries> entries_;
  // Guarded by entries_->mu (one lock for the whole log).
  bool available_ = true;
  absl::flat_hash_map<std::string, uint64_t> dedup_;
};

}  // namespace

std::unique_ptr<InMemoryLog> NewInMemoryLog(std::function<absl::Time()> clock) {
  return std::make_unique<InMemoryLogImpl>(std::move(clock));
}

}  // namespace newsdedup
