#include "tools/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

namespace newsdedup {
namespace {

// Issue 33.5: a server at its article cap logged one retention line per
// article (6,443 in 10 minutes). Sweeps are summed and reported at most
// once per interval; nothing added is lost.
TEST(ThrottledTotalsTest, ReportsSumsAtMostOncePerInterval) {
  absl::Time now = absl::FromUnixSeconds(1000);
  std::vector<std::vector<int64_t>> reports;
  int64_t occurrences = 0;
  {
    ThrottledTotals totals(
        absl::Minutes(1),
        [&](int64_t n, const std::vector<int64_t>& sums) {
          occurrences += n;
          reports.push_back(sums);
        },
        [&] { return now; });
    totals.Add({1, 0});  // the first at once
    for (int i = 0; i < 610; ++i) {
      now += absl::Seconds(1);
      totals.Add({2, i % 100 == 0 ? 1 : 0});
    }
  }                                // the rest when it goes
  ASSERT_EQ(reports.size(), 12u);  // at 0, 60, ..., 600 s, and the last 10 s
  int64_t articles = 0, stories = 0;
  for (const auto& r : reports) {
    articles += r[0];
    stories += r[1];
  }
  EXPECT_EQ(articles, 1 + 2 * 610);
  EXPECT_EQ(stories, 7);
  EXPECT_EQ(occurrences, 611);
  EXPECT_EQ(reports[1], (std::vector<int64_t>{120, 1}));
}

}  // namespace
}  // namespace newsdedup
