#include "services/jetstream_log.h"

#include <nats/nats.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace newsdedup {
namespace {

// Owners of the C client's objects.
struct NatsDeleter {
  void operator()(natsOptions* p) const { natsOptions_Destroy(p); }
  void operator()(natsConnection* p) const { natsConnection_Destroy(p); }
  void operator()(jsCtx* p) const { jsCtx_Destroy(p); }
  void operator()(natsSubscription* p) const { natsSubscription_Destroy(p); }
  void operator()(natsMsg* p) const { natsMsg_Destroy(p); }
  void operator()(jsMsgMetaData* p) const { jsMsgMetaData_Destroy(p); }
  void operator()(jsPubAck* p) const { jsPubAck_Destroy(p); }
  void operator()(jsStreamInfo* p) const { jsStreamInfo_Destroy(p); }
};
template <typename T>
using NatsPtr = std::unique_ptr<T, NatsDeleter>;

// A failed call as a Status: timeouts and lost connections are UNAVAILABLE
// (the caller may retry elsewhere); the rest are INTERNAL.
absl::Status NatsError(absl::string_view what, natsStatus s,
                       jsErrCode code = static_cast<jsErrCode>(0)) {
  std::string message = absl::StrCat(what, ": ", natsStatus_GetText(s));
  if (code != 0) absl::StrAppend(&message, " (JetStream error ", code, ")");
  if (const char* detail = nats_GetLastError(nullptr);
      detail != nullptr && *detail != '\0') {
    absl::StrAppend(&message, ": ", detail);
  }
  switch (s) {
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_IO_ERROR:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

int64_t Millis(absl::Duration d) {
  return std::max<int64_t>(1, absl::ToInt64Milliseconds(d));
}

// JetStream API requests time out while the cluster elects its leaders (a
// NATS server just died or came back) and are answered a moment later:
// `attempt` is tried with short waits (`o`'s) until `timeout` has passed.
// `attempt` returns nullopt to be tried again, with `*last` saying why.
template <typename T, typename Attempt>
T RetryThroughElections(absl::Duration timeout, Attempt attempt) {
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = Millis(std::min(timeout, absl::Seconds(2)));
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last;
  do {
    std::optional<T> done = attempt(&o, &last);
    if (done.has_value()) return *std::move(done);
    absl::SleepFor(absl::Milliseconds(200));
  } while (absl::Now() < deadline);
  return last;
}

class JetStreamReader final : public LogReader {
 public:
  explicit JetStreamReader(NatsPtr<natsSubscription> sub)
      : sub_(std::move(sub)) {}

  absl::StatusOr<std::optional<LogRecord>> Next(
      absl::Duration timeout) override {
    natsMsg* raw = nullptr;
    const natsStatus s =
        natsSubscription_NextMsg(&raw, sub_.get(), Millis(timeout));
    if (s == NATS_TIMEOUT) return std::nullopt;
    if (s != NATS_OK) return NatsError("reading the log", s);
    NatsPtr<natsMsg> msg(raw);
    jsMsgMetaData* meta_raw = nullptr;
    if (natsStatus m = natsMsg_GetMetaData(&meta_raw, msg.get());
        m != NATS_OK) {
      return NatsError("reading an entry's metadata", m);
    }
    NatsPtr<jsMsgMetaData> meta(meta_raw);
    LogRecord record;
    record.sequence = meta->Sequence.Stream;
    record.time = absl::FromUnixNanos(meta->Timestamp);
    record.data.assign(natsMsg_GetData(msg.get()),
                       natsMsg_GetDataLength(msg.get()));
    return record;
  }

 private:
  NatsPtr<natsSubscription> sub_;
};

class JetStreamLog final : public ReplicationLog {
 public:
  JetStreamLog(JetStreamLogOptions options, NatsPtr<natsConnection> conn,
               NatsPtr<jsCtx> js)
      : options_(std::move(options)),
        subject_(options_.stream + ".log"),
        conn_(std::move(conn)),
        js_(std::move(js)) {}

  absl::StatusOr<uint64_t> Append(absl::string_view dedup_id,
                                  absl::string_view data,
                                  absl::Duration timeout) override {
    const std::string id(dedup_id);
    jsPubOptions pub;
    jsPubOptions_Init(&pub);
    pub.MsgId = id.c_str();
    pub.MaxWait = Millis(timeout);
    pub.ExpectStream = options_.stream.c_str();
    jsPubAck* ack_raw = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s =
        js_Publish(&ack_raw, js_.get(), subject_.c_str(), data.data(),
                   static_cast<int>(data.size()), &pub, &code);
    NatsPtr<jsPubAck> ack(ack_raw);
    if (s != NATS_OK) return NatsError("appending to the log", s, code);
    return ack->Sequence;
  }

  absl::StatusOr<uint64_t> LastSequence(absl::Duration timeout) override {
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = Millis(timeout);
    jsStreamInfo* info_raw = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetStreamInfo(&info_raw, js_.get(),
                                          options_.stream.c_str(), &o, &code);
    NatsPtr<jsStreamInfo> info(info_raw);
    if (s != NATS_OK) return NatsError("reading the stream's state", s, code);
    return info->State.LastSeq;
  }

  absl::StatusOr<std::unique_ptr<LogReader>> Read(
      uint64_t first_sequence) override {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = options_.stream.c_str();
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = std::max<uint64_t>(first_sequence, 1);
    using Result = absl::StatusOr<std::unique_ptr<LogReader>>;
    return RetryThroughElections<Result>(
        options_.connect_timeout,
        [&](jsOptions* o, absl::Status* last) -> std::optional<Result> {
          natsSubscription* sub = nullptr;
          jsErrCode code = static_cast<jsErrCode>(0);
          const natsStatus s = js_SubscribeSync(
              &sub, js_.get(), subject_.c_str(), o, &so, &code);
          if (s != NATS_OK) {
            *last = NatsError("subscribing to the log", s, code);
            return std::nullopt;
          }
          return std::make_unique<JetStreamReader>(
              NatsPtr<natsSubscription>(sub));
        });
  }

 private:
  const JetStreamLogOptions options_;
  const std::string subject_;
  NatsPtr<natsConnection> conn_;
  NatsPtr<jsCtx> js_;
};

// The stream, created when missing. Several replicas may start at once:
// the loser of a creation race finds the winner's stream.
absl::Status EnsureStream(jsCtx* js, const JetStreamLogOptions& options) {
  const std::string subject = options.stream + ".log";
  const char* subjects[] = {subject.c_str()};
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = options.stream.c_str();
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Replicas = options.replicas;
  config.Duplicates = absl::ToInt64Nanoseconds(options.duplicate_window);
  config.MaxAge = absl::ToInt64Nanoseconds(options.max_age);
  return RetryThroughElections<absl::Status>(
      options.connect_timeout,
      [&](jsOptions* o, absl::Status* last) -> std::optional<absl::Status> {
        jsStreamInfo* info = nullptr;
        jsErrCode code = static_cast<jsErrCode>(0);
        natsStatus s =
            js_GetStreamInfo(&info, js, options.stream.c_str(), o, &code);
        NatsPtr<jsStreamInfo> found(info);
        if (s == NATS_OK) return absl::OkStatus();
        if (code != JSStreamNotFoundErr) {
          *last = NatsError(absl::StrCat("finding stream ", options.stream), s,
                            code);
          return std::nullopt;
        }
        info = nullptr;
        s = js_AddStream(&info, js, &config, o, &code);
        NatsPtr<jsStreamInfo> added(info);
        if (s == NATS_OK || code == JSStreamNameExistErr) {
          return absl::OkStatus();
        }
        *last = NatsError(absl::StrCat("creating stream ", options.stream), s,
                          code);
        return std::nullopt;
      });
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicationLog>> OpenJetStreamLog(
    const JetStreamLogOptions& options) {
  if (options.servers.empty()) {
    return absl::InvalidArgumentError("no NATS server given");
  }
  if (options.stream.empty() ||
      options.stream.find_first_of(" .*>\t") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream name '", options.stream,
                     "' must be non-empty, without spaces, dots, * or >"));
  }
  if (options.replicas < 1 || options.replicas > 5) {
    return absl::InvalidArgumentError("stream replicas must be 1 to 5");
  }
  natsOptions* raw_options = nullptr;
  if (natsStatus s = natsOptions_Create(&raw_options); s != NATS_OK) {
    return NatsError("NATS options", s);
  }
  NatsPtr<natsOptions> nats_options(raw_options);
  std::vector<const char*> servers;
  for (const std::string& server : options.servers) {
    servers.push_back(server.c_str());
  }
  natsStatus s = natsOptions_SetServers(nats_options.get(), servers.data(),
                                        static_cast<int>(servers.size()));
  // Keep trying for ever: a replica outlives any one NATS server.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(nats_options.get(), -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(nats_options.get(), 250);
  // An append waiting on a server that just died fails at once (and is
  // retried through another) instead of waiting out its timeout.
  if (s == NATS_OK) {
    s = natsOptions_SetFailRequestsOnDisconnect(nats_options.get(), true);
  }
  if (s == NATS_OK) {
    s = natsOptions_SetTimeout(nats_options.get(),
                               Millis(options.connect_timeout));
  }
  if (s == NATS_OK && !options.credentials_file.empty()) {
    s = natsOptions_SetUserCredentialsFromFiles(
        nats_options.get(), options.credentials_file.c_str(), nullptr);
  }
  if (s == NATS_OK && !options.tls_ca_file.empty()) {
    s = natsOptions_SetSecure(nats_options.get(), true);
    if (s == NATS_OK) {
      s = natsOptions_LoadCATrustedCertificates(nats_options.get(),
                                                options.tls_ca_file.c_str());
    }
  }
  if (s != NATS_OK) {
    return absl::InvalidArgumentError(
        NatsError("NATS options (servers, credentials, TLS)", s).message());
  }
  natsConnection* raw_conn = nullptr;
  s = natsConnection_Connect(&raw_conn, nats_options.get());
  NatsPtr<natsConnection> conn(raw_conn);
  if (s != NATS_OK) return NatsError("connecting to NATS", s);
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = Millis(options.connect_timeout);
  jsCtx* raw_js = nullptr;
  s = natsConnection_JetStream(&raw_js, conn.get(), &js_options);
  NatsPtr<jsCtx> js(raw_js);
  if (s != NATS_OK) return NatsError("opening JetStream", s);
  if (absl::Status ensured = EnsureStream(js.get(), options); !ensured.ok()) {
    return ensured;
  }
  return std::make_unique<JetStreamLog>(options, std::move(conn),
                                        std::move(js));
}

}  // namespace newsdedup
