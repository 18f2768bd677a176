// Certificates for TLS on the gRPC and HTTP ports (docs/security.md).
//
//   TlsOptions tls{"server.pem", "server.key", ""};
//   ASSIGN_OR_RETURN(TlsMaterial pem, ReadTlsFiles(tls));
#ifndef NEWSDEDUP_SERVICES_SERVER_TLS_OPTIONS_H_
#define NEWSDEDUP_SERVICES_SERVER_TLS_OPTIONS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace newsdedup {

struct TlsOptions {
  // PEM files. Both empty: plaintext.
  std::string cert_file;
  std::string key_file;
  // PEM bundle of the CAs whose client certificates are accepted; set, it
  // makes TLS mutual (a client without such a certificate is refused).
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// The files' contents.
struct TlsMaterial {
  std::string cert;
  std::string key;
  std::string client_ca;  // empty: no client certificates asked for
};

// Reads one PEM file; `what` names it in errors ("TLS key"). Errors:
// kNotFound when it cannot be read, kInvalidArgument when it holds no PEM
// block.
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        absl::string_view what);

// Reads the files. Errors: kInvalidArgument when only one of cert and key
// is given, or a client CA without them, or a file holds no PEM block;
// kNotFound when one cannot be read.
absl::StatusOr<TlsMaterial> ReadTlsFiles(const TlsOptions& options);

// True for 127.0.0.0/8, ::1 and "localhost": hosts only this machine
// reaches.
bool IsLoopbackHost(const std::string& host);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_TLS_OPTIONS_H_
