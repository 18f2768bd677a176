#include "tools/article_jsonl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

namespace newsdedup {
namespace {

using ::testing::HasSubstr;

absl::Status ParseError(absl::string_view line) {
  return ParseArticleLine(line).status();
}

TEST(ParseArticleLineTest, ReadsAllFields) {
  auto p = ParseArticleLine(
      R"({"id": "a1", "title": "T", "text": "B", "url": "http://x", )"
      R"("source": "S", "language": "en", "published": "2014-03-10T16:55:01Z",)"
      R"( "story": "gold"})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->article.id, "a1");
  EXPECT_EQ(p->article.title, "T");
  EXPECT_EQ(p->article.body, "B");
  EXPECT_EQ(p->article.url, "http://x");
  EXPECT_EQ(p->article.source, "S");
  EXPECT_EQ(p->article.language, "en");
  EXPECT_EQ(newsdedup::FormatTime(p->article.published),
            "2014-03-10T16:55:01Z");
  EXPECT_EQ(p->fields.at("story"), "gold");
}

TEST(ParseArticleLineTest, AcceptsBodyFieldPlainDatesAndNumericIds) {
  auto p = ParseArticleLine(
      R"({"id": 42, "title": "T", "body": "B", "published": "2015-06-01"})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->article.id, "42");
  EXPECT_EQ(p->article.body, "B");
  EXPECT_EQ(newsdedup::FormatTime(p->article.published),
            "2015-06-01T00:00:00Z");
}

TEST(ParseArticleLineTest, EmptyPublishedMeansUnknown) {
  auto p = ParseArticleLine(R"({"id": "a", "title": "T", "published": ""})");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->article.published, absl::InfinitePast());
}

TEST(ParseArticleLineTest, RejectsBadLinesWithClearMessages) {
  EXPECT_THAT(ParseError("{not json").message(), HasSubstr("malformed JSON"));
  EXPECT_THAT(ParseError("[1, 2]").message(), HasSubstr("not a JSON object"));
  EXPECT_THAT(ParseError(R"({"title": "T"})").message(),
              HasSubstr("id: missing"));
  EXPECT_THAT(ParseError(R"({"id": "", "title": "T"})").message(),
              HasSubstr("id: must not be empty"));
  EXPECT_THAT(ParseError(R"({"id": [1], "title": "T"})").message(),
              HasSubstr("id: must be a string"));
  EXPECT_THAT(ParseError(R"({"id": "a"})").message(),
              HasSubstr("title: missing"));
  EXPECT_THAT(ParseError(R"({"id": "a", "title": 5})").message(),
              HasSubstr("title: must be a string"));
  EXPECT_THAT(
      ParseError(R"({"id": "a", "title": "T", "published": "yesterday"})")
          .message(),
      HasSubstr("published"));
  EXPECT_EQ(ParseError("{not json").code(), absl::StatusCode::kInvalidArgument);
}

TEST(ForEachArticleLineTest, OneBadLineNeverLosesTheOthers) {
  std::istringstream in(
      "{\"id\": \"a\", \"title\": \"first\"}\n"
      "\n"
      "{broken\n"
      "{\"id\": \"b\", \"title\": \"second\"}\r\n"
      "   \n"
      "{\"id\": \"c\", \"title\": \"third\"}");
  std::vector<int64_t> good_lines, bad_lines;
  std::vector<std::string> ids;
  ForEachArticleLine(in, [&](int64_t line, absl::StatusOr<ParsedArticle> p) {
    if (p.ok()) {
      good_lines.push_back(line);
      ids.push_back(p->article.id);
    } else {
      bad_lines.push_back(line);
    }
  });
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(good_lines, (std::vector<int64_t>{1, 4, 6}));
  EXPECT_EQ(bad_lines, (std::vector<int64_t>{3}));
}

TEST(ForEachArticleLineTest, ReadsMultiMegabyteLines) {
  const std::string body(6 * 1024 * 1024, 'x');
  std::istringstream in("{\"id\": \"big\", \"title\": \"T\", \"text\": \"" +
                        body + "\"}\n");
  int count = 0;
  ForEachArticleLine(in, [&](int64_t, absl::StatusOr<ParsedArticle> p) {
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->article.body.size(), body.size());
    ++count;
  });
  EXPECT_EQ(count, 1);
}

// Issue 13: a CSV line or a pairs file gets a hint of what is expected.
TEST(ParseArticleLineTest, HintsAtCsvAndPairsFiles) {
  absl::StatusOr<ParsedArticle> csv = ParseArticleLine("id,title,text\n");
  EXPECT_THAT(csv.status().message(), ::testing::HasSubstr("not CSV"));
  EXPECT_THAT(csv.status().message(),
              ::testing::HasSubstr("one JSON object per line"));
  absl::StatusOr<ParsedArticle> pairs = ParseArticleLine(
      "{\"lang1\": \"en\", \"text1\": \"a\", \"text2\": \"b\"}");
  EXPECT_THAT(pairs.status().message(), ::testing::HasSubstr("eval --pairs"));
}

// Issue 12.9: year 1 came out as "1-01-01T00:00:00Z".
TEST(FormatTimeTest, WritesFourDigitYears) {
  EXPECT_EQ(newsdedup::FormatTime(absl::FromCivil(
                absl::CivilSecond(1, 1, 1, 0, 0, 0), absl::UTCTimeZone())),
            "0001-01-01T00:00:00Z");
  EXPECT_EQ(newsdedup::FormatTime(absl::FromUnixSeconds(1761091200)),
            "2025-10-22T00:00:00Z");
  EXPECT_EQ(newsdedup::FormatTime(absl::InfinitePast()), "");
}

TEST(OpenInputTest, MissingFileIsNotFound) {
  EXPECT_EQ(OpenInput("/nonexistent/file.jsonl").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace newsdedup
