#include "services/server/web_sessions.h"

#include <openssl/rand.h>

#include "absl/strings/escaping.h"

namespace newsdedup {

std::string WebSessions::Start(absl::string_view token, absl::Time now) {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return "";
  std::string id = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
  absl::MutexLock lock(&mu_);
  if (sessions_.size() >= max_sessions_) {
    // Expired ones first; if none, the one closest to expiry.
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (it->second.expires <= now) {
        sessions_.erase(it++);
      } else {
        ++it;
      }
    }
    if (sessions_.size() >= max_sessions_) {
      auto oldest = sessions_.begin();
      for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
        if (it->second.expires < oldest->second.expires) oldest = it;
      }
      sessions_.erase(oldest);
    }
  }
  sessions_[id] = Session{std::string(token), now + lifetime_};
  return id;
}

std::string WebSessions::TokenOf(absl::string_view session_id,
                                 absl::Time now) const {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end() || it->second.expires <= now) return "";
  return it->second.token;
}

void WebSessions::End(absl::string_view session_id) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(session_id);
}

}  // namespace newsdedup
