// Reading articles from JSON Lines, one object per line:
//   {"id": "...", "title": "...", "text": "...", "url": "...",
//    "source": "...", "published": "2014-03-10T16:55:01Z", "language": "en"}
// `text` (or `body`) and everything but `id` and `title` are optional;
// `published` is RFC 3339 or a plain date (YYYY-MM-DD), empty when unknown.
// Extra fields are kept in ParsedArticle::fields (labels for evaluation,
// pass-through for `cluster` output).
#ifndef NEWSDEDUP_TOOLS_ARTICLE_JSONL_H_
#define NEWSDEDUP_TOOLS_ARTICLE_JSONL_H_

#include <functional>
#include <istream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/engine/article.h"

namespace newsdedup {

struct ParsedArticle {
  Article article;
  nlohmann::json fields;  // the whole object as read
};

// Parses one JSONL line. Errors: kInvalidArgument naming the problem
// (malformed JSON, not an object, missing or non-string id/title,
// unparsable published time).
absl::StatusOr<ParsedArticle> ParseArticleLine(absl::string_view line);

// Opens `path` for reading; "-" means standard input.
// Errors: kNotFound if the file cannot be opened.
absl::StatusOr<std::unique_ptr<std::istream>> OpenInput(
    const std::string& path);

// Opens `path` for writing (truncated); "-" means standard output.
// Errors: kPermissionDenied if the file cannot be created.
absl::StatusOr<std::unique_ptr<std::ostream>> OpenOutput(
    const std::string& path);

// Calls `fn(line_number, parsed)` for every non-blank line of `in` (line
// numbers start at 1). A bad line yields an error status for that line only;
// reading goes on. Lines of any length are read.
void ForEachArticleLine(
    std::istream& in,
    const std::function<void(int64_t, absl::StatusOr<ParsedArticle>)>& fn);

// Formats a time as RFC 3339 UTC, "" for an unknown time.
std::string FormatTime(absl::Time t);

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_ARTICLE_JSONL_H_
