#include "tools/progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace newsdedup {
namespace {

std::string Contents(std::FILE* f) {
  std::rewind(f);
  std::string out;
  for (int c; (c = std::fgetc(f)) != EOF;) out.push_back(static_cast<char>(c));
  return out;
}

// Issue 13: the bar stopped short of 100% (the last redraw came before the
// end, or at an unknown position past it) and the next line continued it.
TEST(ProgressTest, FinishDrawsOneHundredPercentAndEndsTheLine) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    Progress progress(1000, out, /*always=*/true);
    progress.Update(10, 300);
    progress.Update(20, -1);  // stream position unknown at end of input
    progress.Finish(25);
    progress.Finish(25);  // once only
  }
  const std::string drawn = Contents(out);
  std::fclose(out);
  EXPECT_THAT(drawn, ::testing::HasSubstr(" 30% 10 articles"));
  EXPECT_THAT(drawn, ::testing::EndsWith("\n"));
  const std::string last = drawn.substr(drawn.rfind('\r'));
  EXPECT_THAT(last, ::testing::HasSubstr("100% 25 articles"));
  EXPECT_EQ(drawn.find('\n'), drawn.size() - 1);
}

TEST(ProgressTest, DrawsNothingWhenNotATerminal) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    Progress progress(1000, out);
    progress.Update(10, 300);
  }
  EXPECT_EQ(Contents(out), "");
  std::fclose(out);
}

}  // namespace
}  // namespace newsdedup
