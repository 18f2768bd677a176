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

// ISO 639-1 and 639-2 codes of the languages the multilingual features
// know: English, and those with a FreeDict dictionary into English.
struct LanguageCodes {
  const char* two;
  const char* three;          // ISO 639-2/T, as FreeDict names its files
  const char* bibliographic;  // ISO 639-2/B where it differs
  bool has_dictionary;
};
constexpr LanguageCodes kLanguageCodes[] = {
    {"en", "eng", "eng", false}, {"de", "deu", "ger", true},
    {"es", "spa", "spa", true},  {"fr", "fra", "fre", true},
    {"pl", "pol", "pol", true},  {"tr", "tur", "tur", true},
    {"ar", "ara", "ara", true},
};

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

// What DetectLanguage needs before it believes CLD2: letters (about a
// sentence) and the share of them in the top language.
constexpr int kMinDetectionLetters = 64;
constexpr int kMinDetectionPercent = 70;

}  // namespace

std::string DetectLanguage(absl::string_view text, int* letters) {
  // CLD2 counts at most every byte of the text and the two spaces it pads
  // it with, so a shorter text can never reach kMinDetectionLetters: the
  // answer is known without CLD2, which costs about 2.5 us a headline
  // (a fifth of Embedder::Prepare), and most headlines are this short.
  if (text.size() + 2 < kMinDetectionLetters) {
    if (letters != nullptr) *letters = 0;
    return "";
  }
  CLD2::Language top3[3];
  int percent3[3] = {0, 0, 0};
  int letter_bytes = 0;
  bool reliable = false;
  const CLD2::Language language = CLD2::DetectLanguageSummary(
      text.data(), static_cast<int>(text.size()), /*is_plain_text=*/true, top3,
      percent3, &letter_bytes, &reliable);
  if (letters != nullptr) *letters = letter_bytes;
  // CLD2 answers English when it cannot tell, and calls a few words
  // "reliable" on little evidence: a headline of names ("Malaysia Airlines
  // Flight 370", "Eau Claire Leader-Telegram") comes out Malay or French,
  // and about one English headline in 20,000 German or French.
  // Only a reliable answer on a sentence's worth of letters, most of them
  // in that language, counts; a wrong foreign label costs an English text
  // its features and loads a dictionary for nothing.
  if (language == CLD2::UNKNOWN_LANGUAGE || !reliable ||
      letter_bytes < kMinDetectionLetters ||
      percent3[0] < kMinDetectionPercent) {
    return "";
  }
  return NormalizeLanguageTag(CLD2::LanguageCode(language));
}

std::string NormalizeLanguageTag(absl::string_view tag) {
  const size_t end = tag.find_first_of("-_");
  std::string primary = absl::AsciiStrToLower(
      end == absl::string_view::npos ? tag : tag.substr(0, end));
  // Three-letter codes (terminology or bibliographic) of the languages
  // our dictionaries cover, and English.
  for (const LanguageCodes& codes : kLanguageCodes) {
    if (primary == codes.three || primary == codes.bibliographic) {
      return codes.two;
    }
  }
  return primary;
}

absl::string_view FreeDictLanguageCode(absl::string_view language) {
  for (const LanguageCodes& codes : kLanguageCodes) {
    if (language == codes.two && codes.has_dictionary) return codes.three;
  }
  return "";
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
