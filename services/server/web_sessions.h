// Dashboard logins: a session id in an HttpOnly cookie stands for the
// token the user typed, which stays on the server (docs/security.md).
//
// Each request checks the session's token again through AccessControl, so
// a token removed from the token file (and SIGHUP) ends its sessions too.
//
// Thread safety: all methods may be called concurrently.
#ifndef NEWSDEDUP_SERVICES_SERVER_WEB_SESSIONS_H_
#define NEWSDEDUP_SERVICES_SERVER_WEB_SESSIONS_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace newsdedup {

class WebSessions {
 public:
  // Sessions end this long after login, and the oldest go first past
  // `max_sessions`.
  explicit WebSessions(absl::Duration lifetime = absl::Hours(12),
                       size_t max_sessions = 10000)
      : lifetime_(lifetime), max_sessions_(max_sessions) {}

  // A new session for `token`: a random id (256 bits from the system's
  // CSPRNG, hex); empty if no random bytes could be had.
  std::string Start(absl::string_view token, absl::Time now = absl::Now());

  // The token of a live session; empty for an unknown or expired id.
  std::string TokenOf(absl::string_view session_id,
                      absl::Time now = absl::Now()) const;

  void End(absl::string_view session_id);

 private:
  struct Session {
    std::string token;
    absl::Time expires;
  };
  const absl::Duration lifetime_;
  const size_t max_sessions_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Session> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_SERVER_WEB_SESSIONS_H_
