#include "embeddings/embedder.h"

namespace newsdedup {

float SparseDot(const SparseVector& a, const SparseVector& b) {
  float dot = 0.0f;
  size_t i = 0, j = 0;
  while (i < a.ids.size() && j < b.ids.size()) {
    if (a.ids[i] < b.ids[j]) {
      ++i;
    } else if (a.ids[i] > b.ids[j]) {
      ++j;
    } else {
      dot += a.weights[i++] * b.weights[j++];
    }
  }
  return dot;
}

float Similarity(const Embedding& a, const Embedding& b) {
  if (!a.sparse.empty() && !b.sparse.empty())
    return SparseDot(a.sparse, b.sparse);
  float dot = 0.0f;
  const size_t n = std::min(a.dense.size(), b.dense.size());
  for (size_t i = 0; i < n; ++i) dot += a.dense[i] * b.dense[i];
  return dot;
}

}  // namespace newsdedup
