#include "embeddings/english_glossary.h"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "embeddings/language.h"
#include "embeddings/normalizer.h"

namespace newsdedup {
namespace {

// FreeDict's three-letter names of the languages Debian packages.
// dictd's index numbers: base64 digits, most significant first.
bool DecodeBase64Number(absl::string_view digits, size_t* out) {
  static constexpr absl::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t value = 0;
  for (char c : digits) {
    const size_t d = kAlphabet.find(c);
    if (d == absl::string_view::npos) return false;
    value = value * 64 + d;
  }
  *out = value;
  return true;
}

// The whole decompressed .dict.dz (dictzip is gzip with an index of its
// own, which reading it whole does not need); empty when unreadable.
std::string ReadGzip(const std::string& path) {
  std::string out;
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return out;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(file, buffer, sizeof(buffer))) > 0) out.append(buffer, n);
  gzclose(file);
  return out;
}

// Stems live in the same map as the headwords, under a key no word has.
std::string StemKey(absl::string_view language, absl::string_view word) {
  return absl::StrCat("\x01", StemWord(language, word));
}

}  // namespace

std::vector<std::string> ParseFreeDictTranslations(absl::string_view entry) {
  std::vector<absl::string_view> lines = absl::StrSplit(entry, '\n');
  std::vector<std::string> out;
  if (lines.size() < 2) return out;
  // Drop [domain] labels and /pronunciation/ marks; a <grammar> mark ends
  // its translation (an abbreviation may follow it up to the comma).
  std::string line;
  char closing = 0;
  bool to_comma = false;
  for (char c : lines[1]) {
    if (closing != 0) {
      if (c == closing) {
        closing = 0;
        to_comma = c == '>';
      }
      continue;
    }
    if (to_comma && c != ',' && c != ';') continue;
    to_comma = false;
    if (c == '[') {
      closing = ']';
    } else if (c == '<') {
      closing = '>';
    } else if (c == '/') {
      closing = '/';
    } else {
      line.push_back(c);
    }
  }
  for (absl::string_view piece : absl::StrSplit(line, absl::ByAnyChar(",;"))) {
    piece = absl::StripAsciiWhitespace(piece);
    if (piece.empty() || piece.find(' ') != absl::string_view::npos) continue;
    absl::StatusOr<std::string> normalized = NormalizeText(piece);
    if (!normalized.ok()) continue;
    std::vector<absl::string_view> words = SplitWords(*normalized);
    if (words.size() != 1) continue;  // "Gov." and the like
    out.emplace_back(words[0]);
  }
  return out;
}

EnglishGlossary::EnglishGlossary(std::string directory)
    : directory_(std::move(directory)) {}

bool EnglishGlossary::Covers(absl::string_view language) const {
  const absl::string_view code = FreeDictLanguageCode(language);
  return !code.empty() && std::ifstream(absl::StrCat(directory_, "/freedict-",
                                                     code, "-eng.index"))
                              .good();
}

absl::Span<const std::string> EnglishGlossary::Translate(
    absl::string_view language, absl::string_view word) {
  const Dictionary* dictionary = DictionaryFor(language);
  if (dictionary == nullptr) return {};
  auto found = dictionary->find(word);
  if (found == dictionary->end()) {
    // An inflected form ("Regierungen"): the headword of the same stem.
    found = dictionary->find(StemKey(language, word));
    if (found == dictionary->end()) return {};
  }
  return found->second;
}

const EnglishGlossary::Dictionary* EnglishGlossary::DictionaryFor(
    absl::string_view language) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = dictionaries_.try_emplace(std::string(language));
  if (!inserted) return it->second.get();
  const absl::string_view code = FreeDictLanguageCode(language);
  if (code.empty()) return nullptr;
  const std::string base = absl::StrCat(directory_, "/freedict-", code, "-eng");
  std::ifstream index(base + ".index");
  const std::string text = ReadGzip(base + ".dict.dz");
  if (!index || text.empty()) return nullptr;
  auto dictionary = std::make_unique<Dictionary>();
  std::vector<std::string> headwords;  // in the index's order
  std::string line;
  while (std::getline(index, line)) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, '\t');
    size_t offset = 0, length = 0;
    if (fields.size() != 3 || fields[0].empty() ||
        fields[0].find(' ') != absl::string_view::npos ||
        !DecodeBase64Number(fields[1], &offset) ||
        !DecodeBase64Number(fields[2], &length) || offset >= text.size()) {
      continue;  // phrases, dictd's own 00-database entries, damage
    }
    std::vector<std::string> senses = ParseFreeDictTranslations(
        absl::string_view(text).substr(offset, length));
    if (senses.empty()) continue;
    std::string headword = absl::AsciiStrToLower(fields[0]);
    auto [entry, added] = dictionary->try_emplace(headword);
    if (added) headwords.push_back(std::move(headword));
    std::vector<std::string>& translations = entry->second;
    for (std::string& english : senses) {
      if (translations.size() >= kMaxTranslations) break;
      if (std::find(translations.begin(), translations.end(), english) ==
          translations.end()) {
        translations.push_back(std::move(english));
      }
    }
  }
  // Stems of headwords, the first headword of each stem in the index's
  // order winning (the same on every run, so every replica embeds alike).
  for (const std::string& headword : headwords) {
    std::vector<std::string> translations = dictionary->at(headword);
    dictionary->try_emplace(StemKey(language, headword),
                            std::move(translations));
  }
  it->second = std::move(dictionary);
  return it->second.get();
}

}  // namespace newsdedup
