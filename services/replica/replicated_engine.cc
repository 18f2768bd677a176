#include "services/replica/replicated_engine.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "newsdedup/replication/v1/log.pb.h"
#include "services/api/api_messages.h"
#include "services/engine/internal/swappable_engine.h"
#include "services/replica/log_entries.h"

namespace newsdedup {
namespace {

using replication::v1::LogEntry;

// What applying one entry gave: an assignment (assign) or a status
// (delete, or a refused assign).
using Answer = std::variant<Assignment, absl::Status, EditResult>;

// How far apart two NATS servers' numbers for one entry are looked for
// (nats-server 2.9.10's followers, after kill -9, were up to 4 apart).
constexpr uint64_t kRenumberingWindow = 64;

// The first number of that window around `sequence` (at least 1).
uint64_t RenumberingWindowStart(uint64_t sequence) {
  return sequence > kRenumberingWindow ? sequence - kRenumberingWindow : 1;
}

uint64_t EntryHash(absl::string_view data) {
  return XXH3_64bits(data.data(), data.size());
}

// Where the log put a write, and the hash of the write's bytes. The answer
// kept for that number is the write's only if the entry applied there has
// the same bytes: after NATS servers were killed, JetStream 2.9 confirmed
// a write at a number where the log then held another entry (a checkpoint
// request), and the replica answered the write with that entry's answer.
struct Appended {
  uint64_t sequence = 0;
  uint64_t entry_hash = 0;
};

// An applied entry's answer and the hash of its bytes (none for numbers
// stepped over: their answer, "deleted", holds for any write there).
struct KeptAnswer {
  std::optional<uint64_t> entry_hash;
  Answer answer;
};

class ReplicatedEngineImpl final
    : public internal::SwappableEngine<ReplicatedEngine> {
 public:
  ReplicatedEngineImpl(std::unique_ptr<ReplicationLog> log,
                       ReplicationOptions options)
      : log_(std::move(log)), options_(std::move(options)) {}

  ~ReplicatedEngineImpl() override {
    stop_.store(true);
    if (applier_.joinable()) applier_.join();
    if (poller_.joinable()) poller_.join();
    reader_.reset();  // before the log that it reads
  }

  absl::Status Init(const EngineBuilder& build) {
    builder_ = build;
    // From the newest checkpoint (its store restored in place), or from
    // the log's first entry.
    uint64_t start = 0;
    if (options_.checkpoints != nullptr) {
      auto point = options_.checkpoints->Restore();
      if (!point.ok()) return point.status();
      start = point->sequence;
      if (start > 0) {
        clock_nanos_.store(absl::ToUnixNanos(point->time));
        last_applied_ = {start, absl::ToUnixNanos(point->time)};
      }
      applying_sequence_.store(start);
    }
    auto engine = BuildEngine();
    if (!engine.ok()) return engine.status();
    engine_ = *std::move(engine);
    engine_options_ = engine_->options();
    {
      absl::MutexLock lock(&mu_);
      applied_ = start;
    }
    last_checkpoint_.store(start);
    start_sequence_ = start;
    if (absl::Status reading = ReadFrom(start + 1); !reading.ok()) {
      return reading;
    }
    // The first look at the log's end decides when this replica has
    // caught up; without it the replica stays not ready.
    PollLog();
    applier_ = std::thread([this] { ApplyLoop(); });
    poller_ = std::thread([this] { PollLoop(); });
    return absl::OkStatus();
  }

  // --- Writes: through the log. ---

  absl::StatusOr<Assignment> Assign(const Article& article) override {
    auto appended = Append(AssignEntry(article), "");
    if (!appended.ok()) return appended.status();
    return AssignmentAt(*appended);
  }

  std::vector<absl::StatusOr<Assignment>> AssignBatch(
      absl::Span<const Article> articles) override {
    // Appended one by one, in order; answered once the last is applied.
    std::vector<absl::StatusOr<Appended>> writes;
    writes.reserve(articles.size());
    uint64_t last = 0;
    for (const Article& article : articles) {
      writes.push_back(Append(AssignEntry(article), ""));
      if (writes.back().ok()) last = std::max(last, writes.back()->sequence);
    }
    const absl::Status applied = WaitApplied(last);
    std::vector<absl::StatusOr<Assignment>> answers;
    answers.reserve(articles.size());
    for (const absl::StatusOr<Appended>& write : writes) {
      if (!write.ok()) {
        answers.push_back(write.status());
      } else if (!applied.ok()) {
        answers.push_back(applied);
      } else {
        answers.push_back(AssignmentAt(*write));
      }
    }
    return answers;
  }

  absl::Status DeleteArticle(absl::string_view article_id) override {
    auto answer = AppendNotIdempotent(DeleteEntry(article_id));
    if (!answer.ok()) return answer.status();
    if (const auto* status = std::get_if<absl::Status>(&*answer)) {
      return *status;
    }
    return absl::InternalError(
        "the write's log entry was applied as another kind of change");
  }

  absl::StatusOr<EditResult> Edit(const EditorialAction& action) override {
    auto answer = AppendNotIdempotent(EditEntry(action));
    if (!answer.ok()) return answer.status();
    return AnswerAs<EditResult>(*answer);
  }

  absl::Status ForgetExpired() override {
    // Retention runs with every applied change, on the log's clock; a
    // sweep on the replica's own clock would make replicas differ.
    return absl::OkStatus();
  }

  absl::Status Writable() const override {
    if (!log_reachable_.load()) {
      return absl::UnavailableError(
          "the change log (NATS JetStream) is unreachable or has no quorum; "
          "reads go on, writes are refused");
    }
    return CaughtUp();
  }

  // OK once everything the log held at start is applied, and while the
  // next entry is not held up here.
  absl::Status CaughtUp() const {
    {
      absl::MutexLock lock(&mu_);
      if (!broken_.ok()) return broken_;
      if (!stalled_.ok()) return stalled_;
    }
    const uint64_t target = caught_up_target_.load();
    const uint64_t applied = applied_sequence();
    if (target == 0 && !first_poll_done_.load()) {
      return absl::UnavailableError("not yet in touch with the change log");
    }
    if (applied < target) {
      return absl::UnavailableError(absl::StrFormat(
          "catching up with the change log: %d of %d entries applied", applied,
          target));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<EngineStore::BackupInfo> Backup(const std::string&) override {
    return absl::FailedPreconditionError(
        "a replica's backups are its checkpoints (<data-dir>/checkpoints, "
        "one every --replication-checkpoint-entries log entries); its "
        "state is the change log up to its newest checkpoint plus the "
        "entries after it");
  }

  // --- Reads: the local engine, as far as it has applied. ---

  const EngineOptions& options() const override { return engine_options_; }

  // --- Replication state. ---

  uint64_t applied_sequence() const override {
    absl::MutexLock lock(&mu_);
    return applied_;
  }
  // The log holds at least what this replica applied from it; the end it
  // last read can be older than its own writes (a header said applied
  // 2821, log 2781).
  uint64_t log_sequence() const override {
    return std::max(log_sequence_.load(), applied_sequence());
  }
  uint64_t start_sequence() const override { return start_sequence_; }

  // The time left until `deadline` is measured once and waited on the
  // steady clock: absl's deadlines are wall-clock times, and a clock
  // stepped meanwhile (NTP) ended waits early with a spurious UNAVAILABLE
  // or stretched them.
  bool WaitForSequence(uint64_t sequence, absl::Time deadline) const override {
    const absl::Duration budget = std::clamp(
        deadline - absl::Now(), absl::ZeroDuration(), absl::Hours(24 * 365));
    const auto until =
        std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(budget);
    std::unique_lock<std::mutex> lock(applied_wait_mu_);
    return applied_cv_.wait_until(
        lock, until, [&] { return applied_sequence() >= sequence; });
  }

 private:
  // Appends `entry`; the dedup id is a hash of its bytes (and `salt`), so
  // the same change sent twice, through any replica, is stored once.
  absl::StatusOr<Appended> Append(const LogEntry& entry,
                                  absl::string_view salt) {
    // A replica still replaying the log would hold the caller until it has
    // caught up; another replica answers at once.
    if (absl::Status ready = CaughtUp(); !ready.ok()) return ready;
    const std::string data = EncodeEntry(entry);
    const std::string hashed = absl::StrCat(data, salt);
    const std::string dedup_id =
        absl::StrFormat("%016x", XXH3_64bits(hashed.data(), hashed.size()));
    // Retried until the timeout: a NATS server that dies fails the appends
    // it held at once, and the client reconnects to another within a
    // moment. The same dedup id makes a retry of a stored entry harmless.
    const absl::Time deadline = absl::Now() + options_.append_timeout;
    absl::StatusOr<uint64_t> sequence;
    for (;;) {
      sequence = log_->Append(dedup_id, data, deadline - absl::Now());
      if (sequence.ok() || absl::Now() + absl::Milliseconds(50) >= deadline ||
          sequence.status().code() != absl::StatusCode::kUnavailable) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    if (!sequence.ok()) {
      return absl::UnavailableError(
          absl::StrCat("the change log did not confirm the write, so it is not "
                       "acknowledged (resending is safe): ",
                       sequence.status().message()));
    }
    return Appended{*sequence, EntryHash(data)};
  }

  absl::Status WaitApplied(uint64_t sequence) const {
    if (WaitForSequence(sequence, absl::Now() + options_.apply_timeout)) {
      return absl::OkStatus();
    }
    return absl::UnavailableError(absl::StrFormat(
        "the write is stored in the change log as entry %d, but this "
        "replica has not applied it within %s (it has applied %d); resend "
        "to get the answer",
        sequence, absl::FormatDuration(options_.apply_timeout),
        applied_sequence()));
  }

  // Appends a change that is not idempotent (a second takedown is
  // NOT_FOUND, a merge done twice is refused) and returns its answer once
  // applied here. Its dedup id names the state it was asked in: a resend
  // through the same replica before anything else is applied is stored
  // once.
  absl::StatusOr<Answer> AppendNotIdempotent(const LogEntry& entry) {
    auto appended = Append(entry, absl::StrCat("@", applied_sequence()));
    if (!appended.ok()) return appended.status();
    if (absl::Status applied = WaitApplied(appended->sequence); !applied.ok()) {
      return applied;
    }
    return AnswerAt(*appended);
  }

  // The answer of the entry applied where `write` went, if that entry is
  // the write. A replica that reads through a server numbering the log
  // otherwise (FindsItsPlace) applies the write a few numbers away: its
  // answer is the one with the write's bytes among the neighbouring
  // numbers, waited for as long as an answer is.
  absl::StatusOr<Answer> AnswerAt(const Appended& write) const {
    const absl::Time deadline = absl::Now() + options_.apply_timeout;
    for (;;) {
      uint64_t applied;
      {
        absl::MutexLock lock(&mu_);
        auto it = answers_.find(write.sequence);
        if (it == answers_.end()) {
          return absl::UnavailableError(absl::StrFormat(
              "entry %d is applied but its answer is no longer kept here; "
              "GetArticle gives the article's cluster",
              write.sequence));
        }
        const KeptAnswer& kept = it->second;
        if (!kept.entry_hash.has_value() ||
            *kept.entry_hash == write.entry_hash) {
          return kept.answer;
        }
        for (auto near =
                 answers_.lower_bound(RenumberingWindowStart(write.sequence));
             near != answers_.end() &&
             near->first <= write.sequence + kRenumberingWindow;
             ++near) {
          if (near->second.entry_hash == write.entry_hash) {
            return near->second.answer;
          }
        }
        applied = applied_;
      }
      if (applied >= write.sequence + kRenumberingWindow ||
          !WaitForSequence(applied + 1, deadline)) {
        break;
      }
    }
    return absl::UnavailableError(absl::StrFormat(
        "the change log confirmed this write as entry %d, but this replica "
        "applied another change there and not the write nearby (the log's "
        "servers disagreed after a failure); resend it",
        write.sequence));
  }

  // `answer` as the T a write expects, or the error the write was refused
  // with. Never an OK status without a value: that aborts the process.
  template <typename T>
  static absl::StatusOr<T> AnswerAs(const Answer& answer) {
    if (const auto* value = std::get_if<T>(&answer)) return *value;
    const auto* refused = std::get_if<absl::Status>(&answer);
    if (refused != nullptr && !refused->ok()) return *refused;
    return absl::InternalError(
        "the write's log entry was applied as another kind of change");
  }

  absl::StatusOr<Assignment> AssignmentAt(const Appended& write) const {
    if (absl::Status applied = WaitApplied(write.sequence); !applied.ok()) {
      return applied;
    }
    absl::StatusOr<Answer> answer = AnswerAt(write);
    if (!answer.ok()) return answer.status();
    return AnswerAs<Assignment>(*answer);
  }

  absl::StatusOr<std::unique_ptr<ClusteringEngine>> BuildEngine() {
    LogPosition position;
    position.clock = [this] {
      return absl::FromUnixNanos(clock_nanos_.load(std::memory_order_acquire));
    };
    position.log_sequence = [this] {
      return applying_sequence_.load(std::memory_order_acquire);
    };
    if (options_.checkpoints != nullptr) {
      position.store_path = options_.checkpoints->StorePath();
    }
    return builder_(position);
  }

  // Whether the engine refused a change for reasons of this replica's own
  // (its store cannot write now, a write failed) rather than for the
  // change itself, which every replica refuses alike. The engine checks
  // its store before it changes anything, and answers UNAVAILABLE.
  static bool RefusedHere(const absl::Status& status) {
    switch (status.code()) {
      case absl::StatusCode::kUnavailable:
      case absl::StatusCode::kInternal:
      case absl::StatusCode::kDataLoss:
      case absl::StatusCode::kUnknown:
      case absl::StatusCode::kAborted:
      case absl::StatusCode::kCancelled:
      case absl::StatusCode::kDeadlineExceeded:
        return true;
      default:
        return false;
    }
  }

  // An engine change's outcome as an entry's answer, or the error that
  // holds this replica at the entry.
  template <typename T>
  static absl::StatusOr<Answer> Outcome(absl::StatusOr<T> changed) {
    if (changed.ok()) return Answer(*std::move(changed));
    if (RefusedHere(changed.status())) return changed.status();
    return Answer(changed.status());
  }
  static absl::StatusOr<Answer> Outcome(const absl::Status& changed) {
    if (!changed.ok() && RefusedHere(changed)) return changed;
    return Answer(changed);
  }

  // Applies one entry to the engine, on the entry's clock. The answer is
  // the entry's outcome, the same on every replica (a refusal included);
  // an error means this replica could not apply it now (its store cannot
  // take changes, the entry needs a newer build), changed nothing, and
  // must apply the same entry again before any later one.
  absl::StatusOr<Answer> Apply(const LogRecord& record) {
    clock_nanos_.store(absl::ToUnixNanos(record.time),
                       std::memory_order_release);
    applying_sequence_.store(record.sequence, std::memory_order_release);
    absl::StatusOr<LogEntry> decoded = DecodeEntry(record.data);
    if (!decoded.ok()) {
      // A newer release's entry holds this replica; bytes nobody wrote as
      // an entry are refused here as on every replica.
      if (absl::IsFailedPrecondition(decoded.status())) return decoded.status();
      return Answer(decoded.status());
    }
    const LogEntry& entry = *decoded;
    switch (entry.change_case()) {
      case LogEntry::kAssign: {
        auto article = ArticleOfEntry(entry);
        if (!article.ok()) return Answer(article.status());
        return Outcome(
            Read([&](ClusteringEngine& e) { return e.Assign(*article); }));
      }
      case LogEntry::kDeleteArticleId:
        return Outcome(Read([&](ClusteringEngine& e) {
          return e.DeleteArticle(entry.delete_article_id());
        }));
      case LogEntry::kCheckpoint:
        return Checkpoint(record);
      case LogEntry::kEdit: {
        auto action = ActionOfEntry(entry);
        if (!action.ok()) return Answer(action.status());
        return Outcome(
            Read([&](ClusteringEngine& e) { return e.Edit(*action); }));
      }
      case LogEntry::CHANGE_NOT_SET:
        break;
    }
    // Not reached: DecodeEntry refuses an entry without a change.
    return Answer(absl::InvalidArgumentError("log entry without a change"));
  }

  // Every replica rebuilds its engine from its own store here, as a
  // restarted one does from the saved copy: from this entry on, a replica
  // that restarts from the copy and one that never stopped hold the same
  // state (graphs and document frequencies included). Replicas without
  // checkpoints skip it (they replay the whole log when they start).
  //
  // The engine goes on answering reads meanwhile: its open store is backed
  // up, the new engine is built from a copy of the backup in a store
  // directory of its own, and only the swap takes the lock (for a while,
  // two engines are in memory). If saving or building fails (a disk low on
  // space), the current engine stays as it was and the replica holds at
  // this entry until a retry succeeds: going on without the rebuild would
  // leave it unlike its peers.
  absl::StatusOr<Answer> Checkpoint(const LogRecord& record) {
    if (options_.checkpoints == nullptr) return Answer(absl::OkStatus());
    const ReplicaCheckpoints::Point point{record.sequence, record.time};
    ClusteringEngine* current;  // only this thread replaces it
    {
      absl::ReaderMutexLock lock(&engine_mu_);
      current = engine_.get();
    }
    if (absl::Status writable = current->Writable(); !writable.ok()) {
      return writable;
    }
    absl::Status saved =
        options_.checkpoints->Save(point, [current](const std::string& dir) {
          return current->Backup(dir).status();
        });
    if (!saved.ok()) return saved;
    auto engine = BuildEngine();
    if (!engine.ok()) return engine.status();
    std::unique_ptr<ClusteringEngine> retired;
    {
      absl::WriterMutexLock lock(&engine_mu_);
      retired = std::exchange(engine_, *std::move(engine));
    }
    retired.reset();  // closes the previous store
    options_.checkpoints->RemoveOldStores();
    last_checkpoint_.store(record.sequence);
    return Answer(absl::OkStatus());
  }

  // Entries this replica needs were purged from the log (it fell more
  // than a checkpoint interval behind, paused or cut off): it starts
  // again from the newest shared checkpoint, as a restart would, and
  // reads on from there. False when that checkpoint does not reach the
  // entry at `next` either.
  bool CatchUpFromCheckpoint(uint64_t next) {
    if (options_.checkpoints == nullptr) return false;
    absl::WriterMutexLock lock(&engine_mu_);  // reads wait meanwhile
    engine_.reset();  // Restore() needs the store closed
    absl::StatusOr<ReplicaCheckpoints::Point> point =
        options_.checkpoints->Restore();
    if (point.ok() && point->sequence > 0) {
      clock_nanos_.store(absl::ToUnixNanos(point->time));
      applying_sequence_.store(point->sequence);
      last_applied_ = {point->sequence, absl::ToUnixNanos(point->time)};
    }
    absl::StatusOr<std::unique_ptr<ClusteringEngine>> engine = BuildEngine();
    if (!engine.ok()) {
      std::fprintf(stderr,
                   "replica: rebuilding the engine from the newest "
                   "checkpoint failed: %s\n",
                   engine.status().ToString().c_str());
      std::abort();  // no engine to answer with; a restart rebuilds it
    }
    engine_ = *std::move(engine);
    if (!point.ok()) return false;
    last_checkpoint_.store(point->sequence);
    SetApplied(point->sequence);
    (void)ReadFrom(point->sequence + 1);
    return point->sequence + 1 >= next;
  }

  // A checkpoint entry appended by a replica that is not caught up (Append
  // would refuse it): every caught-up peer applies it by saving a
  // checkpoint and sharing it on the shelf, where this replica finds it.
  // Its dedup id is its own (the time), so a later ask is stored too.
  void AskPeersForACheckpoint() {
    const std::string data = EncodeEntry(CheckpointEntry(
        static_cast<uint64_t>(absl::ToUnixSeconds(absl::Now()))));
    const std::string dedup_id =
        absl::StrCat("ask-checkpoint-", absl::ToUnixNanos(absl::Now()));
    const absl::StatusOr<uint64_t> sequence =
        log_->Append(dedup_id, data, options_.append_timeout);
    std::fprintf(
        stderr, "event=replica_asked_for_checkpoint level=info %s\n",
        sequence.ok()
            ? absl::StrCat("entry=", *sequence).c_str()
            : absl::StrCat("error=\"",
                           absl::CEscape(sequence.status().ToString()), "\"")
                  .c_str());
  }

  // A caught-up replica asks for a checkpoint once the log has grown by
  // checkpoint_every entries; the entry's content (the checkpoint's
  // number) is its dedup id, so replicas asking at once store one.
  void MaybeRequestCheckpoint() {
    if (options_.checkpoints == nullptr || options_.checkpoint_every <= 0 ||
        !CaughtUp().ok()) {
      return;
    }
    const uint64_t applied = applied_sequence();
    const uint64_t every = static_cast<uint64_t>(options_.checkpoint_every);
    if (applied < last_checkpoint_.load() + every) return;
    (void)Append(CheckpointEntry(applied / every), "");
  }

  void ApplyLoop() {
    absl::Time progress = absl::Now();
    while (!stop_.load()) {
      auto next = reader_ != nullptr ? reader_->Next(absl::Milliseconds(200))
                                     : absl::UnavailableError("no reader");
      if (!next.ok() || !next->has_value()) {
        if (!next.ok()) absl::SleepFor(absl::Milliseconds(100));
        // A reader whose NATS server died may wait for ever (its consumer
        // lived there); once the log is known to be ahead and nothing came
        // for a while, read again from the next entry through a new one.
        if (log_sequence_.load() > applied_sequence() &&
            absl::Now() - progress > options_.stalled_reader_timeout) {
          // The newest entries may be gone (deleted by an operator).
          if (!StepOverIfGone(applied_sequence() + 1, log_sequence_.load())) {
            (void)ReadFrom(applied_sequence() + 1);
          }
          progress = absl::Now();
        }
        continue;
      }
      const LogRecord record = **next;
      if (align_.has_value() && !FindsItsPlace(record)) continue;
      // A new reader may repeat what its predecessor delivered.
      if (record.sequence <= applied_sequence()) continue;
      if (record.sequence > applied_sequence() + 1) {
        if (!OnGap(record, &progress)) return;
        continue;
      }
      if (!ApplyHere(record)) return;  // stopping
      progress = absl::Now();
    }
  }

  // Replaces the reader with a new one from entry `first` on (none when
  // the log cannot make one now: the loop tries again). When the entry
  // before `first` is the last one applied here, the reader starts there,
  // to check that its server numbers the log as this replica does
  // (FindsItsPlace).
  absl::Status ReadFrom(uint64_t first) {
    reader_.reset();
    align_.reset();
    uint64_t from = first;
    if (first > 1 && last_applied_.sequence == first - 1) {
      from = first - 1;
      align_ = last_applied_;
    }
    auto reader = log_->Read(from);
    if (!reader.ok()) {
      align_.reset();
      return reader.status();
    }
    reader_ = *std::move(reader);
    return absl::OkStatus();
  }

  // The first entry a new reader delivered, checked against the last one
  // applied (align_): the same time at the same number, or this replica
  // takes the reader's numbering. nats-server 2.9.10's followers, after
  // kill -9, can hold an entry twice and number everything after it one
  // higher than their leader (the failover check: a follower "entries
  // 6175 to 9003" beside its leader's "6172 to 9002", the same last
  // message). Reading on from a checkpoint's number on a server that
  // numbers otherwise skipped an entry: a replica seeded with a peer's
  // checkpoint was one acknowledged article short. Entries are told
  // apart by their time, which the log gives each once. False when the
  // reader was replaced (the record is not to be applied).
  bool FindsItsPlace(const LogRecord& record) {
    const Position expected = *align_;
    if (record.sequence < expected.sequence) return true;
    align_.reset();
    // Not held at that number there (deleted, purged): nothing to compare.
    if (record.sequence > expected.sequence) return true;
    if (absl::ToUnixNanos(record.time) == expected.time_nanos) return true;
    // Look for it among the neighbouring numbers of that server.
    reader_.reset();
    auto scan = log_->Read(RenumberingWindowStart(expected.sequence));
    if (scan.ok()) {
      for (;;) {
        auto next = (*scan)->Next(absl::Seconds(1));
        if (!next.ok() || !next->has_value() ||
            (**next).sequence > expected.sequence + kRenumberingWindow) {
          break;
        }
        if (absl::ToUnixNanos((**next).time) != expected.time_nanos) continue;
        const uint64_t found = (**next).sequence;
        std::fprintf(stderr,
                     "event=replica_renumbered level=warning from=%llu "
                     "to=%llu reason=\"the log's server numbers the entry "
                     "last applied here %llu, not %llu\"\n",
                     static_cast<unsigned long long>(expected.sequence),
                     static_cast<unsigned long long>(found),
                     static_cast<unsigned long long>(found),
                     static_cast<unsigned long long>(expected.sequence));
        SetApplied(found);
        last_applied_ = {found, expected.time_nanos};
        reader_ = *std::move(scan);  // delivers what follows it
        return false;
      }
    }
    // Not there (a follower held the entry with another time, or never
    // held it): its place is unknown, so the replica applies the window
    // before it again rather than risk stepping over an entry. An assign
    // applied twice is a resend; a delete or merge is refused alike; an
    // edit that succeeds again (a pin, a move) replays in order to the
    // same stories, with its history line and feed event twice here.
    uint64_t again = RenumberingWindowStart(expected.sequence);
    // Never from before the log's first entry: that gap would send the
    // replica back to the same checkpoint.
    if (auto first = log_->FirstSequence(options_.poll_interval * 2);
        first.ok() && *first > again) {
      again = std::min(*first, expected.sequence + 1);
    }
    std::fprintf(stderr,
                 "event=replica_entry_not_found level=warning sequence=%llu "
                 "reason=\"the log's server holds another entry at the number "
                 "of the one last applied here, and none with its time "
                 "nearby; applying again from %llu\"\n",
                 static_cast<unsigned long long>(expected.sequence),
                 static_cast<unsigned long long>(again));
    SetApplied(again - 1);
    last_applied_ = Position();
    auto reader = log_->Read(again);
    if (reader.ok()) reader_ = *std::move(reader);
    return false;
  }

  // The reader delivered `record` with entries missing before it. False
  // when the replica must stop applying.
  bool OnGap(const LogRecord& record, absl::Time* progress) {
    const uint64_t next = record.sequence;
    const uint64_t missing_from = applied_sequence() + 1;
    if (reread_from_ != missing_from) {
      // A reader that skipped entries (its subscription dropped some):
      // read them again through a new one before anything else.
      reread_from_ = missing_from;
      (void)ReadFrom(reread_from_);
      *progress = absl::Now();
      return true;
    }
    const std::optional<bool> purged = PurgedBefore(next);
    if (purged.has_value() && !*purged &&
        StepOverIfGone(missing_from, next - 1)) {
      *progress = absl::Now();
      // Restarted from a peer's checkpoint past `record`: read on.
      if (record.sequence <= applied_sequence()) return true;
      return ApplyHere(record);
    }
    if (!purged.has_value() || !*purged) {
      // The log cannot say now, or it holds them and a fresh reader
      // skipped them too: read again (never past them: they may hold
      // acknowledged changes), NOT_SERVING meanwhile in the second case.
      if (purged.has_value()) {
        absl::MutexLock lock(&mu_);
        stalled_ = absl::UnavailableError(absl::StrCat(
            "the change log delivered entry ", next, " before entries ",
            missing_from, " to ", next - 1, "; reading them again"));
      }
      reread_from_ = 0;
      absl::SleepFor(absl::Milliseconds(200));
      return true;
    }
    // A fresh reader starts past them too: the log purged them.
    if (options_.on_purged && catch_up_wait_ == absl::ZeroDuration()) {
      options_.on_purged(
          next, absl::UnavailableError(absl::StrCat(
                    "the change log no longer holds entries ", missing_from,
                    " to ", next - 1,
                    " (purged after a newer checkpoint); starting again from "
                    "the newest shared checkpoint")));
    }
    if (!CatchUpFromCheckpoint(next)) {
      // Applying past the gap would diverge from every peer.
      if (options_.checkpoints == nullptr) {
        absl::MutexLock lock(&mu_);
        broken_ = absl::UnavailableError(absl::StrCat(
            "the change log no longer holds entries ", missing_from, " to ",
            next - 1,
            " and this replica keeps no checkpoints; restore it from a "
            "peer's checkpoint"));
        return false;
      }
      // The shelf cannot cover them now (unreachable through an election,
      // or its newest checkpoint is older): wait and try again, as the
      // peers' next checkpoint will. Stopping here for good made one
      // failed look at the shelf cost a replica until someone restarted it.
      catch_up_wait_ = std::clamp(2 * catch_up_wait_, absl::Milliseconds(100),
                                  absl::Seconds(30));
      // Still none after a few tries: the shelf may have lost its newest
      // checkpoint (seen after NATS servers were killed and came back: a
      // newcomer found the log purged and no checkpoint for five minutes).
      // Its peers make a new one when asked.
      if (catch_up_wait_ >= absl::Seconds(3)) AskPeersForACheckpoint();
      {
        absl::MutexLock lock(&mu_);
        stalled_ = absl::UnavailableError(absl::StrCat(
            "the change log no longer holds entries ", missing_from, " to ",
            next - 1,
            " and no shared checkpoint covers them yet; trying again in ",
            absl::FormatDuration(catch_up_wait_),
            " (or restore this replica from a peer's checkpoint)"));
        // At most one line per try (the wait doubles up to 30 s).
        std::fprintf(stderr,
                     "event=replica_waiting_for_checkpoint level=warning "
                     "reason=\"%s\"\n",
                     absl::CEscape(stalled_.message()).c_str());
      }
      if (!SleepUnlessStopping(catch_up_wait_)) return false;
      reread_from_ = 0;
      *progress = absl::Now();
      return true;
    }
    if (catch_up_wait_ > absl::ZeroDuration()) {
      catch_up_wait_ = absl::ZeroDuration();
      absl::MutexLock lock(&mu_);
      stalled_ = absl::OkStatus();
    }
    *progress = absl::Now();  // the new reader delivers from the checkpoint
    return true;
  }

  // Steps over entries `from` to `to` when the log holds none of them (an
  // operator deleted them, ReplicationLog::Delete, or the log skipped
  // their numbers) and purged nothing from `from` on. The log answers every
  // replica alike, so every replica steps over the same numbers. False when the
  // log still holds one of them or cannot say now.
  bool StepOverIfGone(uint64_t from, uint64_t to) {
    if (from > to) return false;
    // Entries the log purged (it holds none before its first) were real:
    // those need the newest shared checkpoint, never a step over.
    // Stepping over cannot be undone, so it takes two looks a poll apart
    // that agree: around a change of the log's leader one answer may come
    // from a server that has not caught up.
    for (int look = 0; look < 2; ++look) {
      if (look > 0 && !SleepUnlessStopping(options_.poll_interval)) {
        return false;
      }
      if (!LogHoldsNoneOf(from, to)) return false;
    }
    // The log's server may have lost entries that peers applied (nats-
    // server 2.9 can discard messages after leader changes, #4365): a
    // peer past them makes a checkpoint that covers them, and this replica
    // starts from it instead of stepping over what they hold.
    if (CaughtUpPastTheGapFromAPeer(to)) return true;
    const absl::Status gone = absl::NotFoundError(
        absl::StrCat("log entries ", from, " to ", to,
                     " are no longer in the log (deleted); stepped over"));
    bool was_stalled;
    {
      absl::MutexLock lock(&mu_);
      if (applied_ >= to) return true;
      for (uint64_t sequence = std::max(from, applied_ + 1); sequence <= to;
           ++sequence) {
        answers_.emplace(sequence, KeptAnswer{std::nullopt, Answer(gone)});
      }
      while (static_cast<int>(answers_.size()) > options_.kept_answers) {
        answers_.erase(answers_.begin());
      }
      applied_ = to;
      was_stalled = !stalled_.ok();
      stalled_ = absl::OkStatus();
    }
    NotifyApplied();
    reread_from_ = 0;
    if (options_.on_stepped_over) options_.on_stepped_over(from, to);
    if (was_stalled && options_.on_resumed) options_.on_resumed(to);
    return true;
  }

  // Asks the peers for a checkpoint and, once one past entry `to` is
  // shared (within a few polls), restarts from it (true). False when none
  // comes: no peer is past the gap (an entry an operator deleted, which
  // holds every replica, or numbers the log skipped for all), and the
  // caller steps over.
  bool CaughtUpPastTheGapFromAPeer(uint64_t to) {
    if (options_.checkpoints == nullptr) return false;
    auto newest_past_gap = [&] {
      absl::StatusOr<uint64_t> newest = options_.checkpoints->NewestShared();
      return newest.ok() && *newest > to;
    };
    if (!newest_past_gap()) {
      AskPeersForACheckpoint();
      const absl::Time until =
          absl::Now() + std::max(absl::Seconds(5), 20 * options_.poll_interval);
      while (!newest_past_gap()) {
        if (absl::Now() >= until ||
            !SleepUnlessStopping(options_.poll_interval)) {
          return false;
        }
      }
    }
    std::fprintf(stderr,
                 "event=replica_restoring_checkpoint level=warning "
                 "reason=\"the log no longer holds entry %llu, which a peer "
                 "applied\"\n",
                 static_cast<unsigned long long>(to));
    // Reads on from whichever checkpoint it restored (one short of the
    // gap meets it again, and asks again).
    CatchUpFromCheckpoint(to + 1);
    return true;
  }

  // Whether the log holds none of the entries `from` to `to` and purged
  // none of them (false also when it cannot say now).
  bool LogHoldsNoneOf(uint64_t from, uint64_t to) {
    absl::StatusOr<uint64_t> first =
        log_->FirstSequence(options_.poll_interval * 2);
    if (!first.ok() || *first == 0 || *first > from) return false;
    for (uint64_t sequence = from; sequence <= to; ++sequence) {
      absl::StatusOr<bool> held =
          log_->Holds(sequence, options_.poll_interval * 2);
      if (!held.ok() || *held) return false;
    }
    return true;
  }

  // Sleeps for `duration` in short steps; false when the replica stops.
  bool SleepUnlessStopping(absl::Duration duration) {
    const absl::Time until = absl::Now() + duration;
    while (absl::Now() < until) {
      if (stop_.load()) return false;
      absl::SleepFor(std::min(absl::Milliseconds(20), until - absl::Now()));
    }
    return !stop_.load();
  }

  // Whether the log purged entries this replica needs before `next` (it
  // holds none older than they); nullopt when the log cannot say now.
  std::optional<bool> PurgedBefore(uint64_t next) {
    absl::StatusOr<uint64_t> first =
        log_->FirstSequence(options_.poll_interval * 2);
    if (!first.ok() || *first == 0) return std::nullopt;
    return *first > applied_sequence() + 1 || *first > next;
  }

  // Wakes WaitForSequence's waiters after applied_ changed (taking their
  // lock first, so that none checks the old value and then sleeps).
  void NotifyApplied() {
    { std::lock_guard<std::mutex> lock(applied_wait_mu_); }
    applied_cv_.notify_all();
  }

  // Moves this replica to `sequence` without applying an entry (a restored
  // checkpoint, another numbering of the log) and wakes the waiters.
  void SetApplied(uint64_t sequence) {
    {
      absl::MutexLock lock(&mu_);
      applied_ = sequence;
    }
    NotifyApplied();
  }

  // Applies `record`, retrying for as long as this replica cannot (it
  // never moves past an entry it did not apply: a replica with a gap
  // would answer and checkpoint a state no peer has). Meanwhile it reports
  // not writable (health: NOT_SERVING) and says why. False when stopping.
  bool ApplyHere(const LogRecord& record) {
    absl::Duration backoff = absl::Milliseconds(50);
    for (;;) {
      absl::StatusOr<Answer> answer = Apply(record);
      if (answer.ok()) {
        if (const auto* status = std::get_if<absl::Status>(&*answer);
            status != nullptr && !status->ok() && options_.on_rejected) {
          options_.on_rejected(record.sequence, *status);
        }
        bool was_stalled;
        {
          absl::MutexLock lock(&mu_);
          // Replaces an answer kept under another numbering of the log.
          answers_.insert_or_assign(
              record.sequence,
              KeptAnswer{EntryHash(record.data), *std::move(answer)});
          while (static_cast<int>(answers_.size()) > options_.kept_answers) {
            answers_.erase(answers_.begin());
          }
          applied_ = record.sequence;
          was_stalled = !stalled_.ok();
          stalled_ = absl::OkStatus();
        }
        last_applied_ = {record.sequence, absl::ToUnixNanos(record.time)};
        NotifyApplied();
        if (was_stalled && options_.on_resumed) {
          options_.on_resumed(record.sequence);
        }
        return true;
      }
      bool first;
      {
        absl::MutexLock lock(&mu_);
        first = stalled_.ok();
        stalled_ = absl::UnavailableError(absl::StrCat(
            "this replica cannot apply log entry ", record.sequence, " now (",
            answer.status().message(),
            "); it retries that entry and applies nothing after it until "
            "it succeeds"));
      }
      if (first && options_.on_stalled) {
        options_.on_stalled(record.sequence, answer.status());
      }
      if (!SleepUnlessStopping(backoff)) return false;
      // An operator deleted the entry that holds this replica.
      if (StepOverIfGone(record.sequence, record.sequence)) return true;
      backoff = std::min(backoff * 2, absl::Seconds(1));
      // Lets the engine notice that space is back (it resumes its store).
      (void)Read([](const ClusteringEngine& e) { return e.Writable(); });
    }
  }

  void PollLog() {
    auto last = log_->LastSequence(options_.poll_interval * 2);
    log_reachable_.store(last.ok());
    if (!last.ok()) return;
    log_sequence_.store(*last);
    // Caught up once: what the log held at the first answer.
    if (!first_poll_done_.exchange(true)) caught_up_target_.store(*last);
  }

  void PollLoop() {
    while (!stop_.load()) {
      absl::SleepFor(options_.poll_interval);
      PollLog();
      MaybeRequestCheckpoint();
    }
  }

  const std::unique_ptr<ReplicationLog> log_;
  const ReplicationOptions options_;
  EngineBuilder builder_;
  EngineOptions engine_options_;
  std::atomic<uint64_t> last_checkpoint_{0};
  uint64_t start_sequence_ = 0;
  std::unique_ptr<LogReader> reader_;  // the applier's only
  // The first entry a fresh reader was asked for after a gap (0: none).
  uint64_t reread_from_ = 0;

  // The engine's clock: the log time of the entry being applied (reads in
  // between see the last one), and that entry's sequence.
  std::atomic<int64_t> clock_nanos_{0};
  std::atomic<uint64_t> applying_sequence_{0};

  mutable absl::Mutex mu_;
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
  // WaitForSequence's waiters (a steady-clock wait); told after every
  // change of applied_, which is taken under mu_ alone.
  mutable std::mutex applied_wait_mu_;
  mutable std::condition_variable applied_cv_;
  // Set when the log lost entries this replica needs and no checkpoint
  // covers them; it stops applying.
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  // The apply thread's wait before it looks at the shelf again for a
  // checkpoint past a purge (zero until a look failed).
  absl::Duration catch_up_wait_ = absl::ZeroDuration();
  // Set while the next entry cannot be applied here (ApplyHere).
  absl::Status stalled_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, KeptAnswer> answers_ ABSL_GUARDED_BY(mu_);
  // The apply thread's own: the last entry applied (or the checkpoint
  // restored) and, while a new reader's first entry is awaited, the entry
  // it must match (ReadFrom, FindsItsPlace).
  struct Position {
    uint64_t sequence = 0;
    int64_t time_nanos = 0;
  };
  Position last_applied_;
  std::optional<Position> align_;

  std::atomic<bool> log_reachable_{false};
  std::atomic<bool> first_poll_done_{false};
  std::atomic<uint64_t> log_sequence_{0};
  std::atomic<uint64_t> caught_up_target_{0};

  std::atomic<bool> stop_{false};
  std::thread applier_;
  std::thread poller_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicatedEngine>> ReplicatedEngine::Start(
    std::unique_ptr<ReplicationLog> log, const EngineBuilder& build,
    ReplicationOptions options) {
  if (log == nullptr) return absl::InvalidArgumentError("no change log");
  if (options.kept_answers < 1) {
    return absl::InvalidArgumentError("kept_answers must be positive");
  }
  auto engine = std::make_unique<ReplicatedEngineImpl>(std::move(log),
                                                       std::move(options));
  if (absl::Status started = engine->Init(build); !started.ok()) {
    return started;
  }
  return engine;
}

}  // namespace newsdedup
