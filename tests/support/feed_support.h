// Helpers for tests of the change feed over gRPC.
#ifndef NEWSDEDUP_TESTS_SUPPORT_FEED_SUPPORT_H_
#define NEWSDEDUP_TESTS_SUPPORT_FEED_SUPPORT_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "newsdedup/v1/dedup.grpc.pb.h"

namespace newsdedup {
namespace testing {

// A consumer that processes `count` events after cursor `after` from a new
// WatchClusterEvents stream (waiting at most 20 s), then hangs up.
inline std::vector<v1::ClusterChangeEvent> WatchEvents(
    v1::DedupService::Stub* stub, uint64_t after, size_t count) {
  v1::WatchClusterEventsRequest request;
  request.set_after_cursor(after);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(20));
  auto stream = stub->WatchClusterEvents(&context, request);
  std::vector<v1::ClusterChangeEvent> events;
  v1::ClusterChangeEvent event;
  while (events.size() < count && stream->Read(&event)) {
    events.push_back(event);
  }
  context.TryCancel();
  stream->Finish();
  return events;
}

}  // namespace testing
}  // namespace newsdedup

#endif  // NEWSDEDUP_TESTS_SUPPORT_FEED_SUPPORT_H_
