#include "tools/client_channel.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "services/server/tls_options.h"

namespace newsdedup {

void AddChannelFlags(CLI::App* command, ChannelFlags* flags) {
  command
      ->add_option("--token", flags->token,
                   "Bearer token for a server started with --auth-tokens")
      ->envname("NEWSDEDUP_TOKEN");
  command->add_option("--tls-ca", flags->tls_ca_file,
                      "Connect over TLS, trusting the CAs in this PEM file");
  command->add_option("--tls-cert", flags->tls_cert_file,
                      "Client certificate (PEM), for a server that asks for "
                      "one (--tls-client-ca)");
  command->add_option("--tls-key", flags->tls_key_file,
                      "Key of the client certificate (PEM)");
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(
    const ChannelFlags& flags) {
  const bool has_cert = !flags.tls_cert_file.empty();
  if (has_cert != !flags.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together: give both or neither");
  }
  if (flags.tls_ca_file.empty()) {
    if (has_cert) {
      return absl::InvalidArgumentError(
          "--tls-cert and --tls-key need --tls-ca (the server's CA)");
    }
    return grpc::CreateChannel(flags.server,
                               grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = ReadPemFile(flags.tls_ca_file, "CA bundle");
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *std::move(ca);
  if (has_cert) {
    absl::StatusOr<std::string> cert =
        ReadPemFile(flags.tls_cert_file, "client certificate");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key =
        ReadPemFile(flags.tls_key_file, "client key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::CreateChannel(flags.server, grpc::SslCredentials(ssl));
}

void AddCallCredentials(const ChannelFlags& flags,
                        grpc::ClientContext* context) {
  // Per call rather than as gRPC call credentials: those are refused on a
  // plaintext channel, and a loopback server with tokens is plaintext.
  if (!flags.token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", flags.token));
  }
}

}  // namespace newsdedup
