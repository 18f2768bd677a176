// The change feed published to a JetStream stream (`serve --feed-stream`),
// for consumers that already read NATS: each event (a ClusterChangeEvent
// in JSON, as the HTTP API prints it) is a message on the feed subject
// with the headers Newsdedup-Cursor and Newsdedup-Kind, in cursor order.
//
// Exactly once in the stream, in order: the publisher starts after the
// cursor of the stream's last message; each message's Nats-Msg-Id is its
// cursor, and it is stored only if the stream's last message is the one
// this publisher published last. So several replicas of a replicated
// service may publish the same feed (they compute the same events with
// the same cursors): JetStream drops a repeat within its duplicate
// window, and a publisher that finds another ahead goes on from the
// stream's end. A message is
// published only once its event is durable (ClusteringEngine::ReadFeed);
// while NATS cannot take it, the publisher retries the same event.
#ifndef NEWSDEDUP_SERVICES_SERVER_JETSTREAM_FEED_H_
#define NEWSDEDUP_SERVICES_SERVER_JETSTREAM_FEED_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/api/cluster_feed.h"
#include "services/engine/engine.h"
#include "services/replication/nats_connection.h"

namespace newsdedup {

struct JetStreamFeedOptions {
  NatsEndpoint nats;
  // The stream the events are stored in, created (file storage,
  // `replicas` copies) with `subject` if it does not exist.
  std::string stream;
  std::string subject;  // empty: "<stream>.events"
  int replicas = 1;
  // Receives notable events: (event, detail).
  std::function<void(absl::string_view, absl::string_view)> log;
};

class JetStreamFeed {
 public:
  // Connects, creates the stream if missing, reads where it ends, and
  // starts publishing on a thread of its own. `engine` must outlive the
  // publisher. Errors: INVALID_ARGUMENT for bad options; UNAVAILABLE when
  // NATS did not answer within nats.connect_timeout.
  static absl::StatusOr<std::unique_ptr<JetStreamFeed>> Start(
      JetStreamFeedOptions options, const ClusteringEngine* engine);

  ~JetStreamFeed();  // Stop()

  // Stops publishing (within half a second). Idempotent.
  void Stop();

  // The cursor of the last event stored in the stream.
  uint64_t published_cursor() const { return published_.load(); }

 private:
  JetStreamFeed(JetStreamFeedOptions options, const ClusteringEngine* engine,
                Connection connection);
  // The cursor of the stream's last event on the subject (0: none).
  absl::StatusOr<uint64_t> LastPublished();
  void Run();
  // Stores one event; OK also when JetStream already held its cursor.
  // kAborted: the stream's last message is not the one this publisher
  // published last (another replica's publisher is ahead).
  absl::Status Publish(const v1::ClusterChangeEvent& event);
  // The Nats-Msg-Id of the event at `cursor`.
  std::string MessageId(uint64_t cursor) const;
  void Log(absl::string_view event, absl::string_view detail) const;

  const JetStreamFeedOptions options_;
  ClusterFeed feed_;
  Connection connection_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> published_{0};
  std::thread thread_;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_JETSTREAM_FEED_H_
