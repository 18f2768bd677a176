// How the command-line clients (`client`, `admin backup|state`, `loadgen`)
// reach a server: address, TLS and the bearer token (docs/security.md).
#ifndef NEWSDEDUP_TOOLS_CLIENT_CHANNEL_H_
#define NEWSDEDUP_TOOLS_CLIENT_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace newsdedup {

// Where `newsdedup serve` listens unless told otherwise, and where the
// client and `admin state` call unless told otherwise.
inline constexpr char kDefaultServer[] = "127.0.0.1:50051";

struct ChannelFlags {
  std::string server;  // host:port
  // Sent as `authorization: Bearer TOKEN` (NEWSDEDUP_TOKEN when unset).
  std::string token;
  // Set: connect over TLS, trusting this CA bundle.
  std::string tls_ca_file;
  // The client's own certificate, for a server that asks for one.
  std::string tls_cert_file;
  std::string tls_key_file;
};

// Adds --token, --tls-ca, --tls-cert and --tls-key (the server address is
// each command's own flag, with its own help).
void AddChannelFlags(CLI::App* command, ChannelFlags* flags);

// A channel to flags.server. Errors: those of reading the TLS files
// (kNotFound, kInvalidArgument).
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(
    const ChannelFlags& flags);

// Adds the token, if there is one, to a call's metadata.
void AddCallCredentials(const ChannelFlags& flags,
                        grpc::ClientContext* context);

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_CLIENT_CHANNEL_H_
