#include "embeddings/lexical_embedder.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "embeddings/english_glossary.h"
#include "embeddings/language.h"
#include "embeddings/normalizer.h"
#include "embeddings/word_cached_tokenizer.h"

namespace newsdedup {
namespace {

// Seeds keep the feature groups in separate hash spaces.
constexpr uint64_t kWordSeed = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kBigramSeed = 0xc2b2ae3d27d4eb4fULL;
constexpr uint64_t kSubwordSeed = 0x165667b19e3779f9ULL;
constexpr uint64_t kNameSeed = 0x27d4eb2f165667c5ULL;
constexpr uint64_t kStemSeed = 0x85ebca77c2b2ae63ULL;
// Sentences of the body (for stock passages), alone and with the title.
constexpr uint64_t kPassageSeed = 0xd6e8feb86659fd93ULL;
constexpr uint64_t kTitleSeed = 0xa0761d6478bd642fULL;
constexpr uint64_t kTitlePieceSeed = 0xe7037ed1a0b428dbULL;

// Sentences of fewer words (spaces + 1) are never stock passages: "he
// said." and "police said." repeat everywhere and are no boilerplate.
// After a headline, two words are enough for a site's name ("fox 5").
constexpr int kMinPassageWords = 4;
constexpr int kMinTitlePieceWords = 2;

// Enough text for CLD2 to tell the language.
constexpr size_t kLanguageSampleBytes = 2048;
// Letters a detected language needs before the text's words are also read
// as their English translations (a given language needs none): about a
// paragraph. CLD2 takes about one English headline in a few thousand for
// French, Polish or German even past DetectLanguage's sentence of letters,
// and each such headline loaded that language's dictionary (tens of MiB
// for German) for features that only add noise.
constexpr int kMinTranslationLetters = 256;

// Words whose subword ids the loaded tokenizer remembers.
constexpr size_t kCachedWords = 32 * 1024;

// Caps the words remembered for explanations, bounding memory on a long run.
constexpr size_t kMaxDescribedWords = 1 << 20;

uint32_t HashBytes(absl::string_view s, uint64_t seed) {
  return static_cast<uint32_t>(XXH3_64bits_withSeed(s.data(), s.size(), seed));
}

uint32_t HashSubword(int id) {
  return static_cast<uint32_t>(
      XXH3_64bits_withSeed(&id, sizeof(id), kSubwordSeed));
}

// Inverse document frequency in the form of BM25 (Robertson & Sparck Jones,
// as in Lucene): ln(1 + (N - df + 0.5) / (df + 0.5)). Unlike sklearn's
// ln((1 + N) / (1 + df)) it stays positive when a word is in every document
// seen so far, so a service that starts empty gives its first articles
// meaningful vectors, and it still falls towards 0 for words found
// everywhere once N is large.
double Idf(double n, double df) {
  return std::log(1.0 + (n - df + 0.5) / (df + 0.5));
}

// What Prepare reads from a text.
struct LexicalFeatures final : public PreparedText {
  // (feature id, term frequency), ascending ids, each feature's group
  // weight (word, bigram, subword, name), and whether it is a name.
  std::vector<std::pair<uint32_t, float>> features;
  std::vector<float> group_weights;
  std::vector<bool> is_name;
  // Whose document frequencies weigh it: its collection's, in its
  // language when not English (English and unknown text share theirs).
  std::string statistics;
  int num_words = 0;
  // Words by feature id, for explanations: views into the input's text.
  std::vector<std::pair<uint32_t, absl::string_view>> word_names;

  // Pieces of text that may be stock passages (views into the input),
  // each with its passage id and the id of the passage under this
  // headline; both 0 for a piece that is never stock. The body is cut
  // into sentences; the title at " - " and " | " (its first part, the
  // headline proper, is never stock; a site's name often trails it).
  // Empty when stock passages are not looked for.
  struct Piece {
    absl::string_view text;
    uint32_t passage = 0;
    uint32_t titled_passage = 0;
  };
  std::vector<Piece> title_pieces;
  std::vector<Piece> sentences;
  // What the features were read from, for a second reading without the
  // stock passages (views into the input).
  EmbedInput input;
  std::string language;
  // Whether the words are also read as their English translations: the
  // language was given, or detected on kMinTranslationLetters.
  bool translatable = false;
};

// Cuts a normalised title at each " - ", " | ", " – " or " — ".
std::vector<absl::string_view> SplitTitle(absl::string_view title) {
  std::vector<absl::string_view> pieces;
  size_t start = 0;
  for (size_t i = 0; i < title.size(); ++i) {
    if (title[i] != ' ') continue;
    for (absl::string_view separator : {" - ", " | ", " \u2013 ", " \u2014 "}) {
      if (title.substr(i, separator.size()) == separator) {
        pieces.push_back(title.substr(start, i - start));
        start = i + separator.size();
        i = start - 1;
        break;
      }
    }
  }
  pieces.push_back(title.substr(start));
  return pieces;
}

// Cuts normalised text after each '.', '!' or '?' that a space follows.
std::vector<absl::string_view> SplitSentences(absl::string_view text) {
  std::vector<absl::string_view> sentences;
  size_t start = 0;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if ((text[i] == '.' || text[i] == '!' || text[i] == '?') &&
        text[i + 1] == ' ') {
      sentences.push_back(text.substr(start, i + 1 - start));
      start = i + 2;
    }
  }
  if (start < text.size()) sentences.push_back(text.substr(start));
  return sentences;
}

class LexicalEmbedder final : public Embedder {
 public:
  LexicalEmbedder(const LexicalEmbedderOptions& options,
                  std::unique_ptr<Tokenizer> tokenizer)
      : options_(options),
        tokenizer_(std::move(tokenizer)),
        glossary_(options.dictionary_dir) {}

  int dimension() const override { return options_.dimension; }

  absl::StatusOr<std::unique_ptr<Embedder>> NewEmpty() const override {
    ASSIGN_OR_RETURN(std::unique_ptr<Embedder> fresh,
                     NewLexicalEmbedder(options_));
    if (fresh->fingerprint() != fingerprint()) {  // built from another model
      return absl::FailedPreconditionError(
          "cannot reload this embedder's tokenizer model from its options");
    }
    return fresh;
  }

  std::string fingerprint() const override {
    // Every option that changes a vector, and the vocabulary.
    return absl::StrCat(
        "lexical-v1 dim=", options_.dimension, " title=", options_.title_weight,
        " word=", options_.word_weight, " bigram=", options_.bigram_weight,
        " subword=", options_.subword_weight, " name=", options_.name_weight,
        options_.stem_weight > 0 || options_.translation_weight > 0
            ? absl::StrCat(" stem=", options_.stem_weight,
                           " translation=", options_.translation_weight)
            : "",
        " idf=", options_.idf_offset, "^", options_.idf_power,
        options_.idf_per_language ? " idf-per-language" : "",
        options_.idf_per_collection ? " idf-per-collection" : "",
        " body=", options_.max_body_bytes,
        options_.stock_passage_documents > 0
            ? absl::StrCat(" stock=", options_.stock_passage_documents)
            : "",
        options_.warm_table_documents > 0
            ? absl::StrCat(" warm=", options_.warm_table_documents)
            : "",
        " ", TokenizerFingerprint(*tokenizer_));
  }

  absl::StatusOr<Embedding> Embed(const EmbedInput& input,
                                  EmbedMode mode) override {
    ASSIGN_OR_RETURN(std::unique_ptr<PreparedText> prepared, Prepare(input));
    return EmbedPrepared(*prepared, mode);
  }

  absl::StatusOr<std::unique_ptr<PreparedText>> Prepare(
      const EmbedInput& input) const override {
    auto prepared = std::make_unique<LexicalFeatures>();
    prepared->input = input;
    prepared->input.body = TruncateUtf8(input.body, options_.max_body_bytes);
    // English text keeps its words as they are (the features every
    // threshold was set on); other languages add stems, and words of
    // languages with a dictionary count also as their English translations.
    if (options_.stem_weight > 0 || options_.translation_weight > 0 ||
        options_.idf_per_language) {
      prepared->language = NormalizeLanguageTag(input.language);
      prepared->translatable = true;
      if (prepared->language.empty()) {
        // The sample is cut before it is joined: bodies run to 32 KiB.
        int letters = 0;
        prepared->language = DetectLanguage(
            TruncateUtf8(absl::StrCat(input.title, "\n",
                                      TruncateUtf8(prepared->input.body,
                                                   kLanguageSampleBytes)),
                         kLanguageSampleBytes),
            &letters);
        prepared->translatable = letters >= kMinTranslationLetters;
      }
    }
    RETURN_IF_ERROR(ReadFeatures(prepared->input, prepared.get()));
    if (options_.stock_passage_documents > 0) FindPieces(prepared.get());
    return prepared;
  }

  // Reads the features of `input` (body already truncated) in the
  // language Prepare found into `prepared`, whose features are empty.
  absl::Status ReadFeatures(const EmbedInput& input,
                            LexicalFeatures* prepared) const {
    // Every occurrence of a feature in reading order, merged per feature
    // below: a feature's first occurrence gives its group weight (and, for
    // a word, its name), its weights sum to its term frequency (title
    // occurrences weighted up). One vector and a sort cost a headline far
    // less than a hash table per property.
    struct Occurrence {
      uint32_t id;
      uint32_t order;  // place in reading order
      float weight;
      float group_weight;
      bool name;
      absl::string_view word;  // set for a word's own occurrence
    };
    std::vector<Occurrence> occurrences;
    occurrences.reserve(64);
    const absl::string_view body = input.body;
    std::string bigram;  // "word next", one buffer for every pair
    auto count = [&](uint32_t id, float weight, float group_weight,
                     absl::string_view word = {}, bool name = false) {
      occurrences.push_back({id, static_cast<uint32_t>(occurrences.size()),
                             weight, group_weight, name, word});
    };
    if (options_.name_weight > 0) {
      for (const auto& [names, weight] :
           {std::make_pair(input.title_names, options_.title_weight),
            std::make_pair(input.body_names, 1.0f)}) {
        for (const std::string& name : names) {
          count(HashBytes(name, kNameSeed), weight, options_.name_weight,
                /*word=*/{}, /*name=*/true);
        }
      }
    }
    const std::string& language = prepared->language;
    const bool foreign = !language.empty() && language != "en";
    const bool stem = foreign && options_.stem_weight > 0;
    const bool translate =
        foreign && prepared->translatable && options_.translation_weight > 0;
    for (const auto& [text, weight] :
         {std::make_pair(input.title, options_.title_weight),
          std::make_pair(body, 1.0f)}) {
      if (text.empty()) continue;
      const std::vector<absl::string_view> words = SplitWords(text);
      for (size_t i = 0; i < words.size(); ++i) {
        count(HashBytes(words[i], kWordSeed), weight, options_.word_weight,
              words[i]);
        if (stem) {
          count(HashBytes(StemWord(language, words[i]), kStemSeed), weight,
                options_.stem_weight);
        }
        if (translate) {
          // Its English translations share one occurrence, as words.
          absl::Span<const std::string> english =
              glossary_.Translate(language, words[i]);
          for (const std::string& translation : english) {
            count(HashBytes(translation, kWordSeed),
                  weight * options_.translation_weight / english.size(),
                  options_.word_weight);
          }
        }
        if (i + 1 < words.size() && options_.bigram_weight > 0) {
          bigram.assign(words[i].data(), words[i].size());
          bigram.push_back(' ');
          bigram.append(words[i + 1].data(), words[i + 1].size());
          count(HashBytes(bigram, kBigramSeed), weight, options_.bigram_weight);
        }
      }
      if (options_.subword_weight > 0) {
        std::vector<int> pieces;
        RETURN_IF_ERROR(tokenizer_->Encode(text, &pieces));
        for (int piece : pieces) {
          count(HashSubword(piece), weight, options_.subword_weight);
        }
      }
    }

    if (foreign && options_.idf_per_language) prepared->statistics = language;
    if (options_.idf_per_collection) {
      // The separator cannot occur in a language tag.
      absl::StrAppend(&prepared->statistics, "\x1f", input.collection);
    }
    // Each feature's occurrences in reading order, so that its first
    // occurrence leads and its weights add up in reading order.
    std::sort(occurrences.begin(), occurrences.end(),
              [](const Occurrence& a, const Occurrence& b) {
                return a.id != b.id ? a.id < b.id : a.order < b.order;
              });
    int num_words = 0;
    for (size_t i = 0; i < occurrences.size();) {
      const Occurrence& first = occurrences[i];
      float tf = 0.0f;
      bool name = false;
      size_t j = i;
      for (; j < occurrences.size() && occurrences[j].id == first.id; ++j) {
        tf += occurrences[j].weight;
        name = name || occurrences[j].name;
      }
      prepared->features.emplace_back(first.id, tf);
      prepared->group_weights.push_back(first.group_weight);
      prepared->is_name.push_back(name);
      // A distinct word: one whose feature no earlier occurrence made.
      if (!first.word.empty()) {
        prepared->word_names.emplace_back(first.id, first.word);
        ++num_words;
      }
      i = j;
    }
    prepared->num_words = num_words;
    return absl::OkStatus();
  }

  absl::StatusOr<Embedding> EmbedPrepared(const PreparedText& text,
                                          EmbedMode mode) override {
    const auto& whole = static_cast<const LexicalFeatures&>(text);
    // Read again without its stock passages, when it has any.
    KeptText kept;
    LexicalFeatures without_stock;
    const LexicalFeatures* read = &whole;
    if (KeepNonStock(whole, &kept)) {
      without_stock.language = whole.language;
      without_stock.translatable = whole.translatable;
      EmbedInput input = whole.input;
      input.title = kept.title;
      input.body = kept.body;
      input.title_names = kept.title_names;
      input.body_names = kept.body_names;
      RETURN_IF_ERROR(ReadFeatures(input, &without_stock));
      read = &without_stock;
    }
    const LexicalFeatures& prepared = *read;
    const auto& features = prepared.features;
    Embedding embedding;
    embedding.num_words = prepared.num_words;
    embedding.dense.assign(options_.dimension, 0.0f);
    if (features.empty()) return embedding;

    if (mode == EmbedMode::kObserve) {
      absl::MutexLock lock(&mu_);
      ++num_documents_;
      auto [table, added] = table_of_.try_emplace(
          prepared.statistics, static_cast<int32_t>(tables_.size()));
      if (added) OpenTable(prepared.statistics);
      embedding.statistics = table->second;
      Table& stats = tables_[table->second];
      AddDocuments(&stats, 1);
      for (const auto& [id, count] : features) stats.Add(id);
      // Every passage counts, stock or not: that is how one becomes stock.
      std::vector<uint32_t> passages;  // none (no allocation) for headlines
      for (const auto* pieces : {&whole.title_pieces, &whole.sentences}) {
        for (const LexicalFeatures::Piece& piece : *pieces) {
          if (piece.passage == 0) continue;
          passages.push_back(piece.passage);
          passages.push_back(piece.titled_passage);
        }
      }
      if (!passages.empty()) {
        std::sort(passages.begin(), passages.end());
        passages.erase(std::unique(passages.begin(), passages.end()),
                       passages.end());
        for (uint32_t id : passages) stats.Add(id);
        embedding.passages =
            std::make_shared<const std::vector<uint32_t>>(std::move(passages));
      }
      for (const auto& [id, word] : prepared.word_names) {
        if (word_names_.size() >= kMaxDescribedWords) break;
        word_names_.try_emplace(id, std::string(word));
      }
    }

    embedding.sparse.ids.reserve(features.size());
    embedding.sparse.weights.reserve(features.size());
    double norm2 = 0.0;
    double names_norm2 = 0.0;
    SparseVector names;
    std::vector<uint32_t> frequencies;
    frequencies.reserve(features.size());
    {
      absl::ReaderMutexLock lock(&mu_);
      static const DocumentStatistics kNone;
      auto found = table_of_.find(prepared.statistics);
      const DocumentStatistics& stats =
          found != table_of_.end() ? tables_[found->second] : kNone;
      const double n = static_cast<double>(stats.documents);
      embedding.statistics_documents = stats.documents;
      // A cold table's features weigh at most what they weigh in the
      // largest table of its language.
      const DocumentStatistics* reference = nullptr;
      if (stats.documents < options_.warm_table_documents) {
        reference = LargestTable(prepared.statistics);
        if (reference != nullptr && reference->documents <= stats.documents) {
          reference = nullptr;  // itself, or no better informed
        }
      }
      for (size_t i = 0; i < features.size(); ++i) {
        const auto& [id, count] = features[i];
        const double df = stats.Held(id);
        frequencies.push_back(static_cast<uint32_t>(df));
        double plain_idf = Idf(n, df);
        if (reference != nullptr) {
          plain_idf = std::min(plain_idf,
                               Idf(static_cast<double>(reference->documents),
                                   static_cast<double>(reference->Held(id))));
        }
        const double idf =
            std::pow(plain_idf + options_.idf_offset, options_.idf_power);
        // Sublinear in the count; a share of one occurrence (a word's
        // translations split it) counts as that share.
        const double tf = count >= 1 ? 1.0 + std::log(count) : count;
        const double w = prepared.group_weights[i] * tf * idf;
        embedding.sparse.ids.push_back(id);
        embedding.sparse.weights.push_back(static_cast<float>(w));
        norm2 += w * w;
        if (prepared.is_name[i] && w > 0) {
          names.ids.push_back(id);
          names.weights.push_back(static_cast<float>(w));
          names_norm2 += w * w;
        }
      }
    }
    if (names_norm2 > 0.0) {
      const float inv = static_cast<float>(1.0 / std::sqrt(names_norm2));
      for (float& w : names.weights) w *= inv;
      embedding.names_view =
          std::make_shared<const SparseVector>(std::move(names));
    }
    if (norm2 <= 0.0) {
      // Every feature has zero weight: nothing to compare on.
      embedding.sparse = SparseVector();
      return embedding;
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(norm2));
    for (float& w : embedding.sparse.weights) w *= inv;
    embedding.document_frequencies =
        std::make_shared<const std::vector<uint32_t>>(std::move(frequencies));

    // Signed feature hashing into the dense vector.
    double dense_norm2 = 0.0;
    for (size_t i = 0; i < embedding.sparse.size(); ++i) {
      const uint64_t mixed = embedding.sparse.ids[i] * 0x9E3779B97F4A7C15ULL;
      const size_t slot = (mixed >> 32) % options_.dimension;
      const float sign = (mixed >> 31) & 1 ? -1.0f : 1.0f;
      embedding.dense[slot] += sign * embedding.sparse.weights[i];
    }
    for (float v : embedding.dense) dense_norm2 += v * v;
    if (dense_norm2 > 0) {
      const float dense_inv = static_cast<float>(1.0 / std::sqrt(dense_norm2));
      for (float& v : embedding.dense) v *= dense_inv;
    }
    return embedding;
  }

  std::vector<std::string> DescribeFeatures(
      absl::Span<const uint32_t> ids) const override {
    std::vector<std::string> names;
    absl::ReaderMutexLock lock(&mu_);
    for (uint32_t id : ids) {
      auto it = word_names_.find(id);
      if (it != word_names_.end()) names.push_back(it->second);
    }
    return names;
  }

  int64_t num_documents() const override {
    absl::ReaderMutexLock lock(&mu_);
    return num_documents_;
  }

  void Forget(const Embedding& embedding) override {
    absl::MutexLock lock(&mu_);
    if (embedding.statistics < 0 ||
        embedding.statistics >= static_cast<int32_t>(tables_.size())) {
      return;
    }
    Table& stats = tables_[embedding.statistics];
    if (stats.documents == 0) return;
    AddDocuments(&stats, -1);
    --num_documents_;
    // Its sparse ids are the features it was counted with.
    for (uint32_t id : embedding.sparse.ids) stats.Remove(id);
    if (embedding.passages != nullptr) {
      for (uint32_t id : *embedding.passages) stats.Remove(id);
    }
  }

 private:
  // Fills `prepared`'s title pieces and sentences with their passage ids.
  static void FindPieces(LexicalFeatures* prepared) {
    // Normalised text: case and spacing do not make a piece new.
    auto words = [](absl::string_view text) {
      return std::count(text.begin(), text.end(), ' ') + 1;
    };
    const absl::string_view title = prepared->input.title;
    const std::vector<absl::string_view> title_pieces = SplitTitle(title);
    prepared->title_pieces.push_back({title_pieces.front()});
    if (title_pieces.size() > 1) {
      // A site's name trails many headlines: it is stock when other
      // headlines carry it.
      const absl::string_view headline = title_pieces.front();
      const uint64_t headline_seed =
          kPassageSeed ^
          XXH3_64bits_withSeed(headline.data(), headline.size(), kTitleSeed);
      for (size_t i = 1; i < title_pieces.size(); ++i) {
        LexicalFeatures::Piece piece{title_pieces[i]};
        if (words(piece.text) >= kMinTitlePieceWords) {
          piece.passage = HashBytes(piece.text, kTitlePieceSeed);
          piece.titled_passage = HashBytes(piece.text, headline_seed);
        }
        prepared->title_pieces.push_back(piece);
      }
    }
    if (prepared->input.body.empty()) return;  // a headline
    const uint64_t title_seed =
        kPassageSeed ^
        XXH3_64bits_withSeed(title.data(), title.size(), kTitleSeed);
    for (absl::string_view text : SplitSentences(prepared->input.body)) {
      LexicalFeatures::Piece sentence{text};
      if (words(text) >= kMinPassageWords) {
        sentence.passage = HashBytes(text, kPassageSeed);
        sentence.titled_passage = HashBytes(text, title_seed);
      }
      prepared->sentences.push_back(sentence);
    }
  }

  // The text of `prepared` without its stock passages, when it has any.
  struct KeptText {
    std::string title;
    std::string body;
    std::vector<std::string> title_names;
    std::vector<std::string> body_names;
  };

  // Writes `prepared`'s text without its stock passages into `kept` and
  // returns true; returns false when none is stock. A stock passage is a
  // piece that at least stock_passage_documents documents of its
  // statistics under another headline already hold: a site's
  // subscription notice, a video player's error, a copyright line, the
  // site's name after the headline. Another headline, because syndicated
  // copies of one report share their sentences and mostly their headline
  // too. Names found only in stock passages go with them.
  bool KeepNonStock(const LexicalFeatures& prepared, KeptText* kept) const {
    if (prepared.sentences.empty() && prepared.title_pieces.size() < 2) {
      return false;
    }
    std::vector<bool> title_stock(prepared.title_pieces.size(), false);
    std::vector<bool> body_stock(prepared.sentences.size(), false);
    bool any = false;
    {
      absl::ReaderMutexLock lock(&mu_);
      auto found = table_of_.find(prepared.statistics);
      if (found == table_of_.end()) return false;
      const DocumentStatistics& stats = tables_[found->second];
      auto held = [&stats](uint32_t id) -> int64_t { return stats.Held(id); };
      auto mark = [&](const std::vector<LexicalFeatures::Piece>& pieces,
                      std::vector<bool>* stock) {
        for (size_t i = 0; i < pieces.size(); ++i) {
          if (pieces[i].passage == 0) continue;
          (*stock)[i] =
              held(pieces[i].passage) - held(pieces[i].titled_passage) >=
              options_.stock_passage_documents;
          any = any || (*stock)[i];
        }
      };
      mark(prepared.title_pieces, &title_stock);
      mark(prepared.sentences, &body_stock);
    }
    if (!any) return false;
    absl::flat_hash_set<absl::string_view> kept_words, stock_words;
    auto join = [&](const std::vector<LexicalFeatures::Piece>& pieces,
                    const std::vector<bool>& stock, absl::string_view glue,
                    std::string* out) {
      for (size_t i = 0; i < pieces.size(); ++i) {
        for (absl::string_view word : SplitWords(pieces[i].text)) {
          (stock[i] ? stock_words : kept_words).insert(word);
        }
        if (stock[i]) continue;
        if (!out->empty()) absl::StrAppend(out, glue);
        absl::StrAppend(out, pieces[i].text);
      }
    };
    join(prepared.title_pieces, title_stock, " - ", &kept->title);
    join(prepared.sentences, body_stock, " ", &kept->body);
    auto keep_names = [&](absl::Span<const std::string> names,
                          std::vector<std::string>* out) {
      for (const std::string& name : names) {
        if (kept_words.contains(name) || !stock_words.contains(name)) {
          out->push_back(name);
        }
      }
    };
    keep_names(prepared.input.title_names, &kept->title_names);
    keep_names(prepared.input.body_names, &kept->body_names);
    return true;
  }

  const LexicalEmbedderOptions options_;
  const std::unique_ptr<Tokenizer> tokenizer_;
  mutable EnglishGlossary glossary_;

  // Documents seen, and how many held each feature.
  struct DocumentStatistics {
    int64_t documents = 0;
    absl::flat_hash_map<uint32_t, uint32_t> frequency;

    void Add(uint32_t id) { ++frequency[id]; }
    void Remove(uint32_t id) {
      auto it = frequency.find(id);
      if (it == frequency.end()) return;
      if (--it->second == 0) frequency.erase(it);
    }
    uint32_t Held(uint32_t id) const {
      auto it = frequency.find(id);
      return it == frequency.end() ? 0 : it->second;
    }
  };

  // A table with its name (LexicalFeatures::statistics: the language,
  // then the collection).
  struct Table : DocumentStatistics {
    explicit Table(std::string table_name) : name(std::move(table_name)) {}
    std::string name;
  };

  struct BySizeThenName {
    bool operator()(const std::pair<int64_t, const Table*>& a,
                    const std::pair<int64_t, const Table*>& b) const {
      if (a.first != b.first) return a.first < b.first;
      return a.second->name < b.second->name;
    }
  };

  // A language's tables (English and unknown text share one) by documents
  // held, ties by name, the largest last: the largest weighs a cold
  // table's features (LexicalEmbedderOptions::warm_table_documents). A
  // function of the tables' counts alone, so a restart that observes the
  // documents held finds the same one.
  using TablesBySize =
      std::set<std::pair<int64_t, const Table*>, BySizeThenName>;

  static absl::string_view LanguageOf(absl::string_view statistics) {
    return statistics.substr(0, statistics.find('\x1f'));
  }

  // The largest table of the language of `statistics`; null: none.
  const DocumentStatistics* LargestTable(absl::string_view statistics) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    auto it = tables_by_size_.find(LanguageOf(statistics));
    if (it == tables_by_size_.end() || it->second.empty()) return nullptr;
    return it->second.rbegin()->second;
  }

  void OpenTable(const std::string& statistics)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    tables_.emplace_back(statistics);
    if (options_.warm_table_documents > 0) {
      tables_by_size_[LanguageOf(statistics)].insert({0, &tables_.back()});
    }
  }

  // Changes the documents `table` holds by `delta`, keeping its place in
  // its language's order.
  void AddDocuments(Table* table, int64_t delta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (options_.warm_table_documents <= 0) {
      table->documents += delta;
      return;
    }
    TablesBySize& order = tables_by_size_.find(LanguageOf(table->name))->second;
    order.erase({table->documents, table});
    table->documents += delta;
    order.insert({table->documents, table});
  }

  mutable absl::Mutex mu_;
  int64_t num_documents_ ABSL_GUARDED_BY(mu_) = 0;  // in every language
  // By LexicalFeatures::statistics: the number of its table (in
  // Embedding::statistics) in tables_ (a deque: references stay valid).
  absl::flat_hash_map<std::string, int32_t> table_of_ ABSL_GUARDED_BY(mu_);
  std::deque<Table> tables_ ABSL_GUARDED_BY(mu_);
  // By language (LanguageOf); empty with warm_table_documents 0.
  absl::flat_hash_map<std::string, TablesBySize> tables_by_size_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint32_t, std::string> word_names_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<Embedder>> NewLexicalEmbedder(
    const LexicalEmbedderOptions& options,
    std::unique_ptr<Tokenizer> tokenizer) {
  if (options.dimension <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "embedding dimension must be positive, got ", options.dimension));
  }
  if (tokenizer == nullptr) {
    const std::string path = options.tokenizer_model_path.empty()
                                 ? DefaultTokenizerModelPath()
                                 : options.tokenizer_model_path;
    ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> model,
                     Tokenizer::LoadSentencePiece(path));
    // Sentencepiece models keep pieces within words (their trainer's
    // default), which a word cache needs; 32k words cover almost every
    // word of a news stream in about 2 MB.
    tokenizer = NewWordCachedTokenizer(std::move(model), kCachedWords);
  }
  return std::unique_ptr<Embedder>(
      new LexicalEmbedder(options, std::move(tokenizer)));
}

}  // namespace newsdedup
