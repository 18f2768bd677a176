#include "services/api/cluster_feed.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "services/api/api_messages.h"

namespace newsdedup {

absl::StatusOr<FeedQuery> ClusterFeed::QueryOf(
    const v1::WatchClusterEventsRequest& request) {
  FeedQuery query;
  query.after_cursor = request.after_cursor();
  query.max_events = kMaxEventsPerRead;
  for (int i = 0; i < request.kinds_size(); ++i) {
    const int kind = request.kinds(i);
    if (kind < static_cast<int>(FeedEvent::kFirstKind) ||
        kind > static_cast<int>(FeedEvent::kLastKind)) {
      return absl::InvalidArgumentError(
          absl::StrCat("kinds[", i, "]: ", kind,
                       " is not a kind of ClusterChangeEvent (1 to ",
                       static_cast<int>(FeedEvent::kLastKind), ")"));
    }
    query.kinds.push_back(static_cast<FeedEvent::Kind>(kind));
  }
  if (!request.collection().empty()) {
    RETURN_IF_ERROR(ValidateId("collection", request.collection()));
    query.collection = request.collection();
  }
  return query;
}

absl::StatusOr<std::vector<v1::ClusterChangeEvent>> ClusterFeed::Next(
    FeedQuery* query, absl::Duration wait) const {
  const absl::Time deadline = absl::Now() + wait;
  std::vector<v1::ClusterChangeEvent> out;
  for (;;) {
    ASSIGN_OR_RETURN(FeedPage page, engine_->ReadFeed(*query));
    query->after_cursor = page.next_cursor;
    for (const FeedEvent& event : page.events) {
      ToProto(event, &out.emplace_back());
    }
    if (!out.empty()) return out;
    // The filters skipped a stretch: read on at once.
    if (page.next_cursor < page.newest_cursor) continue;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration() ||
        !engine_->AwaitFeed(page.next_cursor, left)) {
      return out;
    }
  }
}

namespace {

v1::ClusterChangeEvent::Kind KindToProto(FeedEvent::Kind kind) {
  // The proto's numbers are the engine's (change_feed.h): both are stable.
  return static_cast<v1::ClusterChangeEvent::Kind>(static_cast<int>(kind));
}

}  // namespace

void ToProto(const FeedEvent& event, v1::ClusterChangeEvent* out) {
  out->set_cursor(event.cursor);
  out->set_kind(KindToProto(event.kind));
  ToTimestamp(event.time, out->mutable_time());
  out->set_cluster_id(event.cluster_id);
  out->set_thread_id(event.thread_id);
  out->set_article_id(event.article_id);
  if (event.kind == FeedEvent::Kind::kCreated ||
      event.kind == FeedEvent::Kind::kGrew ||
      event.kind == FeedEvent::Kind::kUpdated) {
    out->set_relation(ToProto(event.relation));
  }
  out->set_related_cluster_id(event.related_cluster_id);
  out->set_related_thread_id(event.related_thread_id);
  out->set_cluster_size(event.cluster_size);
  for (const std::string& c : event.collections) out->add_collections(c);
  out->set_action(event.action);
  out->set_editor(event.editor);
  out->set_reason(event.reason);
  out->set_detail(event.detail);
}

}  // namespace newsdedup
