#include "tools/answer_table.h"

#include <gtest/gtest.h>

#include <sstream>

namespace newsdedup {
namespace {

AnswerRow Row(std::string id) {
  AnswerRow row;
  row.article_id = std::move(id);
  row.cluster_id = "story-1";
  row.relation = "SAME_STORY";
  row.representative_id = "a1";
  row.thread_id = "thread-1";
  return row;
}

TEST(AnswerTableTest, TsvHasAHeaderAndEscapesWhatWouldBreakAColumn) {
  std::ostringstream out;
  WriteTableHeader(TableFormat::kTsv, out);
  WriteTableRow(TableFormat::kTsv, Row("a1"), out);
  WriteTableRow(TableFormat::kTsv, Row("tab\there\nback\\slash"), out);
  EXPECT_EQ(
      out.str(),
      "article_id\tcluster_id\trelation\trepresentative_id\tthread_id\t"
      "duplicate_of\n"
      "a1\tstory-1\tSAME_STORY\ta1\tthread-1\t\n"
      "tab\\there\\nback\\\\slash\tstory-1\tSAME_STORY\ta1\tthread-1\t\n");
}

TEST(AnswerTableTest, CsvQuotesFieldsAsRfc4180Says) {
  std::ostringstream out;
  WriteTableRow(TableFormat::kCsv, Row("a,\"b\""), out);
  EXPECT_EQ(out.str(), "\"a,\"\"b\"\"\",story-1,SAME_STORY,a1,thread-1,\r\n");
}

TEST(AnswerTableTest, JsonlRowsAreObjectsByColumnName) {
  std::ostringstream out;
  WriteTableHeader(TableFormat::kJsonl, out);
  WriteTableRow(TableFormat::kJsonl, Row("a\"1"), out);
  EXPECT_EQ(out.str(),
            "{\"article_id\":\"a\\\"1\",\"cluster_id\":\"story-1\","
            "\"duplicate_of\":\"\",\"relation\":\"SAME_STORY\","
            "\"representative_id\":\"a1\",\"thread_id\":\"thread-1\"}\n");
}

TEST(AnswerTableTest, FormatsAreNamedAndOthersRefused) {
  EXPECT_EQ(*ParseTableFormat("tsv"), TableFormat::kTsv);
  EXPECT_EQ(*ParseTableFormat("csv"), TableFormat::kCsv);
  EXPECT_EQ(*ParseTableFormat("jsonl"), TableFormat::kJsonl);
  EXPECT_FALSE(ParseTableFormat("xlsx").ok());
}

}  // namespace
}  // namespace newsdedup
