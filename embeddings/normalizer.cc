#include "embeddings/normalizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace newsdedup {
namespace {

// Markup and URLs carry no story content and differ between copies of the
// same article (tracking parameters, CMS wrappers), so they are removed before
// normalisation. This is a deliberately small scanner, not an HTML parser:
// news bodies arrive as text with stray tags, not as full documents.

bool StartsWithUrl(absl::string_view s) {
  return absl::StartsWithIgnoreCase(s, "http://") ||
         absl::StartsWithIgnoreCase(s, "https://") ||
         absl::StartsWithIgnoreCase(s, "www.");
}

bool IsAsciiSpaceOrEnd(absl::string_view s, size_t i) {
  return i >= s.size() || absl::ascii_isspace(static_cast<unsigned char>(s[i]));
}

// Decodes the HTML entity starting at s[0] == '&'. On success appends the
// decoded text to `out` and returns the entity's length; returns 0 otherwise.
size_t DecodeEntity(absl::string_view s, std::string* out) {
  static constexpr struct {
    const char* name;
    const char* text;
  } kEntities[] = {{"&amp;", "&"},   {"&lt;", "<"},    {"&gt;", ">"},
                   {"&quot;", "\""}, {"&apos;", "'"},  {"&#39;", "'"},
                   {"&nbsp;", " "},  {"&mdash;", "—"}, {"&ndash;", "–"},
                   {"&rsquo;", "’"}, {"&lsquo;", "‘"}, {"&rdquo;", "”"},
                   {"&ldquo;", "“"}, {"&hellip;", "…"}};
  for (const auto& entity : kEntities) {
    if (absl::StartsWith(s, entity.name)) {
      out->append(entity.text);
      return std::char_traits<char>::length(entity.name);
    }
  }
  // Numeric entities: &#1234; and &#x4D2;
  if (s.size() > 3 && s[1] == '#') {
    size_t end = s.find(';');
    if (end != absl::string_view::npos && end < 12) {
      std::string digits(s.substr(2, end - 2));
      int base = 10;
      if (!digits.empty() && (digits[0] == 'x' || digits[0] == 'X')) {
        base = 16;
        digits.erase(0, 1);
      }
      char* parse_end = nullptr;
      long code = std::strtol(digits.c_str(), &parse_end, base);
      if (!digits.empty() && *parse_end == '\0' &&
          utf8proc_codepoint_valid(static_cast<utf8proc_int32_t>(code))) {
        utf8proc_uint8_t buf[4];
        utf8proc_ssize_t n =
            utf8proc_encode_char(static_cast<utf8proc_int32_t>(code), buf);
        out->append(reinterpret_cast<const char*>(buf), n);
        return end + 1;
      }
    }
  }
  return 0;
}

// Removes tags, URLs and entities; leaves everything else byte for byte.
std::string StripMarkup(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '<') {
      // A tag is '<' followed by a letter, '/' or '!' and closed by '>'
      // within a reasonable distance; "a < b" stays text.
      size_t close = s.find('>', i + 1);
      bool tag_like =
          i + 1 < s.size() &&
          (absl::ascii_isalpha(static_cast<unsigned char>(s[i + 1])) ||
           s[i + 1] == '/' || s[i + 1] == '!');
      if (tag_like && close != absl::string_view::npos && close - i < 2048) {
        out.push_back(' ');
        i = close + 1;
        continue;
      }
    } else if (c == '&') {
      size_t used = DecodeEntity(s.substr(i), &out);
      if (used > 0) {
        i += used;
        continue;
      }
    } else if ((c == 'h' || c == 'H' || c == 'w' || c == 'W') &&
               (i == 0 ||
                !absl::ascii_isalnum(static_cast<unsigned char>(s[i - 1]))) &&
               StartsWithUrl(s.substr(i))) {
      while (!IsAsciiSpaceOrEnd(s, i) && s[i] != '<') ++i;
      out.push_back(' ');
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

bool IsWordCodepoint(utf8proc_int32_t cp) {
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

// NFKC, optionally case-folded, with markup and URLs removed and whitespace
// collapsed to single spaces.
absl::StatusOr<std::string> Normalize(absl::string_view text, bool case_fold) {
  const std::string stripped = StripMarkup(text);
  utf8proc_uint8_t* mapped = nullptr;
  // NFKC (+ case folding); control characters become spaces or vanish;
  // runs of whitespace are collapsed below.
  const utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(stripped.data()),
      static_cast<utf8proc_ssize_t>(stripped.size()), &mapped,
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPAT |
                                     UTF8PROC_COMPOSE |
                                     (case_fold ? UTF8PROC_CASEFOLD : 0) |
                                     UTF8PROC_NLF2LS | UTF8PROC_STRIPCC));
  if (n < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("text is not valid UTF-8: ", utf8proc_errmsg(n)));
  }
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped,
                                                                &std::free);
  // Collapse whitespace (including Unicode spaces) to single ASCII spaces.
  std::string out;
  out.reserve(static_cast<size_t>(n));
  bool pending_space = false;
  utf8proc_ssize_t i = 0;
  while (i < n) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t len = utf8proc_iterate(mapped + i, n - i, &cp);
    if (len <= 0) break;  // cannot happen: utf8proc_map validated the input
    const auto category = utf8proc_category(cp);
    const bool is_space = cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' ||
                          category == UTF8PROC_CATEGORY_ZS ||
                          category == UTF8PROC_CATEGORY_ZL ||
                          category == UTF8PROC_CATEGORY_ZP;
    if (is_space) {
      pending_space = !out.empty();
    } else {
      if (pending_space) out.push_back(' ');
      pending_space = false;
      out.append(reinterpret_cast<const char*>(mapped + i), len);
    }
    i += len;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> NormalizeText(absl::string_view text) {
  return Normalize(text, /*case_fold=*/true);
}

absl::StatusOr<std::vector<std::string>> ExtractNameWords(
    absl::string_view text, size_t max_bytes) {
  absl::StatusOr<std::string> cased =
      Normalize(TruncateUtf8(text, max_bytes), /*case_fold=*/false);
  if (!cased.ok()) return cased.status();
  // A capital marks a name only where the text is in sentence case: the
  // first word of a sentence is skipped, and a text whose words are mostly
  // capitalised (a Title Case headline) yields only its figures.
  std::vector<absl::string_view> candidates;
  int words_with_letters = 0, capitalised = 0;
  bool sentence_start = true;
  size_t scanned = 0;
  for (absl::string_view word : SplitWords(*cased)) {
    // Sentence ends between the previous word and this one?
    const absl::string_view gap = absl::string_view(*cased).substr(
        scanned, word.data() - cased->data() - scanned);
    if (gap.find_first_of(".!?:") != absl::string_view::npos)
      sentence_start = true;
    scanned = word.data() - cased->data() + word.size();
    utf8proc_int32_t first;
    const utf8proc_ssize_t first_bytes =
        utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(word.data()),
                         static_cast<utf8proc_ssize_t>(word.size()), &first);
    const auto category = utf8proc_category(first);
    const bool upper =
        category == UTF8PROC_CATEGORY_LU || category == UTF8PROC_CATEGORY_LT;
    const bool digit = category == UTF8PROC_CATEGORY_ND;
    if (!digit) {
      ++words_with_letters;
      if (upper) ++capitalised;
    }
    // A lone letter or digit ("6.1" splits into "6" and "1") names nothing.
    const bool single_character =
        first_bytes >= static_cast<utf8proc_ssize_t>(word.size());
    if (!single_character && (digit || (upper && !sentence_start))) {
      candidates.push_back(word);
    }
    sentence_start = false;
  }
  const bool title_case = capitalised * 2 > words_with_letters;
  std::vector<std::string> names;
  for (absl::string_view word : candidates) {
    if (title_case &&
        !absl::ascii_isdigit(static_cast<unsigned char>(word[0]))) {
      continue;
    }
    if (std::all_of(word.begin(), word.end(),
                    [](char c) { return absl::ascii_isascii(c); })) {
      names.push_back(absl::AsciiStrToLower(word));  // the common case
      continue;
    }
    absl::StatusOr<std::string> folded = Normalize(word, /*case_fold=*/true);
    if (folded.ok() && !folded->empty()) names.push_back(*std::move(folded));
  }
  return names;
}

absl::string_view TruncateUtf8(absl::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

std::vector<absl::string_view> SplitWords(absl::string_view text) {
  std::vector<absl::string_view> words;
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const auto n = static_cast<utf8proc_ssize_t>(text.size());
  utf8proc_ssize_t i = 0;
  utf8proc_ssize_t word_start = -1;
  while (i < n) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t len = utf8proc_iterate(bytes + i, n - i, &cp);
    if (len <= 0) {  // invalid byte: treat as a separator
      len = 1;
      cp = ' ';
    }
    // ASCII fast path: most text is ASCII.
    const bool word = cp < 128
                          ? absl::ascii_isalnum(static_cast<unsigned char>(cp))
                          : IsWordCodepoint(cp);
    if (word) {
      if (word_start < 0) word_start = i;
    } else if (word_start >= 0) {
      words.push_back(text.substr(word_start, i - word_start));
      word_start = -1;
    }
    i += len;
  }
  if (word_start >= 0) words.push_back(text.substr(word_start));
  return words;
}

}  // namespace newsdedup
