// The strings an article record keeps for as long as the engine holds the
// article: its id, title and url, and the shared terms of its first
// answer. Internal to services/.
//
// Four std::strings cost 128 bytes inline, and each one longer than 15
// bytes (a title, a url, the shared terms) an allocation of its own.
// RecordStrings keeps all four in one allocation behind one pointer, about
// 150 bytes less per article for a headline: at a million held articles,
// 150 MB (issue 26).
#ifndef NEWSDEDUP_SERVICES_ENGINE_INTERNAL_RECORD_STRINGS_H_
#define NEWSDEDUP_SERVICES_ENGINE_INTERNAL_RECORD_STRINGS_H_

#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"

namespace newsdedup {
namespace internal {

class RecordStrings {
 public:
  RecordStrings() = default;
  RecordStrings(absl::string_view id, absl::string_view title,
                absl::string_view url, absl::string_view shared_terms = {});

  RecordStrings(const RecordStrings& other);
  RecordStrings& operator=(const RecordStrings& other);
  RecordStrings(RecordStrings&&) noexcept = default;
  RecordStrings& operator=(RecordStrings&&) noexcept = default;

  absl::string_view id() const { return Field(kId); }
  absl::string_view title() const { return Field(kTitle); }
  absl::string_view url() const { return Field(kUrl); }
  absl::string_view shared_terms() const { return Field(kSharedTerms); }

  // Replaces the shared terms; the others are copied into a new block
  // unless the terms are the same already (an answer is kept when the
  // article is recorded and again once merges are done, most often with
  // the terms it was recorded with).
  void set_shared_terms(absl::string_view shared_terms);

 private:
  enum FieldNumber { kId, kTitle, kUrl, kSharedTerms, kNumFields };
  absl::string_view Field(FieldNumber field) const;

  // kNumFields uint32 end offsets (from the first byte after them), then
  // the fields' bytes in order. Null while every field is empty.
  std::unique_ptr<char[]> block_;
};

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_INTERNAL_RECORD_STRINGS_H_
