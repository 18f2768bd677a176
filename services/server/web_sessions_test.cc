#include "services/server/web_sessions.h"

#include <gtest/gtest.h>

#include <set>

namespace newsdedup {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1767225600);

TEST(WebSessionsTest, SessionsAreRandomAndEndByLogoutOrAge) {
  WebSessions sessions(absl::Hours(12));
  const std::string a = sessions.Start("token-a", kNow);
  const std::string b = sessions.Start("token-a", kNow);
  EXPECT_EQ(a.size(), 64u);  // 256 bits in hex
  EXPECT_NE(a, b);
  EXPECT_EQ(sessions.TokenOf(a, kNow + absl::Hours(1)), "token-a");
  EXPECT_EQ(sessions.TokenOf(a, kNow + absl::Hours(12)), "");
  sessions.End(b);
  EXPECT_EQ(sessions.TokenOf(b, kNow), "");
  EXPECT_EQ(sessions.TokenOf("", kNow), "");
  EXPECT_EQ(sessions.TokenOf("not-a-session", kNow), "");
}

TEST(WebSessionsTest, PastTheLimitTheOldestGoFirst) {
  WebSessions sessions(absl::Hours(1), /*max_sessions=*/3);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(sessions.Start("t", kNow + absl::Minutes(i)));
  }
  EXPECT_EQ(sessions.TokenOf(ids[0], kNow + absl::Minutes(5)), "");
  for (int i = 1; i < 4; ++i) {
    EXPECT_EQ(sessions.TokenOf(ids[i], kNow + absl::Minutes(5)), "t") << i;
  }
}

}  // namespace
}  // namespace newsdedup
