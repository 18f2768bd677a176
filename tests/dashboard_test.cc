// The operators' HTTP endpoint end to end: the real server binary, fed the
// sample stories through the client; /metrics scraped before and after and
// checked by Prometheus's own promtool; the dashboard rendered by headless
// Chromium (Debian's chromium), its DOM checked and a screenshot saved
// under the build directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "newsdedup/v1/dedup.pb.h"
#include "tests/support/server_process.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFile;

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTempDir("dashboard-test");
    log_ = (dir_ / "server.log").string();
    ASSERT_TRUE(server_.Start(
        NEWSDEDUP_CLI_PATH,
        absl::StrCat("--data-dir ", (dir_ / "data").string()), log_))
        << ReadFile(log_);
    ASSERT_GT(server_.http_port(), 0) << ReadFile(log_);
  }

  void TearDown() override {
    server_.Stop(SIGTERM);
    std::filesystem::remove_all(dir_);
  }

  // Runs a shell command; returns its exit code and output.
  int Run(const std::string& command, std::string* out) {
    return testing::RunCommand(command, (dir_ / "command.out").string(), out);
  }

  void FeedStories() {
    const std::string input = (dir_ / "in.jsonl").string();
    std::ofstream(input) << testing::StoriesJsonl();
    std::string out;
    ASSERT_EQ(Run(absl::StrCat(NEWSDEDUP_CLI_PATH, " client --server ",
                               server_.address(), " assign ", input),
                  &out),
              0)
        << out;
  }

  std::string Get(const std::string& path, int* status = nullptr) {
    httplib::Client client("127.0.0.1", server_.http_port());
    auto res = client.Get(path);
    if (!res) return "";
    if (status != nullptr) *status = res->status;
    return res->body;
  }

  // The value of one sample line of the exposition text, or -1.
  static double Sample(const std::string& text, const std::string& series) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind(series + " ", 0) == 0) {
        double v = -1;
        if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
      }
    }
    return -1;
  }

  // Headless Chromium's DOM of `url` after its scripts ran.
  std::string RenderedDom(const std::string& url, const std::string& name) {
    std::string dom;
    const int code =
        Run(absl::StrCat(kChromium, " --dump-dom '", url, "'", " 2>/dev/null"),
            &dom);
    EXPECT_EQ(code, 0) << dom;
    std::ofstream(dir_ / (name + ".html")) << dom;
    return dom;
  }

  static constexpr char kChromium[] =
      "chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
      "--no-first-run --virtual-time-budget=4000";

  std::filesystem::path dir_;
  std::string log_;
  testing::ServerProcess server_;
};

TEST_F(DashboardTest, MetricsMoveAsArticlesArriveAndPassPromtool) {
  const std::string before = Get("/metrics");
  ASSERT_FALSE(before.empty());
  EXPECT_EQ(Sample(before, "newsdedup_articles"), 0);
  EXPECT_EQ(Sample(before, "newsdedup_feed_cursor"), 0);
  // Issue 13: the process's own figures.
  EXPECT_GT(Sample(before, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(Sample(before, "process_open_fds"), 3);
  EXPECT_GT(Sample(before, "process_cpu_seconds_total"), 0);
  EXPECT_GT(Sample(before, "process_start_time_seconds"), 1.7e9);
  EXPECT_THAT(before, ::testing::ContainsRegex(
                          "newsdedup_build_info\\{version=\"[0-9.]+\"\\} 1"));
  FeedStories();
  std::string out;
  ASSERT_EQ(Run(absl::StrCat(NEWSDEDUP_CLI_PATH, " client --server ",
                             server_.address(), " health"),
                &out),
            0)
      << out;
  const std::string after = Get("/metrics");
  EXPECT_EQ(Sample(after, "newsdedup_articles"), 13);
  // Issue 13: latency per streamed article, not per whole stream.
  EXPECT_EQ(Sample(after,
                   "newsdedup_grpc_message_latency_seconds_count{"
                   "grpc_method=\"AssignStream\","
                   "grpc_service=\"newsdedup.v1.DedupService\"}"),
            13);
  EXPECT_EQ(Sample(after, "newsdedup_live_clusters"), 4);
  // One event per article at least (a new story or a join).
  EXPECT_GE(Sample(after, "newsdedup_feed_cursor"), 13);
  EXPECT_EQ(Sample(after,
                   "newsdedup_assigned_articles_total{relation=\"NEW_STORY\"}"),
            4);
  EXPECT_EQ(Sample(after,
                   "newsdedup_grpc_received_messages_total{"
                   "grpc_method=\"AssignStream\","
                   "grpc_service=\"newsdedup.v1.DedupService\"}"),
            13);
  // Issue 13: one label form for every method, ours or gRPC's own.
  EXPECT_EQ(Sample(after,
                   "newsdedup_grpc_requests_total{grpc_code=\"OK\","
                   "grpc_method=\"AssignStream\","
                   "grpc_service=\"newsdedup.v1.DedupService\"}"),
            1);
  EXPECT_EQ(Sample(after,
                   "newsdedup_grpc_requests_total{grpc_code=\"OK\","
                   "grpc_method=\"Check\","
                   "grpc_service=\"grpc.health.v1.Health\"}"),
            1);
  EXPECT_GT(Sample(after, "newsdedup_embeddings_total"), 0);
  EXPECT_GT(Sample(after, "newsdedup_store_bytes"), 0);
  EXPECT_GE(Sample(after, "newsdedup_index_vectors"), 13);
  EXPECT_THAT(after,
              HasSubstr("newsdedup_grpc_request_duration_seconds_bucket"));

  // Prometheus's own parser agrees with the format.
  const std::string scraped = (dir_ / "metrics.txt").string();
  std::ofstream(scraped) << after;
  EXPECT_EQ(Run("promtool check metrics < " + scraped, &out), 0) << out;
}

TEST_F(DashboardTest,
       JsonApiAnswersWithTheGrpcMessagesAndRejectsBadParameters) {
  FeedStories();
  int status = 0;
  const std::string listed =
      Get("/api/clusters?sort=size&page_size=2", &status);
  EXPECT_EQ(status, 200);
  // Issue 13: one answer shape: ListClustersResponse in protobuf's JSON
  // mapping, proto field names, zero fields printed.
  v1::ListClustersResponse list;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(listed, &list).ok())
      << listed;
  EXPECT_EQ(list.total(), 4);
  EXPECT_EQ(list.total_articles(), 13);
  ASSERT_EQ(list.clusters_size(), 2);
  EXPECT_EQ(list.clusters(0).timeline_size(), 24);
  EXPECT_FALSE(list.clusters(0).top_sources().empty());
  EXPECT_THAT(listed, HasSubstr("\"cluster_id\":"));
  EXPECT_THAT(listed, HasSubstr("\"expired\":false"));
  // Issue 13: the HTTP API pages with an opaque token.
  ASSERT_FALSE(list.next_page_token().empty());
  const nlohmann::json page = nlohmann::json::parse(
      Get("/api/clusters?page_size=2&page_token=" + list.next_page_token(),
          &status));
  EXPECT_EQ(status, 200);
  EXPECT_EQ(page.at("clusters").size(), 2u);
  EXPECT_EQ(page.at("next_page_token"), "");
  // A cluster with its members (titles, URLs) and history.
  const std::string id = list.clusters(0).cluster_id();
  v1::GetClusterResponse cluster;
  const std::string got = Get("/api/clusters/" + id, &status);
  EXPECT_EQ(status, 200);
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(got, &cluster).ok());
  EXPECT_EQ(cluster.cluster().cluster_id(), id);
  EXPECT_GE(cluster.members_size(), 3);
  EXPECT_FALSE(cluster.cluster().history().empty());
  // Errors are newsdedup.v1.Error messages with the HTTP status of the code.
  const std::string bad =
      Get("/api/clusters?page_token=bm90LWEtdG9rZW4", &status);
  EXPECT_EQ(status, 400);
  EXPECT_THAT(bad, HasSubstr("\"code\":3"));
  // Issue 36: every request field is a query parameter, and an unknown
  // one is refused, naming it (updated_since and format=csv were dropped
  // and all clusters listed).
  const std::string unknown = Get("/api/clusters?format=csv", &status);
  EXPECT_EQ(status, 400);
  EXPECT_THAT(unknown, HasSubstr("format: unknown query parameter"));
  for (const std::string& refused :
       {std::string("/api/clusters?page_size=0x"),
        std::string("/api/clusters?page_size=5000"),
        std::string("/api/clusters?sort=sideways"),
        std::string("/api/search?q=summit&limit=3"),
        std::string("/api/articles/s1?fields=title"),
        "/api/clusters/" + id + "?sort=size",
        std::string("/api/clusters?updated_since=yesterday"),
        std::string("/api/clusters?include_expired=maybe")}) {
    Get(refused, &status);
    EXPECT_EQ(status, 400) << refused;
  }
  const nlohmann::json future = nlohmann::json::parse(
      Get("/api/clusters?updated_since=2100-01-01T00:00:00Z", &status));
  EXPECT_EQ(status, 200);
  EXPECT_EQ(future.value("clusters", nlohmann::json::array()).size(), 0u);
  const nlohmann::json past = nlohmann::json::parse(Get(
      "/api/clusters?updated_since=2000-01-01T00:00:00Z&include_expired=true",
      &status));
  EXPECT_EQ(status, 200);
  EXPECT_EQ(past.at("clusters").size(), 4u);
  Get("/api/clusters/no-such-cluster", &status);
  EXPECT_EQ(status, 404);
  Get("/api/articles/s1", &status);
  EXPECT_EQ(status, 200);
  v1::FindSimilarResponse similar;
  const std::string search = Get("/api/search?q=Budapest%20summit", &status);
  EXPECT_EQ(status, 200);
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(search, &similar).ok());
  ASSERT_GT(similar.neighbors_size(), 0);
  EXPECT_THAT(similar.neighbors(0).representative_title(),
              HasSubstr("Budapest"));
  // Rounded, not 0.12999999523162842.
  EXPECT_THAT(search,
              ::testing::ContainsRegex("\"similarity\":0\\.[0-9]{1,4}[,}]"));
  Get("/api/search?q=", &status);
  EXPECT_EQ(status, 400);
}

// Counts the matches of `pattern` in `text`.
int Count(const std::string& text, const std::string& pattern) {
  std::regex re(pattern);
  return static_cast<int>(
      std::distance(std::sregex_iterator(text.begin(), text.end(), re),
                    std::sregex_iterator()));
}

TEST_F(DashboardTest, AStoryPageLinksItsThreadAndSiblingStories) {
  FeedStories();
  const std::string cli =
      absl::StrCat(NEWSDEDUP_CLI_PATH, " client --server ", server_.address());
  std::string out;
  ASSERT_EQ(Run(cli + " get-article s1 --json", &out), 0) << out;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(out, m, std::regex("\"cluster_id\":\"([^\"]+)\"")))
      << out;
  const std::string summit = m[1].str();
  ASSERT_TRUE(
      std::regex_search(out, m, std::regex("\"thread_id\":\"([^\"]+)\"")))
      << out;
  const std::string thread = m[1].str();
  // An editor splits one report off: two stories of one thread.
  ASSERT_EQ(Run(absl::StrCat(cli, " split-cluster ", summit,
                             " s4 --reason 'a second event'"),
                &out),
            0)
      << out;
  ASSERT_EQ(Run(absl::StrCat(cli, " list-clusters --thread ", thread), &out), 0)
      << out;
  EXPECT_THAT(out, HasSubstr("2 clusters; showing 2"));
  EXPECT_EQ(Count(out, " " + thread + " "), 2) << out;

  const std::string base =
      absl::StrCat("http://127.0.0.1:", server_.http_port(), "/");
  const std::string page =
      RenderedDom(absl::StrCat(base, "#/cluster/", summit), "story-thread");
  EXPECT_THAT(page, HasSubstr(absl::StrCat("href=\"#/thread/", thread, "\"")))
      << page;
  EXPECT_EQ(Count(page, "class=\"sibling\""), 1) << page;
  const std::string threads =
      RenderedDom(absl::StrCat(base, "#/thread/", thread), "thread");
  EXPECT_EQ(Count(threads, "class=\"cluster-row\""), 2) << threads;
  EXPECT_THAT(threads, HasSubstr("2 stories"));
}

TEST_F(DashboardTest, ChromiumRendersClustersAClusterPageAndSearch) {
  FeedStories();
  const std::string base =
      absl::StrCat("http://127.0.0.1:", server_.http_port(), "/");
  const std::string list = RenderedDom(base, "clusters");
  // Four cluster rows, each with a representative headline.
  EXPECT_EQ(Count(list, "class=\"cluster-row\""), 4) << list;
  EXPECT_THAT(list, HasSubstr("Budapest"));
  EXPECT_THAT(list, HasSubstr("earthquake"));
  EXPECT_THAT(list, HasSubstr("13 articles"));
  // Issue 13: a readable timeline: an hour axis, and a count on hover.
  EXPECT_THAT(list, HasSubstr("class=\"tick\""));
  // Issue 37: archived news (2025) has its own "now": the axis ends at
  // the newest article's hour, and the page says so instead of implying
  // the clock.
  EXPECT_THAT(list, HasSubstr(">22:00 UTC</text>"));
  EXPECT_THAT(list, Not(HasSubstr(">now</text>")));
  EXPECT_THAT(list, HasSubstr("times count back from the newest article, "
                              "2025-10-22 22:00Z, not from the clock"));
  EXPECT_THAT(list, ::testing::ContainsRegex("<title>[0-9]+ articles?, "));

  // Issue 13: filters by source, size and time.
  const std::string by_source = RenderedDom(base + "#/?source=Sport", "source");
  EXPECT_EQ(Count(by_source, "class=\"cluster-row\""), 1) << by_source;
  EXPECT_THAT(by_source, HasSubstr("Juventus"));
  const std::string by_size = RenderedDom(base + "#/?min_size=4", "size");
  EXPECT_EQ(Count(by_size, "class=\"cluster-row\""), 1) << by_size;
  EXPECT_THAT(by_size, HasSubstr("Budapest"));
  // The football cluster ends at 22:00, the others by 13:00.
  const std::string by_time = RenderedDom(base + "#/?hours=6", "time");
  EXPECT_EQ(Count(by_time, "class=\"cluster-row\""), 1) << by_time;

  // The summit cluster's page: members linked to their URLs (http(s)
  // only), relations, history.
  std::smatch m;
  std::regex summit_re("data-cluster=\"([^\"]+)\"[^>]*>.{0,300}Budapest");
  ASSERT_TRUE(std::regex_search(list, m, summit_re)) << list;
  const std::string page =
      RenderedDom(absl::StrCat(base, "#/cluster/", m[1].str()), "cluster");
  EXPECT_THAT(page, HasSubstr("id=\"members\""));
  EXPECT_GE(Count(page, "class=\"member-row\""), 3) << page;
  EXPECT_THAT(page, HasSubstr("same story"));
  EXPECT_THAT(page,
              HasSubstr("href=\"https://example.com/news/summit-on-hold\""));
  EXPECT_THAT(page, ::testing::Not(HasSubstr("href=\"javascript:")));
  EXPECT_THAT(page, HasSubstr("id=\"history\""));
  EXPECT_THAT(page, HasSubstr("created with article"));
  EXPECT_THAT(page, ::testing::ContainsRegex(
                        "id=\"timeline-note\">times count back from the "
                        "newest article"));

  // The search route names clusters by their headline, with similarity.
  const std::string search =
      RenderedDom(absl::StrCat(base, "#/search/Budapest%20summit"), "search");
  EXPECT_THAT(search, HasSubstr("would join the cluster “"));
  EXPECT_THAT(search, ::testing::ContainsRegex(
                          "class=\"headline\"[^>]*>[^<]*Budapest"));
  EXPECT_THAT(search, ::testing::ContainsRegex(
                          "class=\"num similarity\">0\\.[0-9][0-9]<"));

  // Screenshots for people to look at.
  for (const auto& [name, route] :
       {std::pair<std::string, std::string>("clusters", ""),
        {"cluster", "#/cluster/" + m[1].str()},
        {"search", "#/search/Budapest%20summit"}}) {
    const std::string shot = absl::StrCat(NEWSDEDUP_BUILD_DIR, "/dashboard-",
                                          name, "-screenshot.png");
    std::filesystem::remove(shot);
    std::string out;
    EXPECT_EQ(Run(absl::StrCat(kChromium,
                               " --window-size=1280,800 --screenshot=", shot,
                               " '", base, route, "'"),
                  &out),
              0)
        << out;
    ASSERT_TRUE(std::filesystem::exists(shot)) << out;
    EXPECT_GT(std::filesystem::file_size(shot), 10000u);
  }
}

}  // namespace
}  // namespace newsdedup
