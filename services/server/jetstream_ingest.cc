#include "services/server/jetstream_ingest.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "services/api/api_messages.h"

namespace newsdedup {
namespace {

// An article the engine refused for what it is (it will be refused again,
// whenever it comes): not for what the engine can take now.
bool Malformed(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument ||
         status.code() == absl::StatusCode::kOutOfRange;
}

constexpr absl::Duration kAckWait = absl::Seconds(10);

// How long an article the engine cannot take now waits to come again.
constexpr int64_t kRedeliverAfterMs = 1000;

}  // namespace

absl::StatusOr<std::unique_ptr<JetStreamIngest>> JetStreamIngest::Start(
    JetStreamIngestOptions options, ClusteringEngine* engine) {
  RETURN_IF_ERROR(CheckJetStreamName("stream", options.stream));
  if (options.subject.empty()) options.subject = options.stream + ".articles";
  if (options.answers_subject.empty()) {
    options.answers_subject = options.stream + ".answers";
  }
  if (options.dead_letter_subject.empty()) {
    options.dead_letter_subject = options.stream + ".dead-letter";
  }
  RETURN_IF_ERROR(CheckJetStreamName("consumer", options.consumer));
  if (options.batch < 1) options.batch = 1;
  ASSIGN_OR_RETURN(Connection connection, ConnectToJetStream(options.nats));
  StreamSpec articles;
  articles.name = options.stream;
  articles.subject = options.subject;
  articles.replicas = options.replicas;
  RETURN_IF_ERROR(EnsureJetStream(connection.js.get(), articles,
                                  options.nats.connect_timeout));
  StreamSpec dead_letters = articles;
  dead_letters.name = options.stream + "_dead_letter";
  dead_letters.subject = options.dead_letter_subject;
  RETURN_IF_ERROR(EnsureJetStream(connection.js.get(), dead_letters,
                                  options.nats.connect_timeout));

  std::unique_ptr<JetStreamIngest> ingest(
      new JetStreamIngest(std::move(options), engine, std::move(connection)));
  const JetStreamIngestOptions& o = ingest->options_;
  jsSubOptions sub_options;
  jsSubOptions_Init(&sub_options);
  sub_options.Stream = o.stream.c_str();
  sub_options.Config.AckPolicy = js_AckExplicit;
  // A message delivered to a server that died comes again after this: long
  // next to assigning a batch (milliseconds), short for a restart.
  sub_options.Config.AckWait = absl::ToInt64Nanoseconds(kAckWait);
  absl::StatusOr<SubscriptionPtr> subscribed =
      RetryThroughElections<absl::StatusOr<SubscriptionPtr>>(
          o.nats.connect_timeout,
          [&](jsOptions* js_options, absl::Status* last)
              -> std::optional<absl::StatusOr<SubscriptionPtr>> {
            natsSubscription* raw = nullptr;
            jsErrCode code = static_cast<jsErrCode>(0);
            const natsStatus s = js_PullSubscribe(
                &raw, ingest->connection_.js.get(), o.subject.c_str(),
                o.consumer.c_str(), js_options, &sub_options, &code);
            if (s == NATS_OK) {
              return SubscriptionPtr(
                  raw, SubscriptionCloser{ingest->connection_.conn.get()});
            }
            *last =
                NatsError(absl::StrCat("subscribing to ", o.subject), s, code);
            return std::nullopt;
          });
  if (!subscribed.ok()) return subscribed.status();
  ingest->subscription_ = *std::move(subscribed);
  ingest->thread_ = std::thread([self = ingest.get()] { self->Run(); });
  return ingest;
}

JetStreamIngest::JetStreamIngest(JetStreamIngestOptions options,
                                 ClusteringEngine* engine,
                                 Connection connection)
    : options_(std::move(options)),
      intake_(engine, ServiceLimits()),
      connection_(std::move(connection)) {}

JetStreamIngest::~JetStreamIngest() { Stop(); }

void JetStreamIngest::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  subscription_.reset();
}

void JetStreamIngest::Log(absl::string_view event,
                          absl::string_view detail) const {
  if (options_.log) options_.log(event, detail);
}

void JetStreamIngest::Run() {
  absl::Status last_error;
  while (!stopping_) {
    natsMsgList batch{nullptr, 0};
    jsErrCode code = static_cast<jsErrCode>(0);
    // A short wait, so that Stop() is heard within half a second.
    const natsStatus s = natsSubscription_Fetch(&batch, subscription_.get(),
                                                options_.batch, 500, &code);
    if (s == NATS_OK) {
      last_error = absl::OkStatus();
      Process(&batch);
    } else if (s != NATS_TIMEOUT) {
      // Disconnected or a leader election: the client reconnects by
      // itself; said once, not every half second.
      absl::Status error = NatsError("fetching articles", s, code);
      if (error.message() != last_error.message()) {
        Log("ingest_fetch_failed", error.message());
      }
      last_error = std::move(error);
      absl::SleepFor(absl::Milliseconds(250));
    }
    natsMsgList_Destroy(&batch);
  }
}

void JetStreamIngest::Process(natsMsgList* batch) {
  const int n = batch->Count;
  std::vector<absl::Status> parsed(n);
  std::vector<int> position(n, -1);  // in the request, for parsed ones
  v1::AssignBatchRequest request;
  for (int i = 0; i < n; ++i) {
    natsMsg* m = batch->Msgs[i];
    v1::Article article;
    parsed[i] = FromApiJson(
        absl::string_view(natsMsg_GetData(m), natsMsg_GetDataLength(m)),
        &article);
    if (parsed[i].ok()) {
      position[i] = request.articles_size();
      *request.add_articles() = std::move(article);
    } else {
      parsed[i] = absl::InvalidArgumentError(absl::StrCat(
          "the message: ",
          absl::StripPrefix(parsed[i].message(), "request body: ")));
    }
  }
  v1::AssignBatchResponse response;
  const absl::Status assigned = intake_.AssignBatch(
      request, [] { return false; }, &response);
  for (int i = 0; i < n; ++i) {
    natsMsg* m = batch->Msgs[i];
    absl::Status status = parsed[i];
    const v1::AssignResult* result = nullptr;
    if (status.ok() && !assigned.ok()) status = assigned;
    if (status.ok()) {
      result = &response.results(position[i]);
      if (result->has_error()) {
        status =
            absl::Status(static_cast<absl::StatusCode>(result->error().code()),
                         result->error().message());
      }
    }
    if (status.ok()) {
      // Acknowledged once assigned (durably: the engine's answers are);
      // the answer is published first, so it is never lost for an
      // acknowledged article (it may come twice after a crash).
      const std::string answer = ApiJson(result->answer());
      natsMsg* out = nullptr;
      if (natsMsg_Create(&out, options_.answers_subject.c_str(), nullptr,
                         answer.data(),
                         static_cast<int>(answer.size())) == NATS_OK) {
        NatsPtr<natsMsg> owned(out);
        natsMsgHeader_Set(out, "Newsdedup-Article-Id",
                          result->answer().article_id().c_str());
        natsConnection_PublishMsg(connection_.conn.get(), out);
      }
      natsMsg_Ack(m, nullptr);
      ++assigned_;
    } else if (Malformed(status) && DeadLetter(m, status)) {
      natsMsg_Ack(m, nullptr);
      ++dead_lettered_;
    } else {
      // The engine cannot take it now (or the dead letter was not
      // stored): it comes again, a second later.
      natsMsg_NakWithDelay(m, kRedeliverAfterMs, nullptr);
      ++redelivered_;
    }
  }
}

bool JetStreamIngest::DeadLetter(natsMsg* message, const absl::Status& error) {
  natsMsg* raw = nullptr;
  if (natsMsg_Create(&raw, options_.dead_letter_subject.c_str(), nullptr,
                     natsMsg_GetData(message),
                     natsMsg_GetDataLength(message)) != NATS_OK) {
    return false;
  }
  NatsPtr<natsMsg> out(raw);
  const std::string text(error.message());
  natsMsgHeader_Set(raw, "Newsdedup-Error", text.c_str());
  natsMsgHeader_Set(raw, "Newsdedup-Error-Code",
                    absl::StatusCodeToString(error.code()).c_str());
  jsPubOptions publish;
  jsPubOptions_Init(&publish);
  std::string id;
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, message) == NATS_OK) {
    NatsPtr<jsMsgMetaData> owned(meta);
    const std::string sequence = absl::StrCat(meta->Sequence.Stream);
    natsMsgHeader_Set(raw, "Newsdedup-Source-Sequence", sequence.c_str());
    // Redelivered after a crash between storing the letter and the
    // acknowledgement, the same message is stored once (JetStream drops a
    // repeated id within the stream's duplicate window).
    id = absl::StrCat(options_.stream, "-", sequence);
    publish.MsgId = id.c_str();
  }
  jsPubAck* ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s =
      js_PublishMsg(&ack, connection_.js.get(), raw, &publish, &code);
  NatsPtr<jsPubAck> stored(ack);
  if (s != NATS_OK) {
    Log("ingest_dead_letter_failed",
        NatsError("storing a dead letter", s, code).message());
    return false;
  }
  Log("ingest_dead_letter", text);
  return true;
}

}  // namespace newsdedup
