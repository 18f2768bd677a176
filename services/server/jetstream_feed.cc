#include "services/server/jetstream_feed.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "services/api/api_messages.h"

namespace newsdedup {
namespace {

constexpr char kCursorHeader[] = "Newsdedup-Cursor";
constexpr char kKindHeader[] = "Newsdedup-Kind";

}  // namespace

absl::StatusOr<std::unique_ptr<JetStreamFeed>> JetStreamFeed::Start(
    JetStreamFeedOptions options, const ClusteringEngine* engine) {
  RETURN_IF_ERROR(CheckJetStreamName("feed stream", options.stream));
  if (options.subject.empty()) options.subject = options.stream + ".events";
  ASSIGN_OR_RETURN(Connection connection, ConnectToJetStream(options.nats));
  StreamSpec events;
  events.name = options.stream;
  events.subject = options.subject;
  events.replicas = options.replicas;
  RETURN_IF_ERROR(EnsureJetStream(connection.js.get(), events,
                                  options.nats.connect_timeout));
  std::unique_ptr<JetStreamFeed> feed(
      new JetStreamFeed(std::move(options), engine, std::move(connection)));
  ASSIGN_OR_RETURN(const uint64_t last, feed->LastPublished());
  feed->published_ = last;
  feed->thread_ = std::thread([self = feed.get()] { self->Run(); });
  return feed;
}

JetStreamFeed::JetStreamFeed(JetStreamFeedOptions options,
                             const ClusteringEngine* engine,
                             Connection connection)
    : options_(std::move(options)),
      feed_(engine),
      connection_(std::move(connection)) {}

JetStreamFeed::~JetStreamFeed() { Stop(); }

void JetStreamFeed::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void JetStreamFeed::Log(absl::string_view event,
                        absl::string_view detail) const {
  if (options_.log) options_.log(event, detail);
}

absl::StatusOr<uint64_t> JetStreamFeed::LastPublished() {
  return RetryThroughElections<absl::StatusOr<uint64_t>>(
      options_.nats.connect_timeout,
      [&](jsOptions* js_options,
          absl::Status* last) -> std::optional<absl::StatusOr<uint64_t>> {
        natsMsg* raw = nullptr;
        jsErrCode code = static_cast<jsErrCode>(0);
        const natsStatus s =
            js_GetLastMsg(&raw, connection_.js.get(), options_.stream.c_str(),
                          options_.subject.c_str(), js_options, &code);
        if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) {
          return uint64_t{0};  // an empty stream: from the oldest event
        }
        if (s != NATS_OK) {
          *last = NatsError("reading the feed stream's last event", s, code);
          return std::nullopt;
        }
        NatsPtr<natsMsg> message(raw);
        const char* cursor = nullptr;
        uint64_t value = 0;
        if (natsMsgHeader_Get(raw, kCursorHeader, &cursor) != NATS_OK ||
            !absl::SimpleAtoi(cursor, &value)) {
          return absl::StatusOr<uint64_t>(absl::FailedPreconditionError(
              absl::StrCat("the last message on ", options_.subject, " has no ",
                           kCursorHeader,
                           " header: the subject is not newsdedup's feed")));
        }
        return value;
      });
}

std::string JetStreamFeed::MessageId(uint64_t cursor) const {
  return absl::StrCat(options_.stream, "-", cursor);
}

absl::Status JetStreamFeed::Publish(const v1::ClusterChangeEvent& event) {
  const std::string data = ApiJson(event);
  natsMsg* raw = nullptr;
  if (natsMsg_Create(&raw, options_.subject.c_str(), nullptr, data.data(),
                     static_cast<int>(data.size())) != NATS_OK) {
    return absl::InternalError("cannot make a NATS message");
  }
  NatsPtr<natsMsg> message(raw);
  const std::string cursor = absl::StrCat(event.cursor());
  natsMsgHeader_Set(raw, kCursorHeader, cursor.c_str());
  natsMsgHeader_Set(raw, kKindHeader,
                    v1::ClusterChangeEvent::Kind_Name(event.kind()).c_str());
  jsPubOptions publish;
  jsPubOptions_Init(&publish);
  // A retry after a lost ack, or another replica that stored it first
  // within the duplicate window: one message per cursor.
  const std::string id = MessageId(event.cursor());
  publish.MsgId = id.c_str();
  // Stored only right after the event this publisher published last: a
  // replica behind another (by more than the duplicate window) is told so
  // instead of storing a cursor twice.
  const std::string last = MessageId(published_.load());
  if (published_.load() > 0) publish.ExpectLastMsgId = last.c_str();
  jsPubAck* ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s =
      js_PublishMsg(&ack, connection_.js.get(), raw, &publish, &code);
  NatsPtr<jsPubAck> stored(ack);
  if (code == JSStreamWrongLastMsgIDErr) {
    return absl::AbortedError("another publisher stored newer events");
  }
  if (s != NATS_OK) return NatsError("publishing a feed event", s, code);
  return absl::OkStatus();
}

void JetStreamFeed::Run() {
  FeedQuery query;
  query.after_cursor = published_.load();
  query.max_events = ClusterFeed::kMaxEventsPerRead;
  absl::Status last_error;
  std::vector<v1::ClusterChangeEvent> pending;
  size_t next = 0;  // in pending
  while (!stopping_) {
    if (next == pending.size()) {
      absl::StatusOr<std::vector<v1::ClusterChangeEvent>> read =
          feed_.Next(&query, absl::Milliseconds(500));
      if (!read.ok()) {
        // A stream that ends before the oldest event kept: what is gone
        // cannot be published; from the oldest kept on.
        if (read.status().code() == absl::StatusCode::kOutOfRange) {
          Log("feed_publish_gap", read.status().message());
          query.after_cursor = 0;
        } else {
          absl::SleepFor(absl::Milliseconds(500));
        }
        continue;
      }
      pending = *std::move(read);
      next = 0;
    }
    if (next == pending.size()) continue;
    const absl::Status published = Publish(pending[next]);
    if (published.code() == absl::StatusCode::kAborted) {
      // Another replica is ahead: on from the stream's end.
      absl::StatusOr<uint64_t> end = LastPublished();
      if (!end.ok()) {
        Log("feed_publish_failed", end.status().message());
        absl::SleepFor(absl::Milliseconds(250));
        continue;
      }
      published_ = *end;
      query.after_cursor = *end;
      pending.clear();
      next = 0;
      continue;
    }
    if (!published.ok()) {
      // Said once, not at every retry; the same event again shortly.
      if (published.message() != last_error.message()) {
        Log("feed_publish_failed", published.message());
      }
      last_error = published;
      absl::SleepFor(absl::Milliseconds(250));
      continue;
    }
    last_error = absl::OkStatus();
    published_ = pending[next].cursor();
    ++next;
  }
}

}  // namespace newsdedup
