#include "services/server/access_control.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTokens[] =
    "# newsdedup tokens\n"
    "reader-0123456789abcdef read  Dashboard Viewer\n"
    "\n"
    "ingest-0123456789abcdef ingest pipeline\n"
    "editor-0123456789abcdef edit   Ana Editor\n"
    "admin--0123456789abcdef admin  ops\n";

TEST(AccessControlTest, RolesAreOrdered) {
  auto access = AccessControl::FromText(kTokens);
  ASSERT_TRUE(access.ok()) << access.status();
  const std::string editor = "Bearer editor-0123456789abcdef";
  absl::StatusOr<Caller> caller =
      (*access)->Authorize(editor, Role::kIngest, "Assign");
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->name, "Ana Editor");
  EXPECT_EQ(caller->role, Role::kEdit);
  EXPECT_TRUE((*access)->Authorize(editor, Role::kRead, "GetCluster").ok());
  absl::StatusOr<Caller> denied =
      (*access)->Authorize(editor, Role::kAdmin, "Backup");
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.status().message(),
              HasSubstr("Backup needs the role 'admin'"));
  EXPECT_THAT(denied.status().message(), HasSubstr("'Ana Editor' has 'edit'"));
  EXPECT_EQ(
      (*access)
          ->Authorize("Bearer reader-0123456789abcdef", Role::kIngest, "Assign")
          .status()
          .code(),
      absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(
      (*access)
          ->Authorize("Bearer admin--0123456789abcdef", Role::kAdmin, "Backup")
          .ok());
}

TEST(AccessControlTest, MissingOrWrongTokensAreUnauthenticated) {
  auto access = AccessControl::FromText(kTokens);
  ASSERT_TRUE(access.ok());
  for (const char* header :
       {"", "Bearer", "Bearer ", "Basic reader-0123456789abcdef",
        "Bearer reader-0123456789abcdeX", "Bearer reader-0123456789abcde",
        "reader-0123456789abcdef"}) {
    absl::StatusOr<Caller> caller =
        (*access)->Authorize(header, Role::kRead, "ListClusters");
    EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated)
        << header;
    EXPECT_THAT(caller.status().message(), Not(HasSubstr("0123456789")));
  }
  // The scheme is case-insensitive (RFC 7235).
  EXPECT_TRUE((*access)
                  ->Authorize("bearer reader-0123456789abcdef", Role::kRead,
                              "ListClusters")
                  .ok());
}

TEST(AccessControlTest, OpenAllowsEverything) {
  std::unique_ptr<AccessControl> open = AccessControl::Open();
  EXPECT_FALSE(open->enabled());
  absl::StatusOr<Caller> caller = open->Authorize("", Role::kAdmin, "Backup");
  ASSERT_TRUE(caller.ok());
  EXPECT_EQ(caller->name, "anonymous");
}

TEST(AccessControlTest, BadFilesNameTheLineButNeverTheToken) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"abcdefabcdefabcdef read\n", "line 1: expected TOKEN ROLE NAME"},
      {"# c\nabcdefabcdefabcdef owner bob\n", "line 2: unknown role 'owner'"},
      {"short read bob\n", "line 1: token shorter than 16"},
      {"abcdefabcdefabcdef read a\nabcdefabcdefabcdef admin b\n",
       "line 2: the same token as 'a'"},
      {"# nothing\n\n", "no token"},
  };
  for (const Case& c : cases) {
    auto access = AccessControl::FromText(c.text);
    ASSERT_FALSE(access.ok()) << c.text;
    EXPECT_EQ(access.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(access.status().message(), HasSubstr(c.message));
    EXPECT_THAT(access.status().message(), Not(HasSubstr("abcdefabcdef")));
  }
  EXPECT_EQ(AccessControl::FromTokenFile("/nonexistent/tokens").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(AccessControlTest, ReloadSwapsTokensAndKeepsOldOnesOnError) {
  char path[] = "/tmp/newsdedup-tokens-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << "first-0123456789abcdef read one\n";
  auto access = AccessControl::FromTokenFile(path);
  ASSERT_TRUE(access.ok()) << access.status();
  const std::string first = "Bearer first-0123456789abcdef";
  const std::string second = "Bearer second-0123456789abcdef";
  EXPECT_TRUE((*access)->Authenticate(first).ok());

  std::ofstream(path) << "second-0123456789abcdef admin two\n";
  absl::StatusOr<int> reloaded = (*access)->Reload();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(*reloaded, 1);
  EXPECT_EQ((*access)->Authenticate(first).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE((*access)->Authenticate(second).ok());

  std::ofstream(path) << "second-0123456789abcdef superuser two\n";
  EXPECT_FALSE((*access)->Reload().ok());
  EXPECT_TRUE((*access)->Authenticate(second).ok());  // old table stays
  std::remove(path);
}

}  // namespace
}  // namespace newsdedup
