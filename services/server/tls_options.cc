#include "services/server/tls_options.h"

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace newsdedup {
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        absl::string_view what) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (!absl::StrContains(text.str(), "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, " holds no PEM block"));
  }
  return text.str();
}

absl::StatusOr<TlsMaterial> ReadTlsFiles(const TlsOptions& options) {
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together: give both or neither");
  }
  if (!options.enabled()) {
    if (!options.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls-client-ca needs --tls-cert and --tls-key");
    }
    return TlsMaterial();
  }
  TlsMaterial material;
  absl::StatusOr<std::string> cert =
      ReadPemFile(options.cert_file, "TLS certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile(options.key_file, "TLS key");
  if (!key.ok()) return key.status();
  material.cert = *std::move(cert);
  material.key = *std::move(key);
  if (!options.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca =
        ReadPemFile(options.client_ca_file, "client CA bundle");
    if (!ca.ok()) return ca.status();
    material.client_ca = *std::move(ca);
  }
  return material;
}

bool IsLoopbackHost(const std::string& host) {
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  }
  return h == "localhost" || h == "::1" || absl::StartsWith(h, "127.");
}

}  // namespace newsdedup
