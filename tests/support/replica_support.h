// Helpers for tests of replicas sharing one in-memory change log.
#ifndef NEWSDEDUP_TESTS_SUPPORT_REPLICA_SUPPORT_H_
#define NEWSDEDUP_TESTS_SUPPORT_REPLICA_SUPPORT_H_

#include <functional>
#include <memory>
#include <utility>

#include "services/replica/replicated_engine.h"
#include "services/replication/replication_log.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace testing {

// A handle on a log owned elsewhere, so that several replicas share it.
class SharedLog : public ReplicationLog {
 public:
  explicit SharedLog(ReplicationLog* log) : log_(log) {}
  absl::StatusOr<uint64_t> Append(absl::string_view id, absl::string_view data,
                                  absl::Duration timeout) override {
    return log_->Append(id, data, timeout);
  }
  absl::StatusOr<uint64_t> LastSequence(absl::Duration timeout) override {
    return log_->LastSequence(timeout);
  }
  absl::StatusOr<uint64_t> FirstSequence(absl::Duration timeout) override {
    return log_->FirstSequence(timeout);
  }
  absl::StatusOr<bool> Holds(uint64_t sequence,
                             absl::Duration timeout) override {
    return log_->Holds(sequence, timeout);
  }
  absl::Status Delete(uint64_t sequence, absl::Duration timeout) override {
    return log_->Delete(sequence, timeout);
  }
  absl::StatusOr<std::unique_ptr<LogReader>> Read(uint64_t first) override {
    return log_->Read(first);
  }

 private:
  ReplicationLog* const log_;
};

// A replica on `log` whose engine is MakeEngine(engine_options) on the
// log's clock.
inline absl::StatusOr<std::unique_ptr<ReplicatedEngine>> StartTestReplica(
    std::unique_ptr<ReplicationLog> log, const EngineOptions& engine_options,
    ReplicationOptions options) {
  return ReplicatedEngine::Start(
      std::move(log),
      [engine_options](const ReplicatedEngine::LogPosition& position)
          -> absl::StatusOr<std::unique_ptr<ClusteringEngine>> {
        EngineOptions with_clock = engine_options;
        with_clock.clock = position.clock;
        with_clock.log_sequence = position.log_sequence;
        return MakeEngine(with_clock);
      },
      std::move(options));
}

// The same on `log` (not owned), which other replicas may share.
inline absl::StatusOr<std::unique_ptr<ReplicatedEngine>> StartTestReplica(
    ReplicationLog* log, const EngineOptions& engine_options,
    ReplicationOptions options) {
  return StartTestReplica(std::make_unique<SharedLog>(log), engine_options,
                          std::move(options));
}

// Replication options for tests: short polls and timeouts.
inline ReplicationOptions FastReplicationOptions() {
  ReplicationOptions options;
  options.poll_interval = absl::Milliseconds(20);
  options.apply_timeout = absl::Seconds(10);
  options.append_timeout = absl::Milliseconds(300);
  return options;
}

}  // namespace testing
}  // namespace newsdedup

#endif  // NEWSDEDUP_TESTS_SUPPORT_REPLICA_SUPPORT_H_
