#include <algorithm>

#include "services/internal/engine_impl.h"

// News time, index shard expiry and retention.

namespace newsdedup {
namespace internal {

absl::Time ClusteringEngineImpl::NewsClock() const {
  if (!Dated(newest_)) return newest_;
  return std::min(newest_, Now() + kMaxClockLead);
}

void ClusteringEngineImpl::ExpireOldShards(absl::Time t) {
  if (!Dated(t)) return;
  const absl::Time now = NewsClock();
  index_->DropBucketsBefore(BucketOf(now - options_.story_window) - 1);
}

absl::Time ClusteringEngineImpl::ReceivedNow(absl::Time t) {
  last_received_ = std::max(last_received_, t);
  return last_received_;
}

void ClusteringEngineImpl::ForgetExpiredLocked() {
  if (options_.retention == absl::InfiniteDuration()) return;
  const absl::Time cutoff = Now() - options_.retention;
  EngineOptions::RetentionSweep sweep;
  sweep.cutoff = cutoff;
  const int64_t end = static_cast<int64_t>(articles_.size());
  for (; retention_cursor_ < end; ++retention_cursor_) {
    ArticleRecord& record = articles_[retention_cursor_];
    if (record.received >= cutoff) break;
    if (record.removed) continue;  // deleted, or replaced by a version
    const int64_t c = Resolve(record.cluster);
    if (!RemoveArticle(retention_cursor_).ok()) break;  // index error: later
    ++sweep.articles;
    if (clusters_[c].members.empty()) ++sweep.expired_stories;
    record.title.clear();
    record.title.shrink_to_fit();
    record.url.clear();
    record.url.shrink_to_fit();
    record.answer = CompactAnswer();
  }
  if (sweep.articles == 0) return;
  stats_.forgotten += sweep.articles;
  if (options_.on_retention_sweep) options_.on_retention_sweep(sweep);
}

}  // namespace internal
}  // namespace newsdedup
