#include "services/engine/internal/feed_log.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/engine/internal/stored_relation.h"

namespace newsdedup {
namespace internal {
namespace {

// Events the store reads at a time, and how many a filtered read looks at
// per requested event before it returns what it found (with next_cursor
// past them), so that a narrow filter never scans the whole feed at once.
constexpr int kStoreChunk = 256;
constexpr int kScanPerEvent = 16;

absl::Status CursorTooOld(uint64_t after, uint64_t first) {
  return absl::OutOfRangeError(
      absl::StrCat("cursor ", after,
                   " is older than the change feed keeps (its oldest "
                   "event is ",
                   first,
                   "): resync from ListClusters, whose answer names "
                   "the cursor to watch from"));
}

}  // namespace

FeedLog::FeedLog(EngineStore* store, int64_t keep)
    : store_(store), keep_(std::max<int64_t>(1, keep)) {}

void FeedLog::Restore(const storage::v1::StoreMeta& meta) {
  next_cursor_ = std::max<uint64_t>(1, meta.feed_next_cursor());
  absl::MutexLock lock(&mu_);
  first_cursor_ =
      std::clamp<uint64_t>(meta.feed_first_cursor(), 1, next_cursor_);
  durable_cursor_ = next_cursor_ - 1;
  memory_.clear();
  staged_.clear();
}

void FeedLog::Stage(EngineStore::Batch* batch) {
  absl::MutexLock lock(&mu_);
  for (FeedEvent& event : pending_) {
    event.cursor = next_cursor_++;
    if (batch != nullptr) batch->put_events.push_back(ToStored(event));
    memory_.push_back(std::move(event));
  }
  pending_.clear();
  const int64_t in_memory =
      store_ == nullptr ? std::min(keep_, kMemoryEvents) : kMemoryEvents;
  while (static_cast<int64_t>(memory_.size()) > in_memory) memory_.pop_front();
  if (store_ == nullptr) {
    if (!memory_.empty()) first_cursor_ = memory_.front().cursor;
    return;
  }
  // Retention in steps of a sixteenth, so that the store deletes a range
  // now and then rather than one event per batch.
  const uint64_t kept = next_cursor_ - first_cursor_;
  const uint64_t slack = std::max<uint64_t>(1, keep_ / 16);
  if (kept > static_cast<uint64_t>(keep_) + slack) {
    first_cursor_ = next_cursor_ - keep_;
    batch->delete_events_before = first_cursor_;
  }
  batch->meta.set_feed_next_cursor(next_cursor_);
  batch->meta.set_feed_first_cursor(first_cursor_);
}

void FeedLog::Staged(uint64_t ticket) {
  absl::MutexLock lock(&mu_);
  const uint64_t newest = next_cursor_ - 1;
  if (store_ == nullptr) {
    durable_cursor_ = newest;
    return;
  }
  if (newest > durable_cursor_ &&
      (staged_.empty() || staged_.back().second < newest)) {
    staged_.emplace_back(ticket, newest);
  }
}

void FeedLog::Durable(uint64_t ticket) {
  // Unlocking mu_ wakes the readers whose AwaitNewer condition now holds.
  absl::MutexLock lock(&mu_);
  while (!staged_.empty() && staged_.front().first <= ticket) {
    durable_cursor_ = std::max(durable_cursor_, staged_.front().second);
    staged_.pop_front();
  }
}

bool FeedLog::AwaitNewer(uint64_t after_cursor, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto newer = [this, after_cursor]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return durable_cursor_ > after_cursor;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&newer), timeout);
}

void FeedLog::Collect(const FeedQuery& query, const FeedEvent& event,
                      FeedPage* page) {
  page->next_cursor = event.cursor;
  if (!query.kinds.empty() && std::find(query.kinds.begin(), query.kinds.end(),
                                        event.kind) == query.kinds.end()) {
    return;
  }
  if (!query.collection.empty() &&
      std::find(event.collections.begin(), event.collections.end(),
                query.collection) == event.collections.end()) {
    return;
  }
  page->events.push_back(event);
}

absl::StatusOr<FeedPage> FeedLog::Read(const FeedQuery& query) const {
  if (query.max_events < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_events: ", query.max_events, " (at least 1 event a page)"));
  }
  const size_t wanted = static_cast<size_t>(query.max_events);
  FeedPage page;
  {
    absl::MutexLock lock(&mu_);
    if (query.after_cursor > 0 && query.after_cursor + 1 < first_cursor_) {
      return CursorTooOld(query.after_cursor, first_cursor_);
    }
    page.newest_cursor = durable_cursor_;
    page.next_cursor = std::max(query.after_cursor, first_cursor_ - 1);
    if (page.next_cursor >= page.newest_cursor) return page;
    if (!memory_.empty() && memory_.front().cursor <= page.next_cursor + 1) {
      for (size_t i = page.next_cursor + 1 - memory_.front().cursor;
           i < memory_.size() && memory_[i].cursor <= page.newest_cursor &&
           page.events.size() < wanted;
           ++i) {
        Collect(query, memory_[i], &page);
      }
      return page;
    }
    if (store_ == nullptr) return CursorTooOld(page.next_cursor, first_cursor_);
  }
  // Older than memory holds: from the store, without the lock (the store
  // synchronises itself).
  size_t budget = wanted * kScanPerEvent;
  std::vector<storage::v1::StoredFeedEvent> chunk;
  while (page.events.size() < wanted && budget > 0 &&
         page.next_cursor < page.newest_cursor) {
    chunk.clear();
    RETURN_IF_ERROR(store_->ReadEvents(page.next_cursor, kStoreChunk, &chunk));
    if (chunk.empty() || chunk.front().cursor() != page.next_cursor + 1) {
      // The retention dropped them while this read went on.
      absl::MutexLock lock(&mu_);
      return CursorTooOld(page.next_cursor, first_cursor_);
    }
    for (const storage::v1::StoredFeedEvent& stored : chunk) {
      if (stored.cursor() > page.newest_cursor ||
          page.events.size() >= wanted || budget == 0) {
        break;
      }
      ASSIGN_OR_RETURN(FeedEvent event, FromStored(stored));
      Collect(query, event, &page);
      --budget;
    }
  }
  return page;
}

storage::v1::StoredFeedEvent ToStored(const FeedEvent& event) {
  storage::v1::StoredFeedEvent out;
  out.set_cursor(event.cursor);
  out.set_kind(static_cast<int>(event.kind));
  out.set_time_unix_nanos(absl::ToUnixNanos(event.time));
  out.set_cluster_id(event.cluster_id);
  out.set_thread_id(event.thread_id);
  out.set_article_id(event.article_id);
  out.set_relation(ToStoredRelation(event.relation));
  out.set_related_cluster_id(event.related_cluster_id);
  out.set_related_thread_id(event.related_thread_id);
  out.set_cluster_size(event.cluster_size);
  for (const std::string& c : event.collections) out.add_collections(c);
  out.set_action(event.action);
  out.set_editor(event.editor);
  out.set_reason(event.reason);
  out.set_detail(event.detail);
  return out;
}

absl::StatusOr<FeedEvent> FromStored(const storage::v1::StoredFeedEvent& in) {
  FeedEvent out;
  if (in.kind() < static_cast<int>(FeedEvent::kFirstKind) ||
      in.kind() > static_cast<int>(FeedEvent::kLastKind)) {
    return absl::DataLossError(
        absl::StrCat("feed event ", in.cursor(), " has kind number ", in.kind(),
                     ", which this build does not know"));
  }
  out.cursor = in.cursor();
  out.kind = static_cast<FeedEvent::Kind>(in.kind());
  out.time = absl::FromUnixNanos(in.time_unix_nanos());
  out.cluster_id = in.cluster_id();
  out.thread_id = in.thread_id();
  out.article_id = in.article_id();
  ASSIGN_OR_RETURN(out.relation, FromStoredRelation(in.relation()));
  out.related_cluster_id = in.related_cluster_id();
  out.related_thread_id = in.related_thread_id();
  out.cluster_size = in.cluster_size();
  out.collections.assign(in.collections().begin(), in.collections().end());
  out.action = in.action();
  out.editor = in.editor();
  out.reason = in.reason();
  out.detail = in.detail();
  return out;
}

}  // namespace internal
}  // namespace newsdedup
