// Answers as a flat table for batch users: one row per article (its story,
// relation, representative and thread), as TSV or CSV, for spreadsheets,
// databases and `join`. Written by `newsdedup cluster --format` and
// `newsdedup client export`.
#ifndef NEWSDEDUP_TOOLS_ANSWER_TABLE_H_
#define NEWSDEDUP_TOOLS_ANSWER_TABLE_H_

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace newsdedup {

enum class TableFormat { kJsonl, kTsv, kCsv };

// "jsonl", "tsv" or "csv"; kInvalidArgument for anything else.
absl::StatusOr<TableFormat> ParseTableFormat(absl::string_view name);

struct AnswerRow {
  std::string article_id;
  std::string cluster_id;
  std::string relation;  // NEW_STORY, SAME_STORY, NEAR_DUPLICATE, ...
  std::string representative_id;
  std::string thread_id;
  std::string duplicate_of;  // empty unless a duplicate
};

// The header line (column names) of `format`; nothing for kJsonl.
void WriteTableHeader(TableFormat format, std::ostream& out);

// One row: with kJsonl a JSON object keyed by the column names. TSV escapes
// backslash, tab, newline and carriage return as
// \\, \t, \n and \r (the text format of PostgreSQL's COPY); CSV quotes a
// field holding a comma, quote or line break as RFC 4180 says.
void WriteTableRow(TableFormat format, const AnswerRow& row, std::ostream& out);

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_ANSWER_TABLE_H_
