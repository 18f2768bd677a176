// End-to-end test of `newsdedup serve` and `newsdedup client`: the real
// binary as a server process on a loopback port, stopped with SIGTERM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/support/server_process.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using testing::ReadFile;

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTempDir("serve-test");
    log_ = (dir_ / "server.log").string();
    ASSERT_TRUE(server_.Start(NEWSDEDUP_CLI_PATH,
                              absl::StrCat("--data-dir ", DataDir()), log_))
        << ReadFile(log_);
    port_ = server_.port();
  }

  void TearDown() override {
    server_.Stop(SIGKILL);
    std::filesystem::remove_all(dir_);
  }

  std::string DataDir() const { return (dir_ / "data").string(); }

  // Runs `newsdedup <args>`; returns the exit code.
  int Run(const std::string& args, std::string* out) {
    return testing::RunCommand(absl::StrCat(NEWSDEDUP_CLI_PATH, " ", args),
                               (dir_ / "command.out").string(), out);
  }

  // Runs `newsdedup client --server ... <args>`; returns the exit code.
  int Client(const std::string& args, std::string* out) {
    return Run(absl::StrCat("client --server 127.0.0.1:", port_, " ", args),
               out);
  }

  std::filesystem::path dir_;
  std::string log_;
  testing::ServerProcess server_;
  int port_ = 0;
};

TEST_F(ServeTest, ServesClientAndStopsGracefullyOnSigterm) {
  std::string out;
  ASSERT_EQ(Client("health", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("SERVING"));
  // Issue 13: client flags after the subcommand work too.
  ASSERT_EQ(Run(absl::StrCat("client health --server 127.0.0.1:", port_), &out),
            0)
      << out;

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
  // Issue 13: rejecting everything exits 1, as documented (3 is "some").
  const std::string bad_only = (dir_ / "bad.jsonl").string();
  std::ofstream(bad_only) << "{not json\n{\"id\": \"\"}\n";
  EXPECT_EQ(Client(absl::StrCat("assign ", bad_only), &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("0 answered, 2 rejected"));

  ASSERT_EQ(Client("list-clusters", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("4 clusters"));
  // Issue 14: the state digest of a single server (no replica fields).
  ASSERT_EQ(Run(absl::StrCat("admin state --server 127.0.0.1:", port_), &out),
            0)
      << out;
  EXPECT_THAT(out, ::testing::ContainsRegex(
                       "^digest=[0-9a-f]{16} articles=13 clusters=4\n$"));
  // Issue 13: the sort orders are spelled as in the HTTP API and Python.
  ASSERT_EQ(Client("list-clusters --sort growth", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("4 clusters"));
  EXPECT_NE(Client("list-clusters --sort sideways", &out), 0);
  // Issue 36: the CLI had no --updated-since.
  ASSERT_EQ(Client("list-clusters --updated-since 2000-01-01T00:00:00Z", &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("4 clusters"));
  ASSERT_EQ(Client("list-clusters --updated-since 2100-01-01T00:00:00Z", &out),
            0)
      << out;
  EXPECT_THAT(out, Not(HasSubstr("4 clusters")));
  EXPECT_EQ(Client("list-clusters --updated-since yesterday", &out), 2);
  EXPECT_THAT(out, HasSubstr("RFC 3339"));
  // Issue 13: the CLI pages with the opaque token it is given.
  ASSERT_EQ(Client("list-clusters --limit 3", &out), 0) << out;
  std::smatch token;
  ASSERT_TRUE(
      std::regex_search(out, token, std::regex("add --page-token (\\S+)")))
      << out;
  ASSERT_EQ(Client(absl::StrCat("list-clusters --limit 3 --page-token ",
                                token[1].str()),
                   &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("showing 1"));
  ASSERT_EQ(Client("get-article s2 --json", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"article_id\":\"s2\""));
  EXPECT_NE(Client("get-article no-such-id", &out), 0);
  EXPECT_THAT(out, HasSubstr("NOT_FOUND: unknown article"));  // a name, not 5

  ASSERT_EQ(Client("delete-article s1", &out), 0) << out;  // a representative
  const int status = server_.Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const std::string log = ReadFile(log_);
  EXPECT_THAT(log, HasSubstr("event=shutting_down signal=SIGTERM"));
  EXPECT_THAT(log, HasSubstr("event=stopped articles=12"));
  // Issue 13: takedowns and representative changes are logged.
  EXPECT_THAT(log, ::testing::ContainsRegex("event=takedown article=s1 "
                                            "cluster=story-[0-9]+"));
  EXPECT_THAT(log, ::testing::ContainsRegex(
                       "event=representative_changed cluster=story-[0-9]+ "
                       "article=s[0-9]+"));
  // No article text in the logs.
  EXPECT_THAT(log, ::testing::Not(HasSubstr("Budapest")));
}

// Issue 37: what a newcomer types works as they expect.
TEST_F(ServeTest, TheClientReadsAsPeopleExpectAndSplitsBigBatches) {
  server_.Stop(SIGKILL);
  ASSERT_TRUE(server_.Start(
      NEWSDEDUP_CLI_PATH,
      absl::StrCat("--data-dir ", DataDir(), " --max-batch 4"), log_))
      << ReadFile(log_);
  port_ = server_.port();
  const std::string input = (dir_ / "in.jsonl").string();
  std::ofstream(input) << testing::StoriesJsonl();
  // More per call than the server takes: sent in calls it takes.
  std::string out;
  ASSERT_EQ(Client(absl::StrCat("assign --batch 10 ", input), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("13 answered, 0 rejected"));
  EXPECT_THAT(out, HasSubstr("sending 4 per call"));

  // get-article reads as text (JSON with --json).
  ASSERT_EQ(Client("get-article s2", &out), 0) << out;
  EXPECT_THAT(out, ::testing::ContainsRegex(
                       "^s2  [A-Z_]+ in story-[0-9]+ \\(thread thread-"));
  EXPECT_THAT(out, HasSubstr("representative: "));
  EXPECT_THAT(out, Not(HasSubstr("\"article_id\"")));

  // Every command pages with --page-size (--limit is the same flag).
  ASSERT_EQ(Client("list-clusters --page-size 1 --json", &out), 0) << out;
  std::smatch id;
  ASSERT_TRUE(std::regex_search(out, id, std::regex("\"(story-[0-9]+)\"")))
      << out;
  ASSERT_EQ(Client("list-clusters --page-size 1", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("showing 1"));
  // Automatic history events say when they happened.
  ASSERT_EQ(
      Client(absl::StrCat("get-cluster --page-size 2 ", id[1].str()), &out), 0)
      << out;
  EXPECT_THAT(out, ::testing::ContainsRegex(
                       "history: CREATED at [0-9]{4}-[0-9]{2}-[0-9]{2} "));
  ASSERT_EQ(Client("find-similar --page-size 2 'Budapest summit'", &out), 0)
      << out;

  // A batch user's table from the running server: every article once.
  const std::string table = (dir_ / "export.tsv").string();
  ASSERT_EQ(Client("export -o " + table, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("13 articles"));
  std::vector<std::string> rows =
      absl::StrSplit(ReadFile(table), '\n', absl::SkipEmpty());
  ASSERT_EQ(rows.size(), 14u);
  EXPECT_EQ(rows[0],
            "article_id\tcluster_id\trelation\trepresentative_id\t"
            "thread_id\tduplicate_of");
  std::set<std::string> ids;
  for (size_t i = 1; i < rows.size(); ++i) {
    std::vector<std::string> f = absl::StrSplit(rows[i], '\t');
    ASSERT_EQ(f.size(), 6u) << rows[i];
    ids.insert(f[0]);
    ASSERT_EQ(Client("get-article --json " + f[0], &out), 0) << out;
    EXPECT_THAT(out, HasSubstr("\"cluster_id\":\"" + f[1] + "\""));
  }
  EXPECT_EQ(ids.size(), 13u);
  ASSERT_EQ(Client("export --format csv", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("article_id,cluster_id,relation,"));
}

// Issue 37: a tenant's (or a feed's) list and export hold its own stories
// and articles, after a restart too.
TEST_F(ServeTest, ListsAndExportsFilterByCollection) {
  std::string tenant_a = testing::StoriesJsonl();
  // Every line of the fixture is one JSON object: tag it.
  tenant_a =
      std::regex_replace(tenant_a, std::regex("^\\{", std::regex::multiline),
                         "{\"collection\": \"tenant-a\", ");
  const std::string input = (dir_ / "in.jsonl").string();
  std::ofstream(input)
      << tenant_a
      << R"({"id": "chess-b", "collection": "tenant-b", "title": "Chess )"
         R"(champion wins the final round of the Candidates tournament"})"
      << "\n"
      // A story the tenants share: each exports its own article of it.
      << R"({"id": "quake-b", "collection": "tenant-b", "title": "Magnitude )"
         R"(6.1 earthquake strikes off coast of Chile, tsunami warning"})"
      << "\n";
  std::string out;
  ASSERT_EQ(Client("assign " + input, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("15 answered, 0 rejected"));
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "serving" : "restarted");
    ASSERT_EQ(Client("list-clusters --collection tenant-b --json", &out), 0)
        << out;
    EXPECT_THAT(out, HasSubstr("\"total\":2,"));
    EXPECT_THAT(out, HasSubstr("\"collections\":[\"tenant-b\"]"));
    EXPECT_THAT(out, HasSubstr("\"collections\":[\"tenant-a\",\"tenant-b\"]"));
    ASSERT_EQ(Client("list-clusters --collection tenant-a", &out), 0) << out;
    EXPECT_THAT(out, HasSubstr("4 clusters"));
    ASSERT_EQ(Client("list-clusters --collection nobody", &out), 0) << out;
    EXPECT_THAT(out, HasSubstr("0 clusters"));
    ASSERT_EQ(Client("export --collection tenant-b", &out), 0) << out;
    EXPECT_THAT(out, HasSubstr("\nchess-b\tstory-"));
    EXPECT_THAT(out, HasSubstr("\nquake-b\tstory-"));
    EXPECT_THAT(out, HasSubstr("2 articles"));
    ASSERT_EQ(Client("export --collection tenant-a", &out), 0) << out;
    EXPECT_THAT(out, HasSubstr("13 articles"));
    EXPECT_THAT(out, Not(HasSubstr("\nchess-b\t")));
    // (A shared story's representative may be another tenant's article:
    // the summary is the whole story's.)
    EXPECT_THAT(out, Not(HasSubstr("\nquake-b\t")));
    EXPECT_NE(Client("list-clusters --collection ' '", &out), 0);
    EXPECT_THAT(out, HasSubstr("collection: only whitespace"));
    ASSERT_TRUE(WIFEXITED(server_.Stop(SIGTERM)));
    ASSERT_TRUE(server_.Start(NEWSDEDUP_CLI_PATH,
                              absl::StrCat("--data-dir ", DataDir()), log_))
        << ReadFile(log_);
    port_ = server_.port();
  }
}

// Issue 37: Ctrl-C of the replicated demo took 15 s; a replica still
// starting (here: waiting for a NATS server that is not there yet) ignored
// SIGTERM until it served or gave up.
TEST_F(ServeTest, AStopDuringStartupEndsItAtOnce) {
  server_.Stop(SIGKILL);
  testing::ServerProcess starting;
  // Port 9 (discard) on loopback: nothing listens, the first connection
  // is retried for --replication-connect-timeout-seconds.
  EXPECT_FALSE(starting.Start(NEWSDEDUP_CLI_PATH,
                              absl::StrCat("--data-dir ", DataDir(),
                                           " --replication-url "
                                           "nats://127.0.0.1:9 "
                                           "--replication-stream s"),
                              log_, /*timeout_ms=*/1500))
      << ReadFile(log_);
  ASSERT_GT(starting.pid(), 0) << "it gave up already:\n" << ReadFile(log_);
  const absl::Time stop = absl::Now();
  const int status = starting.Stop(SIGTERM);
  EXPECT_LT(absl::Now() - stop, absl::Seconds(3));
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_THAT(ReadFile(log_),
              HasSubstr("event=stopped_during_startup signal=SIGTERM"));
}

TEST_F(ServeTest, RestartRecoversAndBadStartsFailClearly) {
  const std::string input = (dir_ / "in.jsonl").string();
  std::ofstream(input) << testing::StoriesJsonl();
  std::string out;
  ASSERT_EQ(Client(absl::StrCat("assign ", input), &out), 0) << out;

  // A second server on the same data dir is refused with a clear error.
  testing::ServerProcess second;
  const std::string second_log = (dir_ / "second.log").string();
  EXPECT_FALSE(second.Start(NEWSDEDUP_CLI_PATH,
                            absl::StrCat("--data-dir ", DataDir()), second_log,
                            10000));
  EXPECT_THAT(ReadFile(second_log), HasSubstr("is in use by another process"));

  ASSERT_TRUE(WIFEXITED(server_.Stop(SIGTERM)));
  // The clean stop left the index snapshot; the start reads and deletes it.
  const std::filesystem::path snapshot =
      std::filesystem::path(DataDir()) / "NEWSDEDUP-INDEX-SNAPSHOT";
  EXPECT_TRUE(std::filesystem::exists(snapshot));
  ASSERT_TRUE(server_.Start(NEWSDEDUP_CLI_PATH,
                            absl::StrCat("--data-dir ", DataDir()), log_))
      << ReadFile(log_);
  port_ = server_.port();
  EXPECT_THAT(ReadFile(log_), HasSubstr("event=recovered"));
  EXPECT_THAT(ReadFile(log_), HasSubstr("articles=13 clusters=4"));
  EXPECT_THAT(ReadFile(log_), Not(HasSubstr("snapshot_refused")));
  EXPECT_FALSE(std::filesystem::exists(snapshot));
  ASSERT_EQ(Client("list-clusters", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("4 clusters"));
  // Resending everything changes nothing.
  ASSERT_EQ(Client(absl::StrCat("assign ", input), &out), 0) << out;
  ASSERT_EQ(Client("list-clusters", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("4 clusters"));

  // A missing tokenizer model stops the start with a message naming it.
  testing::ServerProcess no_model;
  const std::string no_model_log = (dir_ / "no_model.log").string();
  EXPECT_FALSE(no_model.Start(NEWSDEDUP_CLI_PATH,
                              "--in-memory --model /no/such/model.model",
                              no_model_log, 10000));
  EXPECT_THAT(ReadFile(no_model_log), HasSubstr("/no/such/model.model"));
}

TEST_F(ServeTest, AdminChecksBacksUpAndRestores) {
  const std::string input = (dir_ / "in.jsonl").string();
  std::ofstream(input) << testing::StoriesJsonl();
  std::string out;
  ASSERT_EQ(Client(absl::StrCat("assign ", input), &out), 0) << out;

  const std::string data = absl::StrCat(" --data-dir ", DataDir());
  // check runs beside the server, backup goes through it; compact needs
  // it stopped.
  ASSERT_EQ(Run("admin check" + data, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("13 articles"));
  EXPECT_THAT(out, HasSubstr("no problems found"));
  const std::string backups = (dir_ / "backups").string();
  EXPECT_EQ(Run(absl::StrCat("admin backup", data, " --to ", backups), &out), 0)
      << out;
  EXPECT_THAT(out, HasSubstr("online through the server"));
  EXPECT_EQ(Run("admin compact" + data, &out), 1);
  EXPECT_THAT(out, HasSubstr("in use"));
  ASSERT_TRUE(WIFEXITED(server_.Stop(SIGTERM)));
  ASSERT_EQ(Run(absl::StrCat("admin backup", data, " --to ", backups), &out), 0)
      << out;
  ASSERT_EQ(Run("admin compact" + data, &out), 0) << out;
  EXPECT_EQ(Run(absl::StrCat("admin restore --from ", backups, data), &out), 1);
  EXPECT_THAT(out, HasSubstr("never overwrites"));
  const std::string restored = (dir_ / "restored").string();
  ASSERT_EQ(Run(absl::StrCat("admin restore --from ", backups, " --data-dir ",
                             restored),
                &out),
            0)
      << out;
  ASSERT_EQ(Run("admin check --data-dir " + restored, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("13 articles"));
  EXPECT_EQ(Run("admin check --data-dir " + (dir_ / "nothing").string(), &out),
            1);
  EXPECT_THAT(out, HasSubstr("no store in"));
}

TEST_F(ServeTest, ClientReportsAnUnreachableServer) {
  std::string out;
  EXPECT_NE(Run("client --server 127.0.0.1:1 --timeout-seconds 2 health", &out),
            0);
  EXPECT_THAT(out, HasSubstr("127.0.0.1:1"));
}

}  // namespace
}  // namespace newsdedup
