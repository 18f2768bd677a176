// The change feed on the API (WatchClusterEvents): a request's validation
// and the events' messages, shared by the gRPC stream, the HTTP server's
// Server-Sent Events and anything else that follows the feed.
//
//   ClusterFeed feed(engine);
//   ASSIGN_OR_RETURN(FeedQuery query, ClusterFeed::QueryOf(request));
//   while (!stopping) {
//     ASSIGN_OR_RETURN(auto events, feed.Next(&query, absl::Seconds(1)));
//     for (const v1::ClusterChangeEvent& e : events) Send(e);
//   }
//
// Thread safety: all methods may be called concurrently.
#ifndef NEWSDEDUP_SERVICES_API_CLUSTER_FEED_H_
#define NEWSDEDUP_SERVICES_API_CLUSTER_FEED_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "newsdedup/v1/dedup.pb.h"
#include "services/engine/change_feed.h"
#include "services/engine/engine.h"

namespace newsdedup {

class ClusterFeed {
 public:
  // Events a call to Next returns at most.
  static constexpr int kMaxEventsPerRead = 256;

  // `engine` must outlive this object.
  explicit ClusterFeed(const ClusteringEngine* engine) : engine_(engine) {}

  // The engine query a request asks for. Errors: kInvalidArgument naming
  // the field.
  static absl::StatusOr<FeedQuery> QueryOf(
      const v1::WatchClusterEventsRequest& request);

  // The next events after query->after_cursor that the query takes,
  // waiting up to `wait` while there are none; advances
  // query->after_cursor past the events returned and those the filters
  // skipped. Empty: none came within `wait`. Errors: ReadFeed's
  // (kOutOfRange: the cursor is older than the feed keeps).
  absl::StatusOr<std::vector<v1::ClusterChangeEvent>> Next(
      FeedQuery* query, absl::Duration wait) const;

 private:
  const ClusteringEngine* const engine_;
};

void ToProto(const FeedEvent& event, v1::ClusterChangeEvent* out);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_API_CLUSTER_FEED_H_
