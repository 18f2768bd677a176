// Text normalisation shared by exact-duplicate detection and embedding.
//
// NormalizeText() turns raw article text into a canonical form: markup and
// URLs removed, HTML entities decoded, Unicode NFKC with case folding, and
// whitespace collapsed to single spaces. Two copies of an article that differ
// only in markup, casing, full-width characters or spacing normalise to the
// same string, which is what the exact-duplicate hash is taken over.
//
//   absl::StatusOr<std::string> s = NormalizeText("<p>Putin &amp; TRUMP</p>");
//   // *s == "putin & trump"
//
// SplitWords() cuts normalised text into words (runs of letters, digits and
// combining marks), for word-level features in every script.
#ifndef NEWSDEDUP_EMBEDDINGS_NORMALIZER_H_
#define NEWSDEDUP_EMBEDDINGS_NORMALIZER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace newsdedup {

// Returns the normalised form of `text`.
// Errors: kInvalidArgument if `text` is not valid UTF-8.
absl::StatusOr<std::string> NormalizeText(absl::string_view text);

// The words of `text` written as names: those whose first character is an
// upper-case letter or a digit (people, places, organisations, figures),
// normalised like NormalizeText(). Names tell one event from a look-alike
// one (two earthquakes differ in place and magnitude, not in vocabulary), so
// the embedder weighs them up. Only the first `max_bytes` of `text` are
// scanned. Scripts without case (Arabic) contribute only figures.
// Errors: kInvalidArgument if `text` is not valid UTF-8.
absl::StatusOr<std::vector<std::string>> ExtractNameWords(
    absl::string_view text, size_t max_bytes = 32 * 1024);

// Longest prefix of `s` of at most `max_bytes` bytes that ends on a UTF-8
// character boundary.
absl::string_view TruncateUtf8(absl::string_view s, size_t max_bytes);

// Splits already-normalised text into words. Views point into `text`.
std::vector<absl::string_view> SplitWords(absl::string_view text);

}  // namespace newsdedup

#endif  // NEWSDEDUP_EMBEDDINGS_NORMALIZER_H_
