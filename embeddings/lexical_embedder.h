// The default embedder: TF-IDF over hashed lexical features.
//
// Features of an article (title and body, normalised):
//   - sentencepiece subwords, which match across inflections and scripts and
//     give cross-lingual overlap on names ("Selenskyj" / "Zelensky");
//   - word unigrams and bigrams, which carry the precise vocabulary;
//   - names (words written with a capital or a leading digit in the original
//     text), which tell an event from a look-alike one.
// Each feature is hashed to a 32-bit id. Its weight is
//   group_weight * (1 + ln tf) * idf,   idf = ln(1 + (N - df + 0.5) / (df +
//   0.5)) + offset,
// where title occurrences count `title_weight` times, and N and df are
// document counts kept up to date as articles are observed. The sparse vector
// is L2-normalised; the dense vector is its signed feature-hash projection to
// `dimension` floats, L2-normalised.
//
//   LexicalEmbedderOptions options;
//   options.dimension = 256;
//   ASSIGN_OR_RETURN(auto embedder, NewLexicalEmbedder(options));
#ifndef NEWSDEDUP_EMBEDDINGS_LEXICAL_EMBEDDER_H_
#define NEWSDEDUP_EMBEDDINGS_LEXICAL_EMBEDDER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "embeddings/embedder.h"
#include "embeddings/tokenizer.h"

namespace newsdedup {

struct LexicalEmbedderOptions {
  // Sentencepiece model; empty means the model shipped with newsdedup.
  std::string tokenizer_model_path;

  // Length of the dense vector given to the nearest-neighbour index. Larger
  // means fewer hash collisions (noise ~ 1/sqrt(dimension) on cosine) and
  // better candidate recall, at proportionally higher search cost.
  int dimension = 256;

  // How many times a title occurrence counts relative to a body occurrence.
  // Headlines name the event; bodies also carry background.
  float title_weight = 3.0f;

  // Relative weights of the feature groups.
  float word_weight = 1.0f;
  float bigram_weight = 0.2f;
  float subword_weight = 0.5f;
  float name_weight = 1.0f;
  // In a text not in English (its language given, or detected by CLD2),
  // words also count as their Snowball stem: "Wahlen" meets "Wahl".
  // English text is left as it is.
  float stem_weight = 1.0f;
  // In a text of a language with a FreeDict dictionary into English
  // (German, Spanish, French, Polish, Turkish, Arabic), each word also
  // counts as its English translations (sharing this weight of one
  // occurrence), so reports of one story in two languages share features.
  float translation_weight = 1.0f;
  // Document frequencies kept per language (English and unknown text
  // together), so that a German article's words are weighed by how common
  // they are in German, not rare because most of the stream is English.
  bool idf_per_language = true;
  // Document frequencies kept per collection (EmbedInput::collection: a
  // feed, source group or tenant), so that what is common in one stream
  // stays common there when other streams grow beside it: without it, a
  // mix of shooting reports and earthquake reports makes "quake" rare
  // enough to fuse two earthquakes (docs/quality.md).
  bool idf_per_collection = true;
  // Where the dictd files of Debian's dict-freedict-*-eng packages are.
  std::string dictionary_dir = "/usr/share/dictd";

  // Added to every idf. 0 gives words found in every document no weight at
  // all, which keeps stories about look-alike events (every article about a
  // shooting says "police" and "shot") apart; sklearn's default is 1.
  float idf_offset = 0.0f;

  // Weights use idf raised to this power. Above 1 rare words (names,
  // places, figures) dominate the vector more strongly, which keeps
  // same-kind events in one city apart; 1 is classic TF-IDF.
  float idf_power = 1.25f;

  // A sentence of the body (of at least four words), or a part of the
  // title after its headline (after " - " or " | ", of at least two
  // words), that at least this many documents under other headlines
  // already hold is a stock passage: a site's subscription notice, a
  // video player's error message, a copyright line, the site's name after
  // every headline. Its words and the names only it holds do not count
  // for the article, which is left with what it says of its own: pages
  // whose body is only such text, or whose titles end in one station's
  // name, joined each other's stories on it once they came days apart
  // instead of months (docs/quality.md). The statistics count the
  // passages with the articles held. 0: everything counts.
  int stock_passage_documents = 3;

  // A table of document frequencies (a collection's) that holds fewer
  // than this many documents is cold: its first document gives every
  // feature the same frequency, so its vector is as much stop words as
  // names. Until it warms up, a feature weighs at most what it weighs in
  // the largest table of its language: that table's stop words ("the",
  // "of") are stop words of any collection, while a word rare there keeps
  // the weight its own table gives it (borrowed rarity is what made a
  // blend of a pooled table into every table fuse look-alike events). The
  // first full-text page of a new collection joined a shooting story of
  // another on "the of in and a" (docs/quality.md). 0: every table stands
  // alone.
  int warm_table_documents = 10;

  // Only the first `max_body_bytes` of a body are embedded (cut at a UTF-8
  // character boundary). The lead of a news article names its event; this
  // bounds the cost of multi-megabyte inputs.
  size_t max_body_bytes = 32 * 1024;
};

// Creates a lexical embedder. If `tokenizer` is null, loads the model named
// by options.tokenizer_model_path (or the shipped default).
// Errors: those of Tokenizer::LoadSentencePiece; kInvalidArgument for a
// non-positive dimension.
absl::StatusOr<std::unique_ptr<Embedder>> NewLexicalEmbedder(
    const LexicalEmbedderOptions& options,
    std::unique_ptr<Tokenizer> tokenizer = nullptr);

}  // namespace newsdedup

#endif  // NEWSDEDUP_EMBEDDINGS_LEXICAL_EMBEDDER_H_
