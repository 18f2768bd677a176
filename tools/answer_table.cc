#include "tools/answer_table.h"

#include <array>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace newsdedup {
namespace {

constexpr std::array<absl::string_view, 6> kColumns = {
    "article_id",        "cluster_id", "relation",
    "representative_id", "thread_id",  "duplicate_of"};

std::string TsvField(absl::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (char c : field) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string CsvField(absl::string_view field) {
  if (field.find_first_of(",\"\r\n") == absl::string_view::npos) {
    return std::string(field);
  }
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

template <typename Fields>
void WriteFields(TableFormat format, const Fields& fields, std::ostream& out) {
  const char separator = format == TableFormat::kTsv ? '\t' : ',';
  bool first = true;
  for (absl::string_view field : fields) {
    if (!first) out << separator;
    first = false;
    out << (format == TableFormat::kTsv ? TsvField(field) : CsvField(field));
  }
  out << (format == TableFormat::kCsv ? "\r\n" : "\n");
}

}  // namespace

absl::StatusOr<TableFormat> ParseTableFormat(absl::string_view name) {
  if (name == "jsonl") return TableFormat::kJsonl;
  if (name == "tsv") return TableFormat::kTsv;
  if (name == "csv") return TableFormat::kCsv;
  return absl::InvalidArgumentError(
      absl::StrCat("format '", name, "': use jsonl, tsv or csv"));
}

void WriteTableHeader(TableFormat format, std::ostream& out) {
  if (format != TableFormat::kJsonl) WriteFields(format, kColumns, out);
}

void WriteTableRow(TableFormat format, const AnswerRow& row,
                   std::ostream& out) {
  const std::array<absl::string_view, kColumns.size()> fields = {
      row.article_id,        row.cluster_id, row.relation,
      row.representative_id, row.thread_id,  row.duplicate_of};
  if (format == TableFormat::kJsonl) {
    nlohmann::json object = nlohmann::json::object();
    for (size_t i = 0; i < fields.size(); ++i) {
      object[std::string(kColumns[i])] = std::string(fields[i]);
    }
    // Ids are valid UTF-8 (the service refuses others); replace, never throw.
    out << object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
        << "\n";
    return;
  }
  WriteFields(format, fields, out);
}

}  // namespace newsdedup
