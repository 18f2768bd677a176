#include "services/replication/nats_connection.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace newsdedup {

absl::Status NatsError(absl::string_view what, natsStatus s, jsErrCode code) {
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

absl::Status CheckJetStreamName(absl::string_view what,
                                absl::string_view name) {
  if (name.empty() || name.find_first_of(" .*>\t") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " name '", name,
                     "' must be non-empty, without spaces, dots, * or >"));
  }
  return absl::OkStatus();
}

absl::Status EnsureJetStream(jsCtx* js, const StreamSpec& spec,
                             absl::Duration timeout) {
  const char* subjects[] = {spec.subject.c_str()};
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = spec.name.c_str();
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Replicas = spec.replicas;
  config.Duplicates = absl::ToInt64Nanoseconds(spec.duplicate_window);
  config.MaxAge = absl::ToInt64Nanoseconds(spec.max_age);
  return RetryThroughElections<absl::Status>(
      timeout,
      [&](jsOptions* o, absl::Status* last) -> std::optional<absl::Status> {
        jsStreamInfo* info = nullptr;
        jsErrCode code = static_cast<jsErrCode>(0);
        natsStatus s = js_GetStreamInfo(&info, js, spec.name.c_str(), o, &code);
        NatsPtr<jsStreamInfo> found(info);
        if (s == NATS_OK) return absl::OkStatus();
        if (code != JSStreamNotFoundErr) {
          *last =
              NatsError(absl::StrCat("finding stream ", spec.name), s, code);
          return std::nullopt;
        }
        info = nullptr;
        s = js_AddStream(&info, js, &config, o, &code);
        NatsPtr<jsStreamInfo> added(info);
        if (s == NATS_OK || code == JSStreamNameExistErr) {
          return absl::OkStatus();
        }
        *last = NatsError(absl::StrCat("creating stream ", spec.name), s, code);
        return std::nullopt;
      });
}

absl::StatusOr<Connection> ConnectToJetStream(const NatsEndpoint& endpoint) {
  if (endpoint.servers.empty()) {
    return absl::InvalidArgumentError("no NATS server given");
  }
  natsOptions* raw_options = nullptr;
  if (natsStatus s = natsOptions_Create(&raw_options); s != NATS_OK) {
    return NatsError("NATS options", s);
  }
  NatsPtr<natsOptions> nats_options(raw_options);
  std::vector<const char*> servers;
  for (const std::string& server : endpoint.servers) {
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
                               Millis(endpoint.connect_timeout));
  }
  if (s == NATS_OK && !endpoint.credentials_file.empty()) {
    s = natsOptions_SetUserCredentialsFromFiles(
        nats_options.get(), endpoint.credentials_file.c_str(), nullptr);
  }
  if (s == NATS_OK && !endpoint.tls_ca_file.empty()) {
    s = natsOptions_SetSecure(nats_options.get(), true);
    if (s == NATS_OK) {
      s = natsOptions_LoadCATrustedCertificates(nats_options.get(),
                                                endpoint.tls_ca_file.c_str());
    }
  }
  if (s != NATS_OK) {
    return absl::InvalidArgumentError(
        NatsError("NATS options (servers, credentials, TLS)", s).message());
  }
  // A replica often starts before its NATS server listens (compose's
  // depends_on and Kubernetes do not wait for readiness, a NATS restart):
  // "no server" is tried again until connect_timeout; any other failure
  // (TLS, credentials) is final at once.
  const absl::Time deadline = absl::Now() + endpoint.connect_timeout;
  NatsPtr<natsConnection> conn;
  for (absl::Duration wait = absl::Milliseconds(50);;
       wait = std::min(2 * wait, absl::Seconds(1))) {
    natsConnection* raw_conn = nullptr;
    s = natsConnection_Connect(&raw_conn, nats_options.get());
    conn.reset(raw_conn);
    if (s != NATS_NO_SERVER || absl::Now() + wait >= deadline) break;
    absl::SleepFor(wait);
  }
  if (s != NATS_OK) {
    return NatsError(
        absl::StrCat("connecting to NATS (",
                     absl::StrJoin(endpoint.servers, ","), ", tried for up to ",
                     absl::FormatDuration(endpoint.connect_timeout), ")"),
        s);
  }
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = Millis(endpoint.connect_timeout);
  jsCtx* raw_js = nullptr;
  s = natsConnection_JetStream(&raw_js, conn.get(), &js_options);
  NatsPtr<jsCtx> js(raw_js);
  if (s != NATS_OK) return NatsError("opening JetStream", s);
  return Connection{std::move(conn), std::move(js)};
}

}  // namespace newsdedup
