// The read half of the engine wrappers that hold the engine proper behind a
// reader/writer lock and may replace it: the durable engine (a rebuild from
// the store after a failed write, durable_engine.cc) and a replica (a
// rebuild from its store at each checkpoint, replicated_engine.cc). Every
// read goes to the current engine under the shared lock; the wrapper
// defines the writes and replaces engine_ under the exclusive lock.
// Internal to services/.
#ifndef NEWSDEDUP_SERVICES_ENGINE_INTERNAL_SWAPPABLE_ENGINE_H_
#define NEWSDEDUP_SERVICES_ENGINE_INTERNAL_SWAPPABLE_ENGINE_H_

#include <algorithm>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/engine/engine.h"

namespace newsdedup {
namespace internal {

// `Interface` is ClusteringEngine or an interface derived from it.
template <typename Interface>
class SwappableEngine : public Interface {
 public:
  absl::StatusOr<SimilarResult> FindSimilar(const Article& article,
                                            int k) const override {
    return Read(
        [&](const ClusteringEngine& e) { return e.FindSimilar(article, k); });
  }
  absl::StatusOr<std::string> ResolveClusterId(
      absl::string_view cluster_id) const override {
    return Read([&](const ClusteringEngine& e) {
      return e.ResolveClusterId(cluster_id);
    });
  }
  absl::StatusOr<std::string> ResolveThreadId(
      absl::string_view thread_id) const override {
    return Read([&](const ClusteringEngine& e) {
      return e.ResolveThreadId(thread_id);
    });
  }
  absl::StatusOr<std::string> ClusterOfArticle(
      absl::string_view article_id) const override {
    return Read([&](const ClusteringEngine& e) {
      return e.ClusterOfArticle(article_id);
    });
  }
  absl::StatusOr<ArticleView> GetArticle(
      absl::string_view article_id) const override {
    return Read(
        [&](const ClusteringEngine& e) { return e.GetArticle(article_id); });
  }
  absl::StatusOr<MemberPage> ClusterMembers(absl::string_view cluster_id,
                                            int offset,
                                            int limit) const override {
    return Read([&](const ClusteringEngine& e) {
      return e.ClusterMembers(cluster_id, offset, limit);
    });
  }
  absl::StatusOr<ClusterSummary> GetCluster(
      absl::string_view cluster_id) const override {
    return Read(
        [&](const ClusteringEngine& e) { return e.GetCluster(cluster_id); });
  }
  std::vector<ClusterSummary> ListClusters(
      bool include_expired) const override {
    return Read([&](const ClusteringEngine& e) {
      return e.ListClusters(include_expired);
    });
  }
  EngineStats stats() const override {
    return Read([](const ClusteringEngine& e) { return e.stats(); });
  }
  absl::StatusOr<FeedPage> ReadFeed(const FeedQuery& query) const override {
    return Read([&](const ClusteringEngine& e) { return e.ReadFeed(query); });
  }
  bool AwaitFeed(uint64_t after_cursor, absl::Duration timeout) const override {
    // In short waits, so that replacing the engine never waits long for a
    // watcher to let go of it.
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      const absl::Duration left = deadline - absl::Now();
      const absl::Duration slice = std::min(left, absl::Milliseconds(50));
      if (Read([&](const ClusteringEngine& e) {
            return e.AwaitFeed(after_cursor, slice);
          })) {
        return true;
      }
      if (left <= slice) return false;
    }
  }
  uint64_t FeedCursor() const override {
    return Read([](const ClusteringEngine& e) { return e.FeedCursor(); });
  }

 protected:
  // Calls fn(engine proper) while it cannot be replaced.
  template <typename Fn>
  std::invoke_result_t<Fn&, ClusteringEngine&> Read(Fn fn) const {
    absl::ReaderMutexLock lock(&engine_mu_);
    return fn(*engine_);
  }

  // Held shared by every call, exclusively to replace the engine proper.
  mutable absl::Mutex engine_mu_;
  mutable std::unique_ptr<ClusteringEngine> engine_ ABSL_GUARDED_BY(engine_mu_);
};

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_INTERNAL_SWAPPABLE_ENGINE_H_
