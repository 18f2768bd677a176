// The engine with a store: the engine proper, rebuilt from the store when a
// write fails.
//
// The engine proper changes its memory first and writes the change to the
// store after (so that the costly part, the fsync, is shared by concurrent
// callers). Changes the store might refuse are refused before they are
// made (EngineStore::Writable), but a write can still fail (an I/O error,
// a disk filled by someone else): its callers are told UNAVAILABLE, yet
// memory then holds what the disk does not. This wrapper restores the
// promise that a refused change leaves no trace: after a failed write it
// waits for the calls in flight, builds a new engine proper from the store
// (exactly what a restart would do) and answers from that one. Changes stay
// refused until the store can write again (EngineStore::Resume).
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "services/engine/internal/engine_factory.h"
#include "services/engine/internal/swappable_engine.h"

namespace newsdedup {
namespace internal {
namespace {

class DurableEngine final : public SwappableEngine<ClusteringEngine> {
 public:
  DurableEngine(const EngineOptions& options,
                std::unique_ptr<EngineStore> store)
      : options_(options), store_(std::move(store)) {}

  // A clean stop: the engine proper leaves its index's graphs for the next
  // start, unless a write failed since it was built (memory then is not
  // the store's state), and goes before the store it uses.
  ~DurableEngine() override {
    absl::MutexLock lock(&engine_mu_);
    if (engine_ != nullptr &&
        store_->failed_writes() == rebuilt_after_failures_) {
      (void)WriteIndexSnapshot(*engine_);  // without one, a start rebuilds
    }
    engine_.reset();
  }

  // Builds the first engine proper from the store.
  absl::Status Start(std::unique_ptr<Embedder> embedder) {
    // A spare embedder with nothing observed, for the rebuild (made now,
    // since making one can fail; without it a rebuild needs a restart).
    absl::StatusOr<std::unique_ptr<Embedder>> spare = embedder->NewEmpty();
    absl::MutexLock lock(&engine_mu_);
    if (spare.ok()) spare_embedder_ = *std::move(spare);
    rebuilt_after_failures_ = store_->failed_writes();
    ASSIGN_OR_RETURN(
        engine_, NewEngineOnStore(options_, std::move(embedder), store_.get()));
    return absl::OkStatus();
  }

  absl::StatusOr<Assignment> Assign(const Article& article) override {
    return Change([&](ClusteringEngine& e) { return e.Assign(article); });
  }
  std::vector<absl::StatusOr<Assignment>> AssignBatch(
      absl::Span<const Article> articles) override {
    return Change([&](ClusteringEngine& e) { return e.AssignBatch(articles); });
  }
  absl::Status DeleteArticle(absl::string_view article_id) override {
    return Change(
        [&](ClusteringEngine& e) { return e.DeleteArticle(article_id); });
  }
  absl::StatusOr<EditResult> Edit(const EditorialAction& action) override {
    return Change([&](ClusteringEngine& e) { return e.Edit(action); });
  }
  absl::Status ForgetExpired() override {
    return Change([&](ClusteringEngine& e) { return e.ForgetExpired(); });
  }

  absl::StatusOr<EngineStore::BackupInfo> Backup(
      const std::string& backup_dir) override {
    // Under the shared lock: the store cannot reopen meanwhile.
    return Read([&](ClusteringEngine& e) { return e.Backup(backup_dir); });
  }
  const EngineOptions& options() const override { return options_; }

  absl::Status Writable() const override {
    if (!store_->Writable().ok() && store_->failed_writes() > 0) {
      // After a failed write: memory first (a change in flight may have
      // failed since the last rebuild), then the store, tried at most once
      // a second.
      RebuildIfBehind();
      TryResume();
    }
    return Read([](const ClusteringEngine& e) { return e.Writable(); });
  }

 private:
  // A change, and the rebuild if a store write failed meanwhile (its own
  // or a concurrent one's): once the caller hears of a refusal, memory is
  // what the store holds.
  template <typename Fn>
  std::invoke_result_t<Fn&, ClusteringEngine&> Change(Fn fn) {
    auto result = Read(fn);
    RebuildIfBehind();
    return result;
  }

  // Asks the store to write again, at most once a second, with every other
  // call held off (the store may reopen its database).
  void TryResume() const ABSL_LOCKS_EXCLUDED(engine_mu_) {
    {
      absl::MutexLock lock(&resume_mu_);
      if (absl::Now() - last_resume_ < absl::Seconds(1)) return;
      last_resume_ = absl::Now();
    }
    absl::MutexLock lock(&engine_mu_);
    (void)store_->Resume();  // Writable() says why, if it still cannot
  }

  // Const because reads trigger it too (Writable); what it changes is
  // mutable.
  void RebuildIfBehind() const ABSL_LOCKS_EXCLUDED(engine_mu_) {
    const uint64_t failures = store_->failed_writes();
    {
      absl::ReaderMutexLock lock(&engine_mu_);
      if (failures == rebuilt_after_failures_) return;
    }
    absl::MutexLock lock(&engine_mu_);  // waits for the calls in flight
    if (failures == rebuilt_after_failures_ || spare_embedder_ == nullptr) {
      return;
    }
    absl::StatusOr<std::unique_ptr<Embedder>> next_spare =
        spare_embedder_->NewEmpty();
    absl::StatusOr<std::unique_ptr<ClusteringEngine>> rebuilt =
        NewEngineOnStore(options_, std::move(spare_embedder_), store_.get());
    spare_embedder_ = next_spare.ok() ? *std::move(next_spare) : nullptr;
    if (!rebuilt.ok()) return;  // keeps refusing changes; a restart rebuilds
    engine_ = *std::move(rebuilt);
    rebuilt_after_failures_ = failures;
  }

  const EngineOptions options_;
  const std::unique_ptr<EngineStore> store_;
  mutable std::unique_ptr<Embedder> spare_embedder_ ABSL_GUARDED_BY(engine_mu_);
  mutable uint64_t rebuilt_after_failures_ ABSL_GUARDED_BY(engine_mu_) = 0;
  mutable absl::Mutex resume_mu_;
  mutable absl::Time last_resume_ ABSL_GUARDED_BY(resume_mu_) =
      absl::InfinitePast();
};

}  // namespace

absl::StatusOr<std::unique_ptr<ClusteringEngine>> NewDurableEngine(
    const EngineOptions& options, std::unique_ptr<Embedder> embedder,
    std::unique_ptr<EngineStore> store) {
  if (embedder == nullptr) {
    return absl::InvalidArgumentError("embedder must not be null");
  }
  auto engine = std::make_unique<DurableEngine>(options, std::move(store));
  RETURN_IF_ERROR(engine->Start(std::move(embedder)));
  return std::unique_ptr<ClusteringEngine>(std::move(engine));
}

}  // namespace internal
}  // namespace newsdedup
