#include "embeddings/language.h"

// CLD2's public header uses FILE without including <cstdio>.
#include <cld2/internal/lang_script.h>
#include <cld2/public/compact_lang_det.h>
#include <libstemmer.h>

#include <cstdio>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"

namespace newsdedup {
namespace {

// libstemmer's stemmers are not thread-safe and cheap to keep: one per
// language and thread.
sb_stemmer* StemmerFor(absl::string_view language) {
  struct Free {
    void operator()(sb_stemmer* s) const {
      if (s != nullptr) sb_stemmer_delete(s);
    }
  };
  thread_local absl::flat_hash_map<std::string,
                                   std::unique_ptr<sb_stemmer, Free>>
      stemmers;
  auto [it, inserted] = stemmers.try_emplace(std::string(language));
  if (inserted) {
    it->second.reset(sb_stemmer_new(it->first.c_str(), "UTF_8"));
  }
  return it->second.get();
}

}  // namespace

std::string DetectLanguage(absl::string_view text) {
  bool reliable = false;
  const CLD2::Language language =
      CLD2::DetectLanguage(text.data(), static_cast<int>(text.size()),
                           /*is_plain_text=*/true, &reliable);
  // CLD2 answers English when it cannot tell: only reliable answers count.
  if (language == CLD2::UNKNOWN_LANGUAGE || !reliable) return "";
  return NormalizeLanguageTag(CLD2::LanguageCode(language));
}

std::string NormalizeLanguageTag(absl::string_view tag) {
  const size_t end = tag.find_first_of("-_");
  std::string primary = absl::AsciiStrToLower(
      end == absl::string_view::npos ? tag : tag.substr(0, end));
  // Three-letter codes of the languages our dictionaries cover.
  static const auto* const kTwoLetter =
      new absl::flat_hash_map<std::string, std::string>{
          {"eng", "en"}, {"deu", "de"}, {"ger", "de"},
          {"spa", "es"}, {"fra", "fr"}, {"fre", "fr"},
          {"pol", "pl"}, {"tur", "tr"}, {"ara", "ar"}};
  auto two = kTwoLetter->find(primary);
  return two != kTwoLetter->end() ? two->second : primary;
}

std::string StemWord(absl::string_view language, absl::string_view word) {
  sb_stemmer* stemmer = language.empty() ? nullptr : StemmerFor(language);
  if (stemmer == nullptr) return std::string(word);
  const sb_symbol* stem =
      sb_stemmer_stem(stemmer, reinterpret_cast<const sb_symbol*>(word.data()),
                      static_cast<int>(word.size()));
  if (stem == nullptr) return std::string(word);  // out of memory
  return std::string(reinterpret_cast<const char*>(stem),
                     sb_stemmer_length(stemmer));
}

}  // namespace newsdedup
