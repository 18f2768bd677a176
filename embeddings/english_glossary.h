// Words of other languages mapped into English through the bilingual
// dictionaries Debian packages from FreeDict (dict-freedict-deu-eng,
// -spa-eng, -fra-eng, -pol-eng, -tur-eng, -ara-eng: dictd files in
// /usr/share/dictd), so that a German and an English report of one story
// share evidence (lexical_embedder).
//
//   EnglishGlossary glossary("/usr/share/dictd");
//   for (const std::string& english : glossary.Translate("de", "regierung"))
//     ...  // "government", "administration"
#ifndef NEWSDEDUP_EMBEDDINGS_ENGLISH_GLOSSARY_H_
#define NEWSDEDUP_EMBEDDINGS_ENGLISH_GLOSSARY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace newsdedup {

class EnglishGlossary {
 public:
  // At most this many English words per headword (its first senses).
  static constexpr int kMaxTranslations = 4;

  // Dictionaries are read from `directory` when first needed.
  explicit EnglishGlossary(std::string directory);

  // The English words for `word` (lowercase) of `language` (ISO 639-1),
  // or for the first headword with the same Snowball stem ("impfstoffe":
  // "impfstoff"); empty when the dictionary has none, or when there is no
  // dictionary for the language (a missing package costs cross-lingual
  // matching, nothing else). Thread-safe; the first call for a language reads
  // its dictionary (about a second for German).
  absl::Span<const std::string> Translate(absl::string_view language,
                                          absl::string_view word);

  // Whether a dictionary for `language` is installed.
  bool Covers(absl::string_view language) const;

 private:
  using Dictionary = absl::flat_hash_map<std::string, std::vector<std::string>>;
  const Dictionary* DictionaryFor(absl::string_view language);

  const std::string directory_;
  absl::Mutex mu_;
  // Loaded dictionaries by language (null: none installed); never removed,
  // so the pointers stay valid.
  absl::flat_hash_map<std::string, std::unique_ptr<const Dictionary>>
      dictionaries_ ABSL_GUARDED_BY(mu_);
};

// Parses one dictd entry of a FreeDict xxx-eng dictionary ("Haus /haʊs/
// <n>\nhouse <n>, home\n  examples...") into the English words of its
// translation line; multi-word translations are left out. For tests.
std::vector<std::string> ParseFreeDictTranslations(absl::string_view entry);

}  // namespace newsdedup

#endif  // NEWSDEDUP_EMBEDDINGS_ENGLISH_GLOSSARY_H_
