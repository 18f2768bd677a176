// Which language a text is written in, and the word stems of the languages
// Snowball covers: the pieces of multilingual matching (lexical_embedder).
//
//   std::string language = DetectLanguage(text);        // "de"
//   std::string stem = StemWord(language, "regierungen");  // "regier"
#ifndef NEWSDEDUP_EMBEDDINGS_LANGUAGE_H_
#define NEWSDEDUP_EMBEDDINGS_LANGUAGE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace newsdedup {

// The ISO 639-1 code ("en", "de", ...) of the language of `text` (valid
// UTF-8) by CLD2; empty when CLD2 cannot tell reliably, or the text has
// less than about a sentence of letters (a short headline of names is
// often taken for another language), or is a mixture. `letters`, when
// given, receives the letter bytes CLD2 read (0 for a text too short to
// ask it): how much evidence the answer rests on.
std::string DetectLanguage(absl::string_view text, int* letters = nullptr);

// A language tag as given with an article ("de-AT", "EN", "deu") reduced
// to its lowercase primary subtag; empty for an empty tag.
std::string NormalizeLanguageTag(absl::string_view tag);

// The ISO 639-2 code ("deu") of a language (ISO 639-1, "de") that the
// FreeDict dictionaries into English cover (de, es, fr, pl, tr, ar); empty
// for any other (English included).
absl::string_view FreeDictLanguageCode(absl::string_view language);

// The Snowball stem of `word` (lowercase UTF-8) in `language` (ISO 639-1);
// the word itself when libstemmer has no algorithm for the language.
// Thread-safe.
std::string StemWord(absl::string_view language, absl::string_view word);

}  // namespace newsdedup

#endif  // NEWSDEDUP_EMBEDDINGS_LANGUAGE_H_
