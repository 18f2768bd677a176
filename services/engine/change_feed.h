// The change feed: every change to story state as an event, in one order.
//
// A downstream system (a search index, a newsletter builder, a cache)
// follows the stories without polling them: it reads the events after the
// last cursor it processed, applies them, and remembers the new cursor.
//
//   FeedQuery query;
//   query.after_cursor = last_processed;  // 0: from the oldest event kept
//   ASSIGN_OR_RETURN(FeedPage page, engine->ReadFeed(query));
//   for (const FeedEvent& e : page.events) Apply(e);
//   last_processed = page.next_cursor;
//
// Cursors count events from 1 and never repeat. An event is readable only
// once the change it reports is durable, so a cursor a consumer received
// names the same event after a crash and restart. Replicas of one log
// compute the same events with the same cursors (their engines apply the
// same entries on the log's clock), so a consumer may switch replica.
// The engine keeps the newest EngineOptions::feed_events events (in its
// store; the newest few thousand without one); a cursor older than that
// is OUT_OF_RANGE, and the consumer resyncs from ListClusters.
#ifndef NEWSDEDUP_SERVICES_ENGINE_CHANGE_FEED_H_
#define NEWSDEDUP_SERVICES_ENGINE_CHANGE_FEED_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/engine/article.h"

namespace newsdedup {

struct FeedEvent {
  // The numbers are stable: stores on disk and consumers hold them.
  enum class Kind {
    kCreated = 1,                // a story began with `article_id`
    kGrew = 2,                   // `article_id` joined (with `relation`)
    kUpdated = 3,                // a new version of `article_id` is here
    kMerged = 4,                 // `related_cluster_id` merged into this
    kSplit = 5,                  // this story split off `related_cluster_id`
    kMoved = 6,                  // `article_id` moved here from related
    kRepresentativeChanged = 7,  // `article_id` is the representative now
    kEdited = 8,                 // an editor's action (the fields below)
    kExpired = 9,                // its last article passed the retention
    kTakenDown = 10,             // `article_id` was taken down
    kThreadsJoined = 11,         // thread `related_thread_id` joined this
                                 // story's thread (`thread_id`)
  };
  static constexpr Kind kFirstKind = Kind::kCreated;
  static constexpr Kind kLastKind = Kind::kThreadsJoined;

  uint64_t cursor = 0;  // position in the feed, from 1
  Kind kind = Kind::kCreated;
  absl::Time time;         // by the engine's clock
  std::string cluster_id;  // the story changed (a merge's survivor)
  std::string thread_id;   // its thread after the change
  std::string article_id;  // see Kind
  Relation relation = Relation::kNewStory;  // kCreated, kGrew, kUpdated
  std::string related_cluster_id;           // see Kind
  std::string related_thread_id;            // kThreadsJoined
  int cluster_size = 0;                     // members after the change
  // The collections the story's members gave (Article::collection), for
  // the feed's collection filter; the article's own for article events.
  std::vector<std::string> collections;
  // kEdited: the action (EditorialActionName), who, why, and in words.
  std::string action;
  std::string editor;
  std::string reason;
  std::string detail;
};

// "CREATED", "GREW", ... (the proto enum's names).
const char* FeedEventKindName(FeedEvent::Kind kind);

// The kind a name (FeedEventKindName, any case) gives. Errors:
// kInvalidArgument naming the valid ones.
absl::StatusOr<FeedEvent::Kind> ParseFeedEventKind(absl::string_view name);

struct FeedQuery {
  // The last cursor processed: events after it are read. 0 reads from the
  // oldest event kept.
  uint64_t after_cursor = 0;
  int max_events = 1000;
  // Only events of these kinds (empty: every kind).
  std::vector<FeedEvent::Kind> kinds;
  // Only events whose `collections` hold this one (empty: every event).
  std::string collection;
};

struct FeedPage {
  std::vector<FeedEvent> events;  // in cursor order
  // What to pass as after_cursor next: past the events read and those the
  // filters skipped.
  uint64_t next_cursor = 0;
  // The newest readable (durable) cursor: caught up when next_cursor
  // reaches it.
  uint64_t newest_cursor = 0;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_CHANGE_FEED_H_
