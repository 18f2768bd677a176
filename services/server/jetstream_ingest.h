// Ingest from a JetStream stream: an ingest pipeline publishes articles
// (one JSON Article per message, protobuf's JSON mapping as in the HTTP
// API) on a subject; this consumes them with a durable pull consumer,
// assigns them, publishes each answer, and acknowledges a message only
// once its article is durably assigned (the engine's answer is durable
// before it is given). A message that is not an article (not JSON, no id,
// no text, ...) goes to a dead-letter subject with its error and is
// acknowledged: never dropped silently, never redelivered in a loop. An
// article the engine cannot take now (disk low, a replica not writable,
// the article limit) is redelivered a second later.
//
// Delivery: after a crash between an assignment and its acknowledgement
// the message comes again and is assigned again, which changes nothing (a
// resent id with the same content keeps its answer): every article is
// assigned once; answers are published at least once.
#ifndef NEWSDEDUP_SERVICES_SERVER_JETSTREAM_INGEST_H_
#define NEWSDEDUP_SERVICES_SERVER_JETSTREAM_INGEST_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/api/article_intake.h"
#include "services/engine/engine.h"
#include "services/replication/nats_connection.h"

namespace newsdedup {

struct JetStreamIngestOptions {
  NatsEndpoint nats;
  // The stream of incoming articles, created (file storage, `replicas`
  // copies) with `subject` if it does not exist.
  std::string stream;
  std::string subject;  // empty: "<stream>.articles"
  int replicas = 1;
  // The durable consumer; several servers naming the same one share the
  // work (each message goes to one of them).
  std::string consumer = "newsdedup-ingest";
  // Each answer (an AssignResponse in JSON) is published here, with the
  // header Newsdedup-Article-Id. Empty: "<stream>.answers".
  std::string answers_subject;
  // Malformed messages, their data unchanged, headers Newsdedup-Error,
  // Newsdedup-Error-Code and Newsdedup-Source-Sequence; stored in the
  // stream "<stream>_dead_letter", created if missing. Empty:
  // "<stream>.dead-letter".
  std::string dead_letter_subject;
  int batch = 64;  // messages fetched and assigned at a time
  // Receives notable events: (event, detail).
  std::function<void(absl::string_view, absl::string_view)> log;
};

class JetStreamIngest {
 public:
  // Connects, creates the streams and the consumer if missing, and starts
  // consuming on a thread of its own. `engine` must outlive the ingest.
  // Errors: INVALID_ARGUMENT for bad options; UNAVAILABLE when NATS did
  // not answer within nats.connect_timeout.
  static absl::StatusOr<std::unique_ptr<JetStreamIngest>> Start(
      JetStreamIngestOptions options, ClusteringEngine* engine);

  ~JetStreamIngest();  // Stop()

  // Stops fetching; an article being assigned finishes, unacknowledged
  // ones come again to the next consumer. Idempotent.
  void Stop();

  int64_t assigned() const { return assigned_.load(); }
  int64_t dead_lettered() const { return dead_lettered_.load(); }
  int64_t redelivered() const { return redelivered_.load(); }

 private:
  JetStreamIngest(JetStreamIngestOptions options, ClusteringEngine* engine,
                  Connection connection);
  void Run();
  // Assigns one fetched batch and settles each message.
  void Process(natsMsgList* batch);
  // Publishes `message`'s data to the dead-letter subject with `error`;
  // false when that failed (the message is then redelivered later).
  bool DeadLetter(natsMsg* message, const absl::Status& error);
  void Log(absl::string_view event, absl::string_view detail) const;

  const JetStreamIngestOptions options_;
  ArticleIntake intake_;
  Connection connection_;
  SubscriptionPtr subscription_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> assigned_{0};
  std::atomic<int64_t> dead_lettered_{0};
  std::atomic<int64_t> redelivered_{0};
  std::thread thread_;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_JETSTREAM_INGEST_H_
