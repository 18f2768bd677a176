#include "tools/article_jsonl.h"

#include <fstream>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/time_format.h"

namespace newsdedup {
namespace {

// Reads an optional string field; absent and null read as "".
absl::Status OptionalString(const nlohmann::json& object, const char* name,
                            std::string* out) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": must be a string, got ", it->type_name()));
  }
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::StatusOr<absl::Time> ParsePublished(const std::string& text) {
  if (text.empty()) return absl::InfinitePast();
  absl::Time t;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &error)) return t;
  if (absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &t, &error)) {
    return t;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "published: \"", text, "\" is not an RFC 3339 time or YYYY-MM-DD date"));
}

// What a line should hold, for errors on lines that hold something else.
constexpr char kExpectedLine[] =
    " (expected one JSON object per line with \"id\" and \"title\", and "
    "optionally \"text\", \"url\", \"source\", \"language\", "
    "\"collection\", "
    "\"published\"; this is not CSV)";

}  // namespace

absl::StatusOr<ParsedArticle> ParseArticleLine(absl::string_view line) {
  ParsedArticle parsed;
  // nlohmann::json reports errors by exception; they stop here.
  try {
    parsed.fields = nlohmann::json::parse(line.begin(), line.end());
  } catch (const nlohmann::json::exception& e) {
    const absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(line);
    const bool looks_like_csv = !trimmed.empty() && trimmed[0] != '{' &&
                                trimmed[0] != '[' &&
                                absl::StrContains(trimmed, ',');
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed JSON: ", e.what(), looks_like_csv ? kExpectedLine : ""));
  }
  const nlohmann::json& object = parsed.fields;
  if (!object.is_object()) {
    return absl::InvalidArgumentError("line is not a JSON object");
  }
  Article& a = parsed.article;
  auto id = object.find("id");
  if (id == object.end() || id->is_null()) {
    if (object.contains("text1") && object.contains("text2")) {
      return absl::InvalidArgumentError(
          "id: missing; this looks like a line of article pairs (text1, "
          "text2): score those with `newsdedup eval --pairs`");
    }
    return absl::InvalidArgumentError(
        absl::StrCat("id: missing", kExpectedLine));
  }
  if (id->is_string()) {
    a.id = id->get<std::string>();
  } else if (id->is_number_integer()) {
    a.id = id->dump();  // numeric ids are common in exports
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("id: must be a string, got ", id->type_name()));
  }
  if (absl::StripAsciiWhitespace(a.id).empty()) {
    return absl::InvalidArgumentError(
        "id: must not be empty or only whitespace");
  }
  if (object.find("title") == object.end()) {
    return absl::InvalidArgumentError("title: missing");
  }
  std::string published;
  for (auto [name, out] :
       {std::make_pair("title", &a.title), std::make_pair("url", &a.url),
        std::make_pair("source", &a.source),
        std::make_pair("language", &a.language),
        std::make_pair("collection", &a.collection),
        std::make_pair("published", &published)}) {
    if (absl::Status s = OptionalString(object, name, out); !s.ok()) return s;
  }
  if (absl::Status s = OptionalString(object, "text", &a.body); !s.ok())
    return s;
  if (a.body.empty()) {
    if (absl::Status s = OptionalString(object, "body", &a.body); !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<absl::Time> t = ParsePublished(published);
  if (!t.ok()) return t.status();
  a.published = *t;
  return parsed;
}

absl::StatusOr<std::unique_ptr<std::istream>> OpenInput(
    const std::string& path) {
  if (path == "-") {
    // Non-owning view of std::cin.
    return std::make_unique<std::istream>(std::cin.rdbuf());
  }
  auto file = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!file->is_open()) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  return file;
}

absl::StatusOr<std::unique_ptr<std::ostream>> OpenOutput(
    const std::string& path) {
  if (path == "-") {
    // Non-owning view of std::cout.
    return std::make_unique<std::ostream>(std::cout.rdbuf());
  }
  auto file = std::make_unique<std::ofstream>(path, std::ios::binary);
  if (!file->is_open()) {
    return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  }
  return file;
}

void ForEachArticleLine(
    std::istream& in,
    const std::function<void(int64_t, absl::StatusOr<ParsedArticle>)>& fn) {
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    fn(number, ParseArticleLine(line));
  }
}

std::string FormatTime(absl::Time t) {
  if (t == absl::InfinitePast()) return "";
  return FormatRfc3339(t);
}

}  // namespace newsdedup
