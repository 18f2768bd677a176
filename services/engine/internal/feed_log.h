// The engine's change feed (services/engine/change_feed.h): gives events
// their cursors in the order the engine stages its changes, hands them to
// the store with those changes (one atomic batch), and serves them to
// readers once durable. Internal to services/engine.
//
// Locking: the staging half (Add .. Staged) is called under the engine's
// lock, which orders it; the serving half (Durable, Read) from any thread.
// The feed's own mutex guards what both halves share, so readers never
// wait for the engine's lock.
#ifndef NEWSDEDUP_SERVICES_ENGINE_INTERNAL_FEED_LOG_H_
#define NEWSDEDUP_SERVICES_ENGINE_INTERNAL_FEED_LOG_H_

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/engine/change_feed.h"
#include "services/engine/engine_store.h"

namespace newsdedup {
namespace internal {

class FeedLog {
 public:
  // Events the feed holds in memory: the newest ones, which live consumers
  // read. Older ones come from the store; without a store, this is all
  // the feed keeps.
  static constexpr int64_t kMemoryEvents = 8192;

  // `store` may be null (memory only). `keep`: the newest events kept
  // (EngineOptions::feed_events).
  FeedLog(EngineStore* store, int64_t keep);

  FeedLog(const FeedLog&) = delete;
  FeedLog& operator=(const FeedLog&) = delete;

  // ----- Under the engine's lock -----

  // Continues the feed a store holds: its cursors, all of them durable.
  void Restore(const storage::v1::StoreMeta& meta);
  // Queues an event of the operation in progress (its cursor comes at
  // staging).
  void Add(FeedEvent event) { pending_.push_back(std::move(event)); }
  bool has_pending() const { return !pending_.empty(); }
  // Forgets the queued events (a recovery's own changes are no news).
  void DiscardPending() { pending_.clear(); }
  // Gives the queued events their cursors, keeps them, and adds them (and
  // the retention's deletions and the feed's counters) to `batch`; null
  // without a store.
  void Stage(EngineStore::Batch* batch);
  // The store took the batch as `ticket`: its events become readable when
  // Durable(ticket) is called. Without a store they are readable now.
  void Staged(uint64_t ticket);
  // The newest cursor given (0 before any event): a snapshot of the state
  // taken under the engine's lock reflects every event up to it.
  uint64_t last_cursor() const { return next_cursor_ - 1; }

  // ----- From any thread -----

  // Batch `ticket` and those before it are durable.
  void Durable(uint64_t ticket);
  // See ClusteringEngine::ReadFeed.
  absl::StatusOr<FeedPage> Read(const FeedQuery& query) const;
  // See ClusteringEngine::AwaitFeed.
  bool AwaitNewer(uint64_t after_cursor, absl::Duration timeout) const;

 private:
  // Moves page->next_cursor past `event`, and appends it to the page if
  // `query` asks for it.
  static void Collect(const FeedQuery& query, const FeedEvent& event,
                      FeedPage* page);

  EngineStore* const store_;
  const int64_t keep_;

  // Engine's lock.
  std::vector<FeedEvent> pending_;
  uint64_t next_cursor_ = 1;

  mutable absl::Mutex mu_;
  // The newest events, in cursor order, at most kMemoryEvents.
  std::deque<FeedEvent> memory_ ABSL_GUARDED_BY(mu_);
  // The oldest cursor kept.
  uint64_t first_cursor_ ABSL_GUARDED_BY(mu_) = 1;
  // Newest cursor of each batch staged and not yet durable.
  std::deque<std::pair<uint64_t, uint64_t>> staged_ ABSL_GUARDED_BY(mu_);
  // The newest readable cursor.
  uint64_t durable_cursor_ ABSL_GUARDED_BY(mu_) = 0;
};

// The stored form of an event and back. Errors: kDataLoss for a kind or
// relation this build does not know.
storage::v1::StoredFeedEvent ToStored(const FeedEvent& event);
absl::StatusOr<FeedEvent> FromStored(const storage::v1::StoredFeedEvent& in);

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_INTERNAL_FEED_LOG_H_
