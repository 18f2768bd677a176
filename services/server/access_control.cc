#include "services/server/access_control.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace newsdedup {
namespace {

// Shorter tokens can be guessed; `openssl rand -hex 32` makes a good one.
constexpr size_t kMinTokenLength = 16;

constexpr absl::string_view kBearer = "Bearer ";

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kRead:
      return "read";
    case Role::kIngest:
      return "ingest";
    case Role::kEdit:
      return "edit";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (Role role : {Role::kRead, Role::kIngest, Role::kEdit, Role::kAdmin}) {
    if (name == RoleName(role)) return role;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown role '", name, "' (roles: read, ingest, edit, admin)"));
}

std::unique_ptr<AccessControl> AccessControl::Open() {
  return std::unique_ptr<AccessControl>(
      new AccessControl(false, "", std::make_shared<const Table>()));
}

absl::StatusOr<std::unique_ptr<AccessControl>> AccessControl::FromTokenFile(
    const std::string& path) {
  absl::StatusOr<std::shared_ptr<const Table>> table = ReadTable(path);
  if (!table.ok()) return table.status();
  return std::unique_ptr<AccessControl>(
      new AccessControl(true, path, *std::move(table)));
}

absl::StatusOr<std::shared_ptr<const AccessControl::Table>>
AccessControl::ReadTable(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read token file ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::shared_ptr<const Table>> table = ParseTable(text.str());
  if (!table.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", table.status().message()));
  }
  return table;
}

absl::StatusOr<std::unique_ptr<AccessControl>> AccessControl::FromText(
    absl::string_view text) {
  absl::StatusOr<std::shared_ptr<const Table>> table = ParseTable(text);
  if (!table.ok()) return table.status();
  return std::unique_ptr<AccessControl>(
      new AccessControl(true, "", *std::move(table)));
}

absl::StatusOr<int> AccessControl::Reload() {
  if (path_.empty()) {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(table_->size());
  }
  absl::StatusOr<std::shared_ptr<const Table>> table = ReadTable(path_);
  if (!table.ok()) return table.status();
  absl::MutexLock lock(&mu_);
  table_ = *std::move(table);
  return static_cast<int>(table_->size());
}

absl::StatusOr<std::shared_ptr<const AccessControl::Table>>
AccessControl::ParseTable(absl::string_view text) {
  auto table = std::make_shared<Table>();
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    // Messages name the line, never the token.
    const std::string where = absl::StrCat("line ", line_number, ": ");
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::MaxSplits(absl::ByAnyChar(" \t"), 2),
                       absl::SkipWhitespace());
    if (fields.size() < 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "expected TOKEN ROLE NAME"));
    }
    if (fields[0].size() < kMinTokenLength) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "token shorter than ", kMinTokenLength,
                       " characters (make one with: openssl rand -hex 32)"));
    }
    absl::StatusOr<Role> role = ParseRole(fields[1]);
    if (!role.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, role.status().message()));
    }
    Credential credential{
        Sha256(fields[0]),
        {std::string(absl::StripAsciiWhitespace(fields[2])), *role}};
    for (const Credential& other : *table) {
      if (other.digest == credential.digest) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "the same token as '", other.caller.name, "'"));
      }
    }
    table->push_back(std::move(credential));
  }
  if (table->empty()) {
    return absl::InvalidArgumentError(
        "no token (each line: TOKEN ROLE NAME; an empty file would lock "
        "everyone out)");
  }
  return std::shared_ptr<const Table>(std::move(table));
}

AccessControl::Digest AccessControl::Sha256(absl::string_view text) {
  Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         digest.data());
  return digest;
}

absl::StatusOr<Caller> AccessControl::Authenticate(
    absl::string_view authorization) const {
  if (!enabled_) return Caller{"anonymous", Role::kAdmin};
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "no credentials: send the header 'authorization: Bearer TOKEN' "
        "(newsdedup client --token, or NEWSDEDUP_TOKEN)");
  }
  if (!absl::StartsWithIgnoreCase(authorization, kBearer)) {
    return absl::UnauthenticatedError(
        "the authorization header must be 'Bearer TOKEN'");
  }
  // Digests have one length, so comparing them takes the same time for any
  // token; every entry is compared, so the time does not tell which
  // matched either.
  const Digest presented =
      Sha256(absl::StripAsciiWhitespace(authorization.substr(kBearer.size())));
  std::shared_ptr<const Table> table;
  {
    absl::MutexLock lock(&mu_);
    table = table_;
  }
  const Caller* found = nullptr;
  for (const Credential& credential : *table) {
    const bool same = CRYPTO_memcmp(credential.digest.data(), presented.data(),
                                    presented.size()) == 0;
    if (same) found = &credential.caller;
  }
  if (found == nullptr) {
    return absl::UnauthenticatedError("unknown or revoked token");
  }
  return *found;
}

absl::StatusOr<Caller> AccessControl::Authorize(
    absl::string_view authorization, Role needed,
    absl::string_view action) const {
  absl::StatusOr<Caller> caller = Authenticate(authorization);
  if (!caller.ok()) return caller.status();
  if (caller->role < needed) {
    return absl::PermissionDeniedError(
        absl::StrCat(action, " needs the role '", RoleName(needed), "'; '",
                     caller->name, "' has '", RoleName(caller->role), "'"));
  }
  return caller;
}

}  // namespace newsdedup
