#include "services/engine/internal/stored_embedding.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace newsdedup {
namespace internal {

VectorView::VectorView(const Embedding& embedding) {
  if (!embedding.sparse.empty()) {
    ids = embedding.sparse.ids;
    weights = embedding.sparse.weights;
  } else {
    dense = embedding.dense;
  }
}

VectorView::VectorView(const SparseVector& sparse)
    : ids(sparse.ids), weights(sparse.weights) {}

float Dot(VectorView a, VectorView b) {
  if (a.sparse() && b.sparse()) {
    return SparseDot(a.ids, a.weights, b.ids, b.weights);
  }
  return DenseDot(a.dense, b.dense);
}

StoredEmbedding::StoredEmbedding(const Embedding& embedding)
    : num_words_(embedding.num_words), statistics_(embedding.statistics) {
  if (embedding.names_view != nullptr || embedding.passages != nullptr) {
    shared_ = std::make_unique<const Shared>(
        Shared{embedding.names_view, embedding.passages});
  }
  const VectorView vector(embedding);
  dense_ = !vector.sparse();
  size_ =
      static_cast<uint32_t>(dense_ ? vector.dense.size() : vector.ids.size());
  if (size_ == 0) return;
  // One allocation; the ids and floats are created in it as objects of
  // their types, so that reading them back is plain array access.
  const size_t id_bytes = dense_ ? 0 : size_ * sizeof(uint32_t);
  block_.reset(::operator new(id_bytes + size_ * sizeof(float)));
  char* bytes = static_cast<char*>(block_.get());
  if (!dense_) {
    uint32_t* ids = new (bytes) uint32_t[size_];
    std::memcpy(ids, vector.ids.data(), id_bytes);
  }
  float* floats = new (bytes + id_bytes) float[size_];
  std::memcpy(floats, dense_ ? vector.dense.data() : vector.weights.data(),
              size_ * sizeof(float));
}

const uint32_t* StoredEmbedding::ids() const {
  return std::launder(static_cast<const uint32_t*>(block_.get()));
}

const float* StoredEmbedding::floats() const {
  const char* bytes = static_cast<const char*>(block_.get());
  const size_t id_bytes = dense_ ? 0 : size_ * sizeof(uint32_t);
  return std::launder(reinterpret_cast<const float*>(bytes + id_bytes));
}

VectorView StoredEmbedding::vector() const {
  VectorView view;
  if (size_ == 0) return view;
  if (dense_) {
    view.dense = absl::MakeConstSpan(floats(), size_);
  } else {
    view.ids = absl::MakeConstSpan(ids(), size_);
    view.weights = absl::MakeConstSpan(floats(), size_);
  }
  return view;
}

void StoredEmbedding::Prefetch() const {
  // The first lines of the ids and of the weights, which a dot product
  // reads side by side: all of a headline's vector.
  static constexpr size_t kBytes = 256;
  auto prefetch = [](const void* start, size_t bytes) {
    const char* at = static_cast<const char*>(start);
    for (size_t offset = 0; offset < std::min(bytes, kBytes); offset += 64) {
      __builtin_prefetch(at + offset);
    }
  };
  if (size_ == 0) return;
  if (!dense_) prefetch(ids(), size_ * sizeof(uint32_t));
  prefetch(floats(), size_ * sizeof(float));
}

const SparseVector& StoredEmbedding::names() const {
  static const SparseVector* const kNone = new SparseVector();
  return shared_ != nullptr && shared_->names_view != nullptr
             ? *shared_->names_view
             : *kNone;
}

Embedding StoredEmbedding::ForForget() const {
  Embedding embedding;
  if (!dense_ && size_ > 0) {
    embedding.sparse.ids.assign(ids(), ids() + size_);
    embedding.sparse.weights.assign(floats(), floats() + size_);
  }
  embedding.statistics = statistics_;
  embedding.num_words = num_words_;
  if (shared_ != nullptr) embedding.passages = shared_->passages;
  return embedding;
}

}  // namespace internal
}  // namespace newsdedup
