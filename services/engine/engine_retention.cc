#include <algorithm>

#include "services/engine/engine_impl.h"

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
  const int64_t end = articles_.end();
  for (; retention_cursor_ < end; ++retention_cursor_) {
    ArticleRecord& record = articles_[retention_cursor_];
    if (record.received >= cutoff) break;
    if (record.removed) continue;  // deleted, or replaced by a version
    const int64_t c = Resolve(record.cluster);
    if (!RemoveArticle(retention_cursor_).ok()) break;  // index error: later
    ++sweep.articles;
    if (clusters_[c].members.empty()) {
      ++sweep.expired_stories;
      // Its members are gone: the last one's collection names it.
      FeedEvent expired = NewFeedEvent(FeedEvent::Kind::kExpired, c, -1);
      if (record.collection >= 0) {
        expired.collections = {collections_.Name(record.collection)};
      }
      Publish(std::move(expired));
    }
    ForgetOldEvents(&clusters_[c], cutoff);
  }
  // Records before the cursor are removed: their numbers are still named
  // by answers of held articles (Expand skips them once gone), nothing
  // else reads them.
  while (articles_.begin() < retention_cursor_) articles_.pop_front();
  sweep.forgotten_stories = ForgetStories(cutoff);
  if (sweep.articles == 0 && sweep.forgotten_stories == 0) return;
  stats_.forgotten += sweep.articles;
  stats_.forgotten_stories += sweep.forgotten_stories;
  if (options_.on_retention_sweep) options_.on_retention_sweep(sweep);
}

void ClusteringEngineImpl::ForgetOldEvents(Cluster* cluster,
                                           absl::Time cutoff) {
  // In time order; the first (its creation) stays.
  std::vector<ClusterEvent>& history = cluster->history;
  if (history.size() < 2 || !(history[1].time < cutoff)) return;
  history.erase(std::remove_if(history.begin() + 1, history.end(),
                               [cutoff](const ClusterEvent& e) {
                                 return e.time < cutoff &&
                                        e.kind != ClusterEvent::Kind::kEdited;
                               }),
                history.end());
}

void ClusteringEngineImpl::MarkEmptied(int64_t c) {
  clusters_[c].emptied = Now();
  MarkDirty(c);
  if (options_.retention == absl::InfiniteDuration()) return;
  emptied_stories_.insert({clusters_[c].emptied, c});
}

void ClusteringEngineImpl::CountReferences(int64_t a, int delta) {
  const ArticleRecord& record = articles_[a];
  for (const int64_t c : {record.cluster, record.answer.runner_up}) {
    if (c < 0) continue;
    Cluster& cluster = clusters_[c];
    cluster.references += delta;
    // An emptied story waiting only for this reference to go.
    if (cluster.references == 0 &&
        options_.retention != absl::InfiniteDuration() &&
        (cluster.merged_into >= 0 ||
         clusters_[Resolve(c)].emptied != absl::InfiniteFuture())) {
      recheck_stories_.push_back(c);
    }
  }
}

std::vector<int64_t> ClusteringEngineImpl::ForgettableAlias(
    int64_t c, absl::Time cutoff) const {
  const Cluster& absorbed = clusters_[c];
  if (absorbed.references > 0 || !(absorbed.emptied < cutoff)) return {};
  // Stores from before absorbed records were flattened (Absorb) may hold
  // chains: a record another one merges into stays.
  const Cluster& live = clusters_[Resolve(c)];
  for (const std::string& alias : live.aliases) {
    auto it = cluster_by_id_.find(alias);
    if (it != cluster_by_id_.end() && clusters_[it->second].merged_into == c) {
      return {};
    }
  }
  // Absorb joined its thread to the survivor's, whose root is older: it
  // is never its thread's root, and threads through it are relinked.
  return {c};
}

std::vector<int64_t> ClusteringEngineImpl::ForgettableStory(
    int64_t root, absl::Time cutoff) const {
  const Cluster& live = clusters_[root];
  if (live.merged_into >= 0 || !live.members.empty() ||
      !(live.emptied < cutoff)) {
    return {};
  }
  std::vector<int64_t> story = {root};
  for (const std::string& alias : live.aliases) {
    auto it = cluster_by_id_.find(alias);
    if (it != cluster_by_id_.end()) story.push_back(it->second);
  }
  std::sort(story.begin(), story.end());
  story.erase(std::unique(story.begin(), story.end()), story.end());
  auto in_story = [&](int64_t c) {
    return std::binary_search(story.begin(), story.end(), c);
  };
  bool threads_through = false;  // younger stories' threads, from outside
  for (const int64_t c : story) {
    if (clusters_[c].references > 0) return {};
    for (const int64_t child : clusters_[c].thread_children) {
      threads_through |= !in_story(child);
    }
  }
  // A thread's root names the thread: it stays while others are in it.
  // Any other story goes, its younger stories relinked (ForgetStories).
  if (threads_through && in_story(ThreadRoot(root))) return {};
  return story;
}

int64_t ClusteringEngineImpl::ForgetStories(absl::Time cutoff) {
  std::vector<int64_t> due;
  due.swap(recheck_stories_);
  while (!emptied_stories_.empty() &&
         emptied_stories_.begin()->first < cutoff) {
    due.push_back(emptied_stories_.begin()->second);
    emptied_stories_.erase(emptied_stories_.begin());
  }
  int64_t forgotten = 0;
  // Grows while it runs: a story forgotten may free an older one its
  // thread went through.
  for (size_t i = 0; i < due.size(); ++i) {
    if (!clusters_.contains(due[i])) continue;  // gone already
    const bool alias = clusters_[due[i]].merged_into >= 0;
    const std::vector<int64_t> story =
        alias ? ForgettableAlias(due[i], cutoff)
              : ForgettableStory(Resolve(due[i]), cutoff);
    if (story.empty()) continue;  // held; looked at again when freed
    if (alias) {                  // the live story no longer answers to its id
      const int64_t live = Resolve(due[i]);
      std::vector<std::string>& aliases = clusters_[live].aliases;
      aliases.erase(
          std::remove(aliases.begin(), aliases.end(), clusters_[due[i]].id),
          aliases.end());
      MarkDirty(live);
    }
    auto in_story = [&story](int64_t c) {
      return std::binary_search(story.begin(), story.end(), c);
    };
    // Younger stories whose thread went through this one now link to the
    // thread's root (older than all of them: no walk can loop), so the
    // thread, and every id it answers with, stays as it was.
    const int64_t thread_root = ThreadRoot(story.front());
    for (const int64_t c : story) {
      for (const int64_t child : clusters_[c].thread_children) {
        if (in_story(child)) continue;
        clusters_[child].thread_parent = thread_root;
        clusters_[thread_root].thread_children.push_back(child);
        MarkDirty(child);
      }
      const int64_t parent = clusters_[c].thread_parent;
      if (parent >= 0 && !in_story(parent)) {
        std::vector<int64_t>& siblings = clusters_[parent].thread_children;
        siblings.erase(std::remove(siblings.begin(), siblings.end(), c),
                       siblings.end());
        due.push_back(parent);
      }
    }
    for (const int64_t c : story) {
      cluster_by_id_.erase(clusters_[c].id);
      clusters_.erase(c);
      if (store_ != nullptr) forgotten_clusters_.push_back(c);
    }
    forgotten += !alias;
  }
  return forgotten;
}

}  // namespace internal
}  // namespace newsdedup
