// End-to-end test of `newsdedup serve` and `newsdedup client`: the real
// binary as a server process on a loopback port, stopped with SIGTERM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/support/test_articles.h"

extern char** environ;

namespace newsdedup {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("newsdedup-serve-test-", getpid());
    std::filesystem::create_directories(dir_);
    log_ = (dir_ / "server.log").string();
    // Started through the shell only for the redirection; exec replaces it,
    // so pid_ is the server's.
    const std::string command = absl::StrCat(
        "exec ", NEWSDEDUP_CLI_PATH, " serve --listen 127.0.0.1:0 2>", log_);
    const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
    ASSERT_EQ(posix_spawn(&pid_, "/bin/sh", nullptr, nullptr,
                          const_cast<char**>(argv), environ),
              0);
    // The server logs its port once it listens.
    const std::regex port_re("event=serving .*port=([0-9]+)");
    for (int i = 0; i < 500 && port_ == 0; ++i) {
      std::smatch m;
      const std::string log = ReadFile(log_);
      if (std::regex_search(log, m, port_re)) port_ = std::stoi(m[1]);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_NE(port_, 0) << ReadFile(log_);
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  // Runs `newsdedup client --server ... <args>`; returns the exit code.
  int Client(const std::string& args, std::string* out) {
    const std::string out_path = (dir_ / "client.out").string();
    const std::string command =
        absl::StrCat(NEWSDEDUP_CLI_PATH, " client --server 127.0.0.1:", port_,
                     " ", args, " >", out_path, " 2>&1");
    const int status = std::system(command.c_str());
    *out = ReadFile(out_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::filesystem::path dir_;
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

TEST_F(ServeTest, ServesClientAndStopsGracefullyOnSigterm) {
  std::string out;
  ASSERT_EQ(Client("health", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("SERVING"));

  const std::string input = (dir_ / "in.jsonl").string();
  std::ofstream(input) << testing::StoriesJsonl();
  ASSERT_EQ(Client(absl::StrCat("assign ", input), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("13 answered, 0 rejected"));

  // The same through AssignBatch, 5 at a time, plus one bad line: resends
  // are idempotent, the bad line is reported and the exit code says so.
  std::ofstream(input, std::ios::app) << "{not json\n";
  ASSERT_EQ(Client(absl::StrCat("assign --batch 5 ", input), &out), 3) << out;
  EXPECT_THAT(out, HasSubstr("13 answered, 1 rejected"));
  EXPECT_THAT(out, HasSubstr("line 14: malformed JSON"));

  ASSERT_EQ(Client("list-clusters", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("4 stories"));
  ASSERT_EQ(Client("get-article s2", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"article_id\":\"s2\""));
  EXPECT_NE(Client("get-article no-such-id", &out), 0);
  EXPECT_THAT(out, HasSubstr("unknown article"));

  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid_, &status, 0), pid_);
  pid_ = -1;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const std::string log = ReadFile(log_);
  EXPECT_THAT(log, HasSubstr("event=shutting_down signal=SIGTERM"));
  EXPECT_THAT(log, HasSubstr("event=stopped articles=13"));
  // No article text in the logs.
  EXPECT_THAT(log, ::testing::Not(HasSubstr("Budapest")));
}

TEST_F(ServeTest, ClientReportsAnUnreachableServer) {
  std::string out;
  const std::string command =
      absl::StrCat(NEWSDEDUP_CLI_PATH,
                   " client --server 127.0.0.1:1 --timeout-seconds 2 health "
                   ">",
                   (dir_ / "o").string(), " 2>&1");
  const int status = std::system(command.c_str());
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_THAT(ReadFile((dir_ / "o").string()), HasSubstr("127.0.0.1:1"));
}

}  // namespace
}  // namespace newsdedup
