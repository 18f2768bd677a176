// What the engine keeps of an article's embedding once the article is
// placed, and a view of a vector that centroids and similarities read
// from either that or a fresh Embedding. Internal to services/.
//
// An Embedding carries what placing an article needs (the dense copy the
// index takes, the document frequencies the own-word rule reads) in 136
// bytes before its arrays, its sparse ids and weights in two allocations.
// A held article needs its vector (to leave its centroid), its names (for
// the learned model) and what Embedder::Forget reads: StoredEmbedding
// keeps those in 32 bytes and one allocation (a second one only for an
// article with names kept or passages), which at a million articles is
// about 100 MB less.
#ifndef NEWSDEDUP_SERVICES_ENGINE_INTERNAL_STORED_EMBEDDING_H_
#define NEWSDEDUP_SERVICES_ENGINE_INTERNAL_STORED_EMBEDDING_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "embeddings/embedder.h"

namespace newsdedup {
namespace internal {

// A vector that is not owned: sparse (ascending `ids`, `weights` of the
// same length) when `ids` is not empty, else `dense`.
struct VectorView {
  absl::Span<const uint32_t> ids;
  absl::Span<const float> weights;
  absl::Span<const float> dense;

  VectorView() = default;
  // The embedding's sparse vector, or its dense one when it has none.
  VectorView(const Embedding& embedding);  // NOLINT: a view of it
  // A sparse vector (a names view).
  VectorView(const SparseVector& sparse);  // NOLINT: a view of it

  bool sparse() const { return !ids.empty(); }
};

// Dot product: sparse when both are sparse, dense otherwise (as
// newsdedup::Similarity for two embeddings).
float Dot(VectorView a, VectorView b);

class StoredEmbedding {
 public:
  StoredEmbedding() = default;
  // Keeps `embedding`'s sparse vector (its dense one when it has no sparse
  // one), names view, passages, statistics and word count.
  explicit StoredEmbedding(const Embedding& embedding);

  StoredEmbedding(StoredEmbedding&&) noexcept = default;
  StoredEmbedding& operator=(StoredEmbedding&&) noexcept = default;

  VectorView vector() const;
  // Asks the CPU for the start of the vector's ids and weights, ahead of
  // a Dot that will read them.
  void Prefetch() const;
  // Empty unless the embedder made a names view and the engine kept it.
  const SparseVector& names() const;
  int num_words() const { return num_words_; }

  // What Embedder::Forget reads of the embedding: its sparse ids, the
  // statistics that counted it and its passages.
  Embedding ForForget() const;

 private:
  struct FreeBlock {
    void operator()(void* block) const { ::operator delete(block); }
  };
  const uint32_t* ids() const;
  const float* floats() const;  // sparse weights, or the dense vector

  // Sparse: `size_` ids, then `size_` weights; dense: `size_` floats.
  std::unique_ptr<void, FreeBlock> block_;
  uint32_t size_ = 0;
  bool dense_ = false;
  int32_t num_words_ = 0;
  int32_t statistics_ = -1;
  // What most articles lack (a headline has no passages, and names are
  // kept only for the learned model): null then.
  struct Shared {
    std::shared_ptr<const SparseVector> names_view;
    std::shared_ptr<const std::vector<uint32_t>> passages;
  };
  std::unique_ptr<const Shared> shared_;
};

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_INTERNAL_STORED_EMBEDDING_H_
