#include "services/replication/jetstream_log.h"

#include <nats/nats.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "common/status_macros.h"
#include "services/replication/nats_connection.h"

namespace newsdedup {
namespace {

// An ordered consumer of `subject` in `stream`, from `first_sequence` on
// (0: from the first message), created through leader elections.
absl::StatusOr<SubscriptionPtr> SubscribeOrdered(natsConnection* conn,
                                                 jsCtx* js,
                                                 const std::string& stream,
                                                 const std::string& subject,
                                                 uint64_t first_sequence,
                                                 absl::Duration timeout) {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Ordered = true;
  if (first_sequence > 0) {
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = first_sequence;
  }
  using Subscribed = absl::StatusOr<SubscriptionPtr>;
  return RetryThroughElections<Subscribed>(
      timeout,
      [&](jsOptions* o, absl::Status* last) -> std::optional<Subscribed> {
        natsSubscription* raw = nullptr;
        jsErrCode code = static_cast<jsErrCode>(0);
        const natsStatus s =
            js_SubscribeSync(&raw, js, subject.c_str(), o, &so, &code);
        if (s != NATS_OK) {
          *last = NatsError(absl::StrCat("subscribing to ", subject), s, code);
          return std::nullopt;
        }
        return SubscriptionPtr(raw, SubscriptionCloser{conn});
      });
}

class JetStreamReader final : public LogReader {
 public:
  explicit JetStreamReader(SubscriptionPtr sub) : sub_(std::move(sub)) {}

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
  SubscriptionPtr sub_;
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

  // Replicas step over what this answers false for, so it answers false
  // only where one server's answer says the number holds nothing: within
  // the stream's range and listed deleted. "No message" alone is no
  // answer: a server answers so for a number past its own end too (one
  // that has not caught up), and one replica stepping over a held entry
  // loses its change (the failover check saw two state digests, one
  // acknowledged article missing on one replica).
  absl::StatusOr<bool> Holds(uint64_t sequence,
                             absl::Duration timeout) override {
    // One answer of one server: its range and the numbers it lists deleted.
    ASSIGN_OR_RETURN(NatsPtr<jsStreamInfo> info,
                     StreamInfo(timeout, /*deleted_details=*/true));
    const jsStreamState& state = info->State;
    if (sequence < state.FirstSeq) return false;  // purged
    if (sequence > state.LastSeq) {
      return absl::UnavailableError(absl::StrCat(
          "the log's server knows entries up to ", state.LastSeq,
          " only; whether it holds ", sequence, " cannot be told yet"));
    }
    const absl::Span<const uint64_t> deleted(
        state.Deleted, static_cast<size_t>(std::max(state.DeletedLen, 0)));
    if (absl::c_linear_search(deleted, sequence)) return false;
    // Not listed: held, unless the server also counts numbers it does not
    // list (a number skipped at the start of a new file block) and has no
    // message there.
    if (state.NumDeleted <= deleted.size()) return true;
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = Millis(timeout);
    natsMsg* raw = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetMsg(&raw, js_.get(), options_.stream.c_str(),
                                   sequence, &o, &code);
    NatsPtr<natsMsg> msg(raw);
    if (s == NATS_OK) return true;
    if (code == JSNoMessageFoundErr) return false;
    return NatsError(absl::StrCat("reading log entry ", sequence), s, code);
  }

  absl::Status Delete(uint64_t sequence, absl::Duration timeout) override {
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = Millis(timeout);
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s =
        js_DeleteMsg(js_.get(), options_.stream.c_str(), sequence, &o, &code);
    if (s == NATS_OK) return absl::OkStatus();
    if (code == JSNoMessageFoundErr || code == JSStreamMsgDeleteFailed) {
      return absl::NotFoundError(absl::StrCat("the log holds no entry ",
                                              sequence, " (",
                                              natsStatus_GetText(s), ")"));
    }
    return NatsError(absl::StrCat("deleting log entry ", sequence), s, code);
  }

  absl::StatusOr<uint64_t> FirstSequence(absl::Duration timeout) override {
    ASSIGN_OR_RETURN(const Sequences sequences, StreamSequences(timeout));
    return sequences.first;
  }

  absl::StatusOr<uint64_t> LastSequence(absl::Duration timeout) override {
    ASSIGN_OR_RETURN(const Sequences sequences, StreamSequences(timeout));
    return sequences.last;
  }

  absl::StatusOr<std::unique_ptr<LogReader>> Read(
      uint64_t first_sequence) override {
    ASSIGN_OR_RETURN(
        SubscriptionPtr sub,
        SubscribeOrdered(conn_.get(), js_.get(), options_.stream, subject_,
                         std::max<uint64_t>(first_sequence, 1),
                         options_.connect_timeout));
    return std::make_unique<JetStreamReader>(std::move(sub));
  }

 private:
  struct Sequences {
    uint64_t first = 0;
    uint64_t last = 0;
  };
  absl::StatusOr<Sequences> StreamSequences(absl::Duration timeout) {
    ASSIGN_OR_RETURN(NatsPtr<jsStreamInfo> info,
                     StreamInfo(timeout, /*deleted_details=*/false));
    return Sequences{info->State.FirstSeq, info->State.LastSeq};
  }

  // The stream's state as one server answers it, with the list of deleted
  // numbers when `deleted_details`.
  absl::StatusOr<NatsPtr<jsStreamInfo>> StreamInfo(absl::Duration timeout,
                                                   bool deleted_details) {
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = Millis(timeout);
    o.Stream.Info.DeletedDetails = deleted_details;
    jsStreamInfo* info_raw = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetStreamInfo(&info_raw, js_.get(),
                                          options_.stream.c_str(), &o, &code);
    NatsPtr<jsStreamInfo> info(info_raw);
    if (s != NATS_OK) return NatsError("reading the stream's state", s, code);
    return info;
  }

  const JetStreamLogOptions options_;
  const std::string subject_;
  NatsPtr<natsConnection> conn_;
  NatsPtr<jsCtx> js_;
};

absl::Status EnsureStream(jsCtx* js, const JetStreamLogOptions& options,
                          const std::string& name, const std::string& subject,
                          absl::Duration max_age) {
  StreamSpec spec;
  spec.name = name;
  spec.subject = subject;
  spec.replicas = options.replicas;
  spec.duplicate_window = options.duplicate_window;
  spec.max_age = max_age;
  return EnsureJetStream(js, spec, options.connect_timeout);
}

// Checks the log's options and connects to its servers.
absl::StatusOr<Connection> Connect(const JetStreamLogOptions& options) {
  RETURN_IF_ERROR(CheckJetStreamName("stream", options.stream));
  if (options.replicas < 1 || options.replicas > 5) {
    return absl::InvalidArgumentError("stream replicas must be 1 to 5");
  }
  NatsEndpoint endpoint;
  endpoint.servers = options.servers;
  endpoint.credentials_file = options.credentials_file;
  endpoint.tls_ca_file = options.tls_ca_file;
  endpoint.connect_timeout = options.connect_timeout;
  return ConnectToJetStream(endpoint);
}

// Checkpoints on JetStream (see OpenJetStreamShelf). Subjects under
// "<stream>.checkpoints.": "claim" (one message per checkpoint, id
// "claim-<seq>"), "<seq>.data" (the files in chunks, headers Path and
// Offset), "index" (the newest complete one: "seq nanos chunks bytes subject
// first-chunk-sequence last-chunk-sequence").
class JetStreamShelf final : public CheckpointShelf {
 public:
  JetStreamShelf(JetStreamLogOptions options, Connection connection)
      : options_(std::move(options)),
        name_(options_.stream + "_checkpoints"),
        prefix_(options_.stream + ".checkpoints."),
        connection_(std::move(connection)) {}

  absl::Status Publish(const CheckpointPoint& point,
                       const std::string& dir) override {
    jsCtx* js = connection_.js.get();
    // Claim it: JetStream stores the first message with this id only.
    ASSIGN_OR_RETURN(
        bool first,
        PublishData(prefix_ + "claim", absl::StrCat("claim-", point.sequence),
                    "", {}));
    if (!first) return absl::OkStatus();
    ASSIGN_OR_RETURN(IndexHead head, ReadIndexHead());
    const std::optional<Index>& previous = head.index;
    if (previous.has_value() && previous->point.sequence >= point.sequence) {
      return absl::OkStatus();  // a replica late to this checkpoint
    }
    // A subject of this upload's own: a claim may be repeated past the
    // duplicate window by a late replica, or a claimer may die mid-way.
    const std::string data =
        absl::StrFormat("%s%d_%016x.data", prefix_, point.sequence,
                        absl::Uniform<uint64_t>(bitgen_));
    int64_t chunks = 0;
    int64_t bytes = 0;
    uint64_t first_chunk = 0, last_chunk = 0;  // their stream sequences
    std::error_code error;
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(dir, error)) {
      if (!entry.is_regular_file()) continue;
      const std::string path =
          std::filesystem::relative(entry.path(), dir).string();
      std::ifstream in(entry.path(), std::ios::binary);
      std::string chunk(kChunkBytes, '\0');
      int64_t offset = 0;
      do {
        in.read(chunk.data(), kChunkBytes);
        const std::streamsize got = in.gcount();
        uint64_t stored_at = 0;
        RETURN_IF_ERROR(
            PublishData(data, "", chunk.substr(0, got),
                        {{"Path", path}, {"Offset", absl::StrCat(offset)}},
                        nullptr, &stored_at)
                .status());
        if (first_chunk == 0) first_chunk = stored_at;
        last_chunk = stored_at;
        offset += got;
        ++chunks;
      } while (in);
      bytes += offset;
    }
    if (error) {
      return absl::InternalError(
          absl::StrCat("reading ", dir, ": ", error.message()));
    }
    // Indexed only if no other index came since `head` (compare and set:
    // several replicas may upload checkpoints at once, e.g. two checkpoint
    // entries close together). Otherwise the newest index could name
    // chunks that a publisher which read an older head had purged, and no
    // replica could fetch it.
    jsErrCode refusal = static_cast<jsErrCode>(0);
    const absl::Status indexed =
        PublishData(
            prefix_ + "index", "",
            absl::StrCat(point.sequence, " ", absl::ToUnixNanos(point.time),
                         " ", chunks, " ", bytes, " ", data, " ", first_chunk,
                         " ", last_chunk),
            {{"Nats-Expected-Last-Subject-Sequence",
              absl::StrCat(head.message_sequence)}},
            &refusal)
            .status();
    if (refusal == JSStreamWrongLastSequenceErr) {
      // Another checkpoint was indexed meanwhile: this upload is nobody's.
      jsOptions o;
      jsOptions_Init(&o);
      o.Stream.Purge.Subject = data.c_str();
      jsErrCode code = static_cast<jsErrCode>(0);
      (void)js_PurgeStream(js, name_.c_str(), &o, &code);
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(indexed);
    if (previous.has_value()) {
      jsOptions o;
      jsOptions_Init(&o);
      o.Stream.Purge.Subject = previous->subject.c_str();
      jsErrCode code = static_cast<jsErrCode>(0);
      natsStatus s = js_PurgeStream(js, name_.c_str(), &o, &code);
      if (s != NATS_OK) return NatsError("purging old checkpoints", s, code);
      // The log up to the previous checkpoint is no longer needed: a
      // replica starts from its own checkpoint or, when the shelf's is
      // newer, from the shelf's (the replica restores it). One
      // checkpoint interval stays, for replicas that restart meanwhile,
      // and the 64 entries before it: a replica starting from a
      // checkpoint reads its entry again to check that its server numbers
      // the log as the checkpoint's maker did, and applies the entries
      // before it again when it cannot tell (nats-server 2.9.10's
      // followers number the log a few higher than their leader after
      // kill -9; ReplicatedEngine).
      constexpr uint64_t kKeptBeforeCheckpoint = 64;
      jsOptions_Init(&o);
      o.Stream.Purge.Sequence = std::max<uint64_t>(previous->point.sequence + 1,
                                                   kKeptBeforeCheckpoint + 1) -
                                kKeptBeforeCheckpoint;
      s = js_PurgeStream(js, options_.stream.c_str(), &o, &code);
      if (s != NATS_OK) return NatsError("purging the log", s, code);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> NewestSequence() override {
    ASSIGN_OR_RETURN(std::optional<Index> index, NewestIndex());
    return index.has_value() ? index->point.sequence : 0;
  }

  absl::StatusOr<CheckpointPoint> FetchNewest(const std::string& dir) override {
    ASSIGN_OR_RETURN(std::optional<Index> index, NewestIndex());
    if (!index.has_value()) return CheckpointPoint();
    // The chunks, read by their stream sequences (the index names their
    // range), each from the stream leader: an ordered consumer sometimes
    // never delivered the last ones after NATS servers had died and come
    // back (a newcomer waited for ever in the failover check). Indexes
    // without the range are read through a consumer, as they were.
    SubscriptionPtr sub;
    uint64_t next_sequence = index->first_chunk;
    auto next_chunk = [&]() -> absl::StatusOr<NatsPtr<natsMsg>> {
      if (index->first_chunk == 0) {
        natsMsg* raw = nullptr;
        const natsStatus s = natsSubscription_NextMsg(
            &raw, sub.get(), Millis(options_.connect_timeout));
        if (s != NATS_OK) return NatsError("reading a checkpoint chunk", s);
        return NatsPtr<natsMsg>(raw);
      }
      for (; next_sequence <= index->last_chunk; ++next_sequence) {
        using Got = absl::StatusOr<NatsPtr<natsMsg>>;
        ASSIGN_OR_RETURN(
            NatsPtr<natsMsg> msg,
            RetryThroughElections<Got>(
                options_.connect_timeout,
                [&](jsOptions* o, absl::Status* last) -> std::optional<Got> {
                  natsMsg* raw = nullptr;
                  jsErrCode code = static_cast<jsErrCode>(0);
                  const natsStatus s =
                      js_GetMsg(&raw, connection_.js.get(), name_.c_str(),
                                next_sequence, o, &code);
                  if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) {
                    return Got(NatsPtr<natsMsg>());  // another upload's
                  }
                  if (s != NATS_OK) {
                    *last = NatsError("reading a checkpoint chunk", s, code);
                    return std::nullopt;
                  }
                  return Got(NatsPtr<natsMsg>(raw));
                }));
        if (msg != nullptr && index->subject == natsMsg_GetSubject(msg.get())) {
          ++next_sequence;
          return msg;
        }
      }
      return absl::DataLossError(absl::StrCat(
          "checkpoint ", index->point.sequence, ": chunks missing from ",
          index->first_chunk, " to ", index->last_chunk));
    };
    if (index->first_chunk == 0) {
      ASSIGN_OR_RETURN(
          sub,
          SubscribeOrdered(connection_.conn.get(), connection_.js.get(), name_,
                           index->subject, 0, options_.connect_timeout));
    }
    int64_t bytes = 0;
    // A chunk may come twice (a consumer recreated across a leader change
    // redelivers): each (file, offset) counts once, or the last chunks
    // would be taken for missing. Bounded: a shelf that only repeats
    // itself is damaged.
    absl::flat_hash_set<std::pair<std::string, int64_t>> received;
    int64_t repeats = 0;
    for (int64_t i = 0; i < index->chunks;) {
      ASSIGN_OR_RETURN(NatsPtr<natsMsg> msg, next_chunk());
      const char* path = nullptr;
      const char* offset_text = nullptr;
      int64_t offset = 0;
      const int length = natsMsg_GetDataLength(msg.get());
      if (natsMsgHeader_Get(msg.get(), "Path", &path) != NATS_OK ||
          natsMsgHeader_Get(msg.get(), "Offset", &offset_text) != NATS_OK ||
          !absl::SimpleAtoi(offset_text, &offset) || offset < 0 ||
          offset > index->bytes - length || !SafeRelativePath(path)) {
        return absl::DataLossError(absl::StrCat(
            "checkpoint ", index->point.sequence, ": chunk ", i,
            " names no file inside the checkpoint (Path '",
            path == nullptr ? "" : path, "', Offset '",
            offset_text == nullptr ? "" : offset_text, "'): refused"));
      }
      if (!received.emplace(path, offset).second) {
        if (++repeats > index->chunks) {
          return absl::DataLossError(
              absl::StrCat("checkpoint ", index->point.sequence,
                           ": its chunks repeat without end"));
        }
        continue;
      }
      ++i;
      const std::filesystem::path file = std::filesystem::path(dir) / path;
      std::filesystem::create_directories(file.parent_path());
      std::fstream out(file, std::ios::binary | std::ios::in | std::ios::out);
      if (!out) out.open(file, std::ios::binary | std::ios::out);
      out.seekp(offset);
      out.write(natsMsg_GetData(msg.get()), length);
      if (!out) {
        return absl::InternalError(
            absl::StrCat("cannot write ", file.string()));
      }
      bytes += length;
    }
    if (repeats > 0) {
      std::fprintf(
          stderr,
          "event=checkpoint_chunks_repeated level=info checkpoint=%llu "
          "repeats=%lld\n",
          static_cast<unsigned long long>(index->point.sequence),
          static_cast<long long>(repeats));
    }
    if (bytes != index->bytes) {
      return absl::DataLossError(
          absl::StrCat("checkpoint ", index->point.sequence, " has ", bytes,
                       " bytes on the shelf, its index says ", index->bytes));
    }
    return index->point;
  }

 private:
  static constexpr int kChunkBytes = 256 * 1024;

  struct Index {
    CheckpointPoint point;
    int64_t chunks = 0;
    int64_t bytes = 0;
    std::string subject;  // of its chunks
    // Stream sequences of its first and last chunk (0: an index written
    // before they were recorded).
    uint64_t first_chunk = 0;
    uint64_t last_chunk = 0;
  };

  // Publishes one message; whether JetStream stored it (false: a
  // duplicate of `id`).
  absl::StatusOr<bool> PublishData(
      const std::string& subject, const std::string& id,
      const std::string& data,
      const std::vector<std::pair<std::string, std::string>>& headers,
      jsErrCode* refusal = nullptr, uint64_t* stored_at = nullptr) {
    natsMsg* raw = nullptr;
    natsStatus s = natsMsg_Create(&raw, subject.c_str(), nullptr, data.data(),
                                  static_cast<int>(data.size()));
    if (s != NATS_OK) return NatsError("a checkpoint message", s);
    NatsPtr<natsMsg> msg(raw);
    for (const auto& [key, value] : headers) {
      natsMsgHeader_Set(msg.get(), key.c_str(), value.c_str());
    }
    jsPubOptions pub;
    jsPubOptions_Init(&pub);
    if (!id.empty()) pub.MsgId = id.c_str();
    pub.MaxWait = Millis(options_.connect_timeout);
    jsPubAck* ack_raw = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    s = js_PublishMsg(&ack_raw, connection_.js.get(), msg.get(), &pub, &code);
    NatsPtr<jsPubAck> ack(ack_raw);
    if (refusal != nullptr) *refusal = code;
    if (s != NATS_OK) return NatsError("publishing a checkpoint", s, code);
    if (stored_at != nullptr) *stored_at = ack->Sequence;
    return !ack->Duplicate;
  }

  // The last message on the index subject: its stream sequence (0: none
  // yet), which the next index is published against, and the checkpoint
  // it names if it is one of ours.
  struct IndexHead {
    uint64_t message_sequence = 0;
    std::optional<Index> index;
  };

  absl::StatusOr<std::optional<Index>> NewestIndex() {
    ASSIGN_OR_RETURN(IndexHead head, ReadIndexHead());
    return std::move(head.index);
  }

  absl::StatusOr<IndexHead> ReadIndexHead() {
    const std::string subject = prefix_ + "index";
    // The index message's text and sequence ("", 0 when there is none).
    using Message = absl::StatusOr<std::pair<std::string, uint64_t>>;
    ASSIGN_OR_RETURN(
        const auto message,
        RetryThroughElections<Message>(
            options_.connect_timeout,
            [&](jsOptions* o, absl::Status* last) -> std::optional<Message> {
              natsMsg* raw = nullptr;
              jsErrCode code = static_cast<jsErrCode>(0);
              const natsStatus s =
                  js_GetLastMsg(&raw, connection_.js.get(), name_.c_str(),
                                subject.c_str(), o, &code);
              NatsPtr<natsMsg> msg(raw);
              if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) {
                return std::make_pair(std::string(), uint64_t{0});
              }
              if (s != NATS_OK) {
                *last = NatsError("reading the checkpoint index", s, code);
                return std::nullopt;
              }
              return std::make_pair(
                  std::string(natsMsg_GetData(msg.get()),
                              natsMsg_GetDataLength(msg.get())),
                  natsMsg_GetSequence(msg.get()));
            }));
    IndexHead head;
    head.message_sequence = message.second;
    if (message.first.empty()) return head;
    absl::StatusOr<Index> index = ParseIndex(message.first);
    // Not verified now (the log's state unreachable through an election):
    // an error, never taken for "no checkpoint" (a replica past the purge
    // needs this one).
    if (absl::IsUnavailable(index.status())) return index.status();
    if (!index.ok()) {
      // Not one of ours (damaged, or published by someone else): as if
      // there were none, so that it stops neither the next checkpoint nor
      // the log purge after it; the next index written replaces it.
      std::fprintf(stderr,
                   "event=checkpoint_refused level=warning error=\"%s\"\n",
                   absl::CEscape(index.status().ToString()).c_str());
      return head;
    }
    head.index = *std::move(index);
    return head;
  }

  // An index message's fields, checked against the log: a checkpoint of
  // an entry the log does not have yet cannot be ours.
  absl::StatusOr<Index> ParseIndex(const std::string& text) {
    std::vector<std::string> fields = absl::StrSplit(text, ' ');
    Index index;
    int64_t nanos = 0;
    if ((fields.size() != 5 && fields.size() != 7) ||
        (fields.size() == 7 &&
         (!absl::SimpleAtoi(fields[5], &index.first_chunk) ||
          !absl::SimpleAtoi(fields[6], &index.last_chunk) ||
          index.first_chunk > index.last_chunk)) ||
        !absl::SimpleAtoi(fields[0], &index.point.sequence) ||
        !absl::SimpleAtoi(fields[1], &nanos) ||
        !absl::SimpleAtoi(fields[2], &index.chunks) ||
        !absl::SimpleAtoi(fields[3], &index.bytes) || index.chunks < 0 ||
        index.bytes < 0 || !absl::StartsWith(fields[4], prefix_) ||
        !absl::EndsWith(fields[4], ".data") ||
        fields[4].find_first_of("*> \t") != std::string::npos) {
      return absl::DataLossError(
          absl::StrCat("damaged checkpoint index '", text.substr(0, 200), "'"));
    }
    // The log's last entry, through leader elections (NATS servers dying
    // and coming back are when replicas restart and need checkpoints).
    using Last = absl::StatusOr<uint64_t>;
    ASSIGN_OR_RETURN(
        const uint64_t last,
        RetryThroughElections<Last>(
            options_.connect_timeout,
            [&](jsOptions* o, absl::Status* failed) -> std::optional<Last> {
              jsStreamInfo* info_raw = nullptr;
              jsErrCode code = static_cast<jsErrCode>(0);
              const natsStatus s =
                  js_GetStreamInfo(&info_raw, connection_.js.get(),
                                   options_.stream.c_str(), o, &code);
              NatsPtr<jsStreamInfo> info(info_raw);
              if (s != NATS_OK) {
                *failed = NatsError("reading the log's state", s, code);
                return std::nullopt;
              }
              return Last(info->State.LastSeq);
            }));
    if (index.point.sequence > last) {
      return absl::DataLossError(absl::StrCat(
          "checkpoint index names log entry ", index.point.sequence,
          " but the log ends at ", last, ": not a checkpoint of this log"));
    }
    index.point.time = absl::FromUnixNanos(nanos);
    index.subject = fields[4];
    return index;
  }

  // A chunk's Path: relative, inside the checkpoint once normalised (no
  // "..", no absolute path, which std::filesystem's `/` would put in
  // place of the directory).
  static bool SafeRelativePath(const char* path) {
    if (path == nullptr || *path == '\0') return false;
    const std::filesystem::path p(path);
    if (p.is_absolute() || p.has_root_name() || p.has_root_directory()) {
      return false;
    }
    for (const auto& part : p.lexically_normal()) {
      if (part == "..") return false;
    }
    for (const auto& part : p) {
      if (part == "..") return false;
    }
    return !p.lexically_normal().empty() && p.lexically_normal() != ".";
  }

  const JetStreamLogOptions options_;
  const std::string name_;
  const std::string prefix_;
  Connection connection_;
  absl::BitGen bitgen_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicationLog>> OpenJetStreamLog(
    const JetStreamLogOptions& options) {
  ASSIGN_OR_RETURN(Connection connection, Connect(options));
  RETURN_IF_ERROR(EnsureStream(connection.js.get(), options, options.stream,
                               options.stream + ".log", options.max_age));
  return std::make_unique<JetStreamLog>(options, std::move(connection.conn),
                                        std::move(connection.js));
}

absl::StatusOr<std::unique_ptr<CheckpointShelf>> OpenJetStreamShelf(
    const JetStreamLogOptions& options) {
  ASSIGN_OR_RETURN(Connection connection, Connect(options));
  RETURN_IF_ERROR(EnsureStream(
      connection.js.get(), options, options.stream + "_checkpoints",
      options.stream + ".checkpoints.>", absl::ZeroDuration()));
  return std::make_unique<JetStreamShelf>(options, std::move(connection));
}

}  // namespace newsdedup
