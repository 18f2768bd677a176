#include "embeddings/normalizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace newsdedup {
namespace {

using ::testing::ElementsAre;

std::string Norm(absl::string_view text) {
  absl::StatusOr<std::string> s = NormalizeText(text);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

TEST(NormalizeTextTest, CaseFoldsAndCollapsesWhitespace) {
  EXPECT_EQ(Norm("  Putin   MEETS\tTrump\n\nin Budapest "),
            "putin meets trump in budapest");
}

TEST(NormalizeTextTest, AppliesNfkc) {
  // Full-width letters and the "ﬁ" ligature fold to their plain forms.
  EXPECT_EQ(Norm("ＵＳＡ ﬁnance"), "usa finance");
  // A decomposed "é" (e + combining acute) equals the precomposed one.
  EXPECT_EQ(Norm("Cafe\xCC\x81"), Norm("Café"));
}

TEST(NormalizeTextTest, CaseFoldsBeyondAscii) {
  EXPECT_EQ(Norm("STRAẞE Ελλάδα ПУТИН"), Norm("strasse ελλάδα путин"));
}

TEST(NormalizeTextTest, StripsMarkupAndDecodesEntities) {
  EXPECT_EQ(Norm("<p>Putin &amp; <b>Trump</b></p>"), "putin & trump");
  EXPECT_EQ(Norm("it&#39;s &#x41;"), "it's a");
  EXPECT_EQ(Norm("a < b and c > d"), "a < b and c > d");
}

TEST(NormalizeTextTest, StripsUrls) {
  EXPECT_EQ(Norm("Read more at https://example.com/a?b=1 today"),
            "read more at today");
  EXPECT_EQ(Norm("see www.example.org."), "see");
}

TEST(NormalizeTextTest, RejectsInvalidUtf8) {
  absl::StatusOr<std::string> s = NormalizeText("bad \xC3\x28 byte");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NormalizeTextTest, EmptyStaysEmpty) {
  EXPECT_EQ(Norm(""), "");
  EXPECT_EQ(Norm(" <br/> \n "), "");
}

TEST(SplitWordsTest, SplitsOnPunctuationInEveryScript) {
  EXPECT_THAT(SplitWords("putin-trump summit, 2025!"),
              ElementsAre("putin", "trump", "summit", "2025"));
  EXPECT_THAT(SplitWords("قمة بوتين ترامب"),
              ElementsAre("قمة", "بوتين", "ترامب"));
  EXPECT_THAT(SplitWords("łódź—kraków"), ElementsAre("łódź", "kraków"));
}

}  // namespace
}  // namespace newsdedup
