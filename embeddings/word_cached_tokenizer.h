// A tokenizer that reads a text word by word and remembers the subword ids
// of the words it has seen.
//
// News repeats its words: after a few thousand headlines almost every word
// of the next one has been tokenized before. Asking sentencepiece again
// costs about a quarter of preparing a headline (normalising, the lattice,
// a protobuf of pieces); a lookup costs a hash.
//
// A text's ids are those of its space-separated words, each tokenized
// alone. For a sentencepiece model trained with its defaults (pieces never
// span a space), such as the shipped one, that is the whole text's
// tokenization except where two segmentations of a word score exactly the
// same ("...." as "." "..." or "..." ".", "7777"): the model breaks such a
// tie by the rounding of its running score along the text, so that the same
// word could come out either way in two texts. Word by word it always
// comes out one way, whatever the cache holds: the ids are a function of
// the text alone, which replicas and a restart need (in the dev data, 34
// of 14,290 texts have such a tie).
//
// Thread safety: as Tokenizer; lookups share a reader lock.
#ifndef NEWSDEDUP_EMBEDDINGS_WORD_CACHED_TOKENIZER_H_
#define NEWSDEDUP_EMBEDDINGS_WORD_CACHED_TOKENIZER_H_

#include <cstddef>
#include <memory>

#include "embeddings/tokenizer.h"

namespace newsdedup {

// Remembers at most `max_words` words (their bytes and ids, about 60 bytes
// a word), the first ones seen; later new words are always asked for.
// `tokenizer` must tokenize a text without spaces alike every time.
std::unique_ptr<Tokenizer> NewWordCachedTokenizer(
    std::unique_ptr<Tokenizer> tokenizer, size_t max_words);

}  // namespace newsdedup

#endif  // NEWSDEDUP_EMBEDDINGS_WORD_CACHED_TOKENIZER_H_
