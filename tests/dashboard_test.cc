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
#include "tests/support/server_process.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;
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
  // Issue 13: the process's own figures.
  EXPECT_GT(Sample(before, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(Sample(before, "process_open_fds"), 3);
  EXPECT_GT(Sample(before, "process_cpu_seconds_total"), 0);
  EXPECT_GT(Sample(before, "process_start_time_seconds"), 1.7e9);
  EXPECT_THAT(before, ::testing::ContainsRegex(
                          "newsdedup_build_info\\{version=\"[0-9.]+\"\\} 1"));
  FeedStories();
  const std::string after = Get("/metrics");
  EXPECT_EQ(Sample(after, "newsdedup_articles"), 13);
  // Issue 13: latency per streamed article, not per whole stream.
  EXPECT_EQ(Sample(after,
                   "newsdedup_grpc_message_latency_seconds_count{"
                   "method=\"AssignStream\"}"),
            13);
  EXPECT_EQ(Sample(after, "newsdedup_live_clusters"), 4);
  EXPECT_EQ(Sample(after,
                   "newsdedup_assigned_articles_total{relation=\"NEW_STORY\"}"),
            4);
  EXPECT_EQ(
      Sample(after,
             "newsdedup_grpc_received_messages_total{method=\"AssignStream\"}"),
      13);
  EXPECT_EQ(
      Sample(
          after,
          "newsdedup_grpc_requests_total{method=\"AssignStream\",code=\"OK\"}"),
      1);
  EXPECT_GT(Sample(after, "newsdedup_embeddings_total"), 0);
  EXPECT_GT(Sample(after, "newsdedup_store_bytes"), 0);
  EXPECT_GE(Sample(after, "newsdedup_index_vectors"), 13);
  EXPECT_THAT(after,
              HasSubstr("newsdedup_grpc_request_duration_seconds_bucket"));

  // Prometheus's own parser agrees with the format.
  const std::string scraped = (dir_ / "metrics.txt").string();
  std::ofstream(scraped) << after;
  std::string out;
  EXPECT_EQ(Run("promtool check metrics < " + scraped, &out), 0) << out;
}

TEST_F(DashboardTest, JsonApiAnswersAndRejectsBadParameters) {
  FeedStories();
  int status = 0;
  const std::string stories = Get("/api/stories?sort=size&limit=2", &status);
  EXPECT_EQ(status, 200);
  EXPECT_THAT(stories, HasSubstr("\"total\":4"));
  EXPECT_THAT(stories, HasSubstr("\"timeline\":["));
  // Issue 13: the HTTP API pages with an opaque token.
  const std::string token =
      nlohmann::json::parse(stories).at("next_page_token").get<std::string>();
  ASSERT_FALSE(token.empty());
  const std::string rest =
      Get("/api/stories?limit=2&page_token=" + token, &status);
  EXPECT_EQ(status, 200);
  const nlohmann::json page = nlohmann::json::parse(rest);
  EXPECT_EQ(page.at("stories").size(), 2u);
  EXPECT_EQ(page.at("next_page_token"), "");
  Get("/api/stories?page_token=bm90LWEtdG9rZW4", &status);
  EXPECT_EQ(status, 400);
  Get("/api/stories?limit=0", &status);
  EXPECT_EQ(status, 400);
  Get("/api/stories?sort=sideways", &status);
  EXPECT_EQ(status, 400);
  Get("/api/stories/no-such-story", &status);
  EXPECT_EQ(status, 404);
  const std::string search = Get("/api/search?q=Budapest%20summit", &status);
  EXPECT_EQ(status, 200);
  EXPECT_THAT(search, HasSubstr("Budapest"));
  Get("/api/search?q=", &status);
  EXPECT_EQ(status, 400);
}

TEST_F(DashboardTest, ChromiumRendersStoriesAndAStoryPage) {
  FeedStories();
  const std::string base =
      absl::StrCat("http://127.0.0.1:", server_.http_port(), "/");
  const std::string list = RenderedDom(base, "stories");
  // Four story rows, each with a representative headline.
  std::regex row_re("class=\"story-row\"");
  EXPECT_EQ(
      std::distance(std::sregex_iterator(list.begin(), list.end(), row_re),
                    std::sregex_iterator()),
      4)
      << list;
  EXPECT_THAT(list, HasSubstr("Budapest"));
  EXPECT_THAT(list, HasSubstr("earthquake"));
  EXPECT_THAT(list, HasSubstr("13 articles"));

  // The story page of the summit story lists its members and relations.
  std::smatch m;
  std::regex summit_re("data-story=\"([^\"]+)\"[^>]*>.{0,300}Budapest");
  ASSERT_TRUE(std::regex_search(list, m, summit_re)) << list;
  const std::string page =
      RenderedDom(absl::StrCat(base, "#/story/", m[1].str()), "story");
  EXPECT_THAT(page, HasSubstr("id=\"members\""));
  std::regex member_re("class=\"member-row\"");
  EXPECT_GE(
      std::distance(std::sregex_iterator(page.begin(), page.end(), member_re),
                    std::sregex_iterator()),
      3)
      << page;
  EXPECT_THAT(page, HasSubstr("same story"));

  // The search box's route: stories near a text, and where it would go.
  const std::string search =
      RenderedDom(absl::StrCat(base, "#/search/Budapest%20summit"), "search");
  EXPECT_THAT(search, HasSubstr("would join story"));
  EXPECT_THAT(search, HasSubstr("class=\"story-row\""));
  EXPECT_THAT(search, HasSubstr("Budapest"));

  // A screenshot for people to look at.
  const std::string shot =
      absl::StrCat(NEWSDEDUP_BUILD_DIR, "/dashboard-screenshot.png");
  std::filesystem::remove(shot);
  std::string out;
  EXPECT_EQ(Run(absl::StrCat(kChromium, " --window-size=1280,800 --screenshot=",
                             shot, " '", base, "'"),
                &out),
            0)
      << out;
  ASSERT_TRUE(std::filesystem::exists(shot)) << out;
  EXPECT_GT(std::filesystem::file_size(shot), 10000u);
}

}  // namespace
}  // namespace newsdedup
