// Turning article text into vectors.
//
// Embedder is the interface every text encoder implements (like
// faiss::Index, one interface and several implementations). The default
// implementation is the lexical embedder (lexical_embedder.h); a neural
// encoder can replace it without touching the clustering engine.
//
// An Embedding always has a dense, L2-normalised vector of dimension()
// floats, which is what the nearest-neighbour index stores. A lexical
// embedder also fills a sparse vector (sorted feature ids and weights, L2
// norm 1) that scores similarity without hashing collisions; the engine uses
// it when both sides have one.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Embedder> embedder,
//                    NewLexicalEmbedder(LexicalEmbedderOptions()));
//   ASSIGN_OR_RETURN(Embedding e,
//                    embedder->Embed({"putin trump summit", ""},
//                                    EmbedMode::kObserve));
//
// Thread safety: implementations must allow concurrent calls to every method.
#ifndef NEWSDEDUP_EMBEDDINGS_EMBEDDER_H_
#define NEWSDEDUP_EMBEDDINGS_EMBEDDER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace newsdedup {

// Text of one article, already passed through NormalizeText().
struct EmbedInput {
  absl::string_view title;
  absl::string_view body;
  // Words written as names in the original title and body, from
  // ExtractNameWords(); may be empty.
  absl::Span<const std::string> title_names = {};
  absl::Span<const std::string> body_names = {};
  // The article's language as given (any tag, "de-AT"); empty: detected.
  absl::string_view language = {};
  // Whose document statistics weigh the words (a feed, source group or
  // tenant); embedders that keep statistics keep one table per collection.
  absl::string_view collection = {};
};

// A sparse vector: `ids` strictly ascending, `weights` of the same length.
struct SparseVector {
  std::vector<uint32_t> ids;
  std::vector<float> weights;

  bool empty() const { return ids.empty(); }
  size_t size() const { return ids.size(); }
};

// Dot product of two sparse vectors (merge of the sorted id lists).
float SparseDot(const SparseVector& a, const SparseVector& b);
// The same for vectors held elsewhere: ascending ids, weights alike.
float SparseDot(absl::Span<const uint32_t> a_ids,
                absl::Span<const float> a_weights,
                absl::Span<const uint32_t> b_ids,
                absl::Span<const float> b_weights);
// Dot product of two dense vectors over their common length.
float DenseDot(absl::Span<const float> a, absl::Span<const float> b);

struct Embedding {
  // dimension() floats, L2 norm 1 (all zero for text without features).
  std::vector<float> dense;
  // Optional exact representation; empty for embedders without one.
  SparseVector sparse;
  // Optional view of the names and figures alone (people, places, dates,
  // counts), L2 norm 1: what tells an event from a look-alike one of the
  // same kind. Null when the text has none or the embedder keeps none.
  // Behind a pointer: every stored article keeps an Embedding, and most
  // engines never read this view (names() gives it or an empty one).
  std::shared_ptr<const SparseVector> names_view;
  const SparseVector& names() const;
  // Optional: how many documents of the article's statistics held each
  // feature of `sparse` (same order), and how many documents those
  // statistics had: lets the engine tell an event's own words (few
  // documents beyond its story hold them) from topic and stop words.
  // Null where the embedder keeps no statistics. Only needed while the
  // article is placed (the engine drops it after).
  std::shared_ptr<const std::vector<uint32_t>> document_frequencies;
  int64_t statistics_documents = 0;
  // Number of distinct words in the text: how much evidence the vector
  // carries. Short texts (headlines) reach lower similarities than full
  // articles about the same event, and the engine adapts its thresholds.
  int num_words = 0;
  // Which of the embedder's statistics counted this document (kObserve),
  // for Embedder::Forget; -1: none did.
  int32_t statistics = -1;
  // What the statistics counted for this document besides `sparse`'s
  // features (the lexical embedder's body passages), for Forget. Null
  // when nothing else was counted (headlines).
  std::shared_ptr<const std::vector<uint32_t>> passages;
};

// Cosine similarity of two embeddings: sparse when both have a sparse
// vector, dense otherwise.
float Similarity(const Embedding& a, const Embedding& b);

enum class EmbedMode {
  // The article is being ingested: update corpus statistics (document
  // frequencies) with it before embedding.
  kObserve,
  // Dry run: embed with the current statistics, change nothing.
  kReadOnly,
};

// What an embedder read from one text, before corpus statistics weigh it
// (Embedder::Prepare); each implementation keeps its own.
class PreparedText {
 public:
  virtual ~PreparedText() = default;
};

class Embedder {
 public:
  virtual ~Embedder() = default;

  // Length of Embedding::dense.
  virtual int dimension() const = 0;

  // Embeds one article. Errors: kInternal if the tokenizer fails.
  virtual absl::StatusOr<Embedding> Embed(const EmbedInput& input,
                                          EmbedMode mode) = 0;

  // Embed in two halves, so that a batch can read texts ahead on another
  // thread: Prepare does the work that needs no corpus statistics
  // (tokenising, hashing) and may run in any order, concurrently;
  // EmbedPrepared weighs (and, with kObserve, counts) in ingest order.
  // EmbedPrepared(*Prepare(input), mode) equals Embed(input, mode). The
  // prepared text may refer to the input's strings, which must stay where
  // they are until EmbedPrepared returns (moving a short std::string moves
  // its characters). The defaults keep a copy of the input and call Embed.
  // Errors: as Embed.
  virtual absl::StatusOr<std::unique_ptr<PreparedText>> Prepare(
      const EmbedInput& input) const;
  virtual absl::StatusOr<Embedding> EmbedPrepared(const PreparedText& prepared,
                                                  EmbedMode mode);

  // Human-readable names of sparse feature ids, for explanations; ids the
  // embedder does not know are skipped.
  virtual std::vector<std::string> DescribeFeatures(
      absl::Span<const uint32_t> ids) const = 0;

  // Number of documents observed so far (and not forgotten).
  virtual int64_t num_documents() const = 0;

  // Takes the document of an embedding made with EmbedMode::kObserve out
  // of the statistics again: its text left the corpus (retention,
  // deletion, a new version). Statistics then follow the articles held,
  // as a restart that observes only those rebuilds them, and their memory
  // follows the vocabulary held rather than every word ever seen. Call it
  // at most once per observed document. The default keeps none.
  virtual void Forget(const Embedding& embedding) { (void)embedding; }

  // Identifies the model and settings: two embedders with the same
  // fingerprint embed the same text alike (given the same statistics).
  // Stored with durable state, so that a store is never read back by an
  // embedder that would see its articles differently.
  virtual std::string fingerprint() const = 0;

  // A new embedder of the same model and settings (same fingerprint) that
  // has observed nothing: what a restarted process starts from. Lets an
  // engine rebuild itself from its store without restarting. Errors:
  // kUnimplemented where an embedder cannot (the default).
  virtual absl::StatusOr<std::unique_ptr<Embedder>> NewEmpty() const {
    return absl::UnimplementedError("this embedder cannot make a new copy");
  }
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_EMBEDDINGS_EMBEDDER_H_
