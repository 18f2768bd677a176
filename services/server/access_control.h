// Who may call what: bearer tokens with roles (docs/security.md).
//
// A token file holds one `TOKEN ROLE NAME` line per credential ('#'
// starts a comment); NAME (the rest of the line) is who the caller is in
// logs and in the history of editorial actions. Roles are ordered, each
// allowing what the ones below it allow:
//
//   read    lists, gets, FindSimilar, the dashboard
//   ingest  Assign, AssignBatch, AssignStream, DeleteArticle
//   edit    the editorial actions (merge, split, move, pin, keep apart)
//   admin   backup, state, and everything else
//
//   ASSIGN_OR_RETURN(auto access, AccessControl::FromTokenFile(path));
//   ASSIGN_OR_RETURN(Caller caller,
//                    access->Authorize(header, Role::kIngest, "Assign"));
//
// Tokens are kept only as SHA-256 digests and compared in constant time;
// no message of this module contains a token.
//
// Thread safety: all methods may be called concurrently; Reload() swaps the
// table atomically, so a call sees either the old or the new one.
#ifndef NEWSDEDUP_SERVICES_SERVER_ACCESS_CONTROL_H_
#define NEWSDEDUP_SERVICES_SERVER_ACCESS_CONTROL_H_

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace newsdedup {

enum class Role { kRead = 0, kIngest = 1, kEdit = 2, kAdmin = 3 };

// "read", "ingest", "edit", "admin".
absl::string_view RoleName(Role role);
// Errors: kInvalidArgument naming the roles there are.
absl::StatusOr<Role> ParseRole(absl::string_view name);

// The authenticated caller of one request.
struct Caller {
  std::string name;
  Role role = Role::kRead;
};

class AccessControl {
 public:
  // Every call allowed, as caller "anonymous" with the admin role: the
  // loopback demo and tests.
  static std::unique_ptr<AccessControl> Open();

  // Reads the token file. Errors: kNotFound when it cannot be read;
  // kInvalidArgument naming the first bad line (too few fields, an unknown
  // role, a token under 16 characters, a token given twice, no token at
  // all).
  static absl::StatusOr<std::unique_ptr<AccessControl>> FromTokenFile(
      const std::string& path);

  // Parses token file text (as FromTokenFile, without the file).
  static absl::StatusOr<std::unique_ptr<AccessControl>> FromText(
      absl::string_view text);

  // Reads the token file again (SIGHUP). On an error the old tokens stay
  // in force and the error is returned. Returns the number of tokens.
  absl::StatusOr<int> Reload();

  // True when calls need a token (not Open()).
  bool enabled() const { return enabled_; }

  // Checks the value of a request's `authorization` header ("Bearer
  // TOKEN"; empty when there is none) against the role `action` needs.
  // Errors: kUnauthenticated when there is no valid token; kPermissionDenied
  // naming the role needed and the caller's.
  absl::StatusOr<Caller> Authorize(absl::string_view authorization, Role needed,
                                   absl::string_view action) const;

  // The caller a header names, whatever its role; the same errors as
  // Authorize's kUnauthenticated.
  absl::StatusOr<Caller> Authenticate(absl::string_view authorization) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Credential {
    Digest digest;
    Caller caller;
  };
  using Table = std::vector<Credential>;

  AccessControl(bool enabled, std::string path,
                std::shared_ptr<const Table> table)
      : enabled_(enabled), path_(std::move(path)), table_(std::move(table)) {}

  // The token file's table (errors name the file); ParseTable's text.
  static absl::StatusOr<std::shared_ptr<const Table>> ReadTable(
      const std::string& path);
  static absl::StatusOr<std::shared_ptr<const Table>> ParseTable(
      absl::string_view text);
  static Digest Sha256(absl::string_view text);

  const bool enabled_;
  const std::string path_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Table> table_ ABSL_GUARDED_BY(mu_);
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_ACCESS_CONTROL_H_
