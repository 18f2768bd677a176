#include "embeddings/embedder.h"

#include <algorithm>

namespace newsdedup {

float SparseDot(const SparseVector& a, const SparseVector& b) {
  return SparseDot(a.ids, a.weights, b.ids, b.weights);
}

float SparseDot(absl::Span<const uint32_t> a_ids,
                absl::Span<const float> a_weights,
                absl::Span<const uint32_t> b_ids,
                absl::Span<const float> b_weights) {
  float dot = 0.0f;
  size_t i = 0, j = 0;
  while (i < a_ids.size() && j < b_ids.size()) {
    if (a_ids[i] < b_ids[j]) {
      ++i;
    } else if (a_ids[i] > b_ids[j]) {
      ++j;
    } else {
      dot += a_weights[i++] * b_weights[j++];
    }
  }
  return dot;
}

float DenseDot(absl::Span<const float> a, absl::Span<const float> b) {
  float dot = 0.0f;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) dot += a[i] * b[i];
  return dot;
}

const SparseVector& Embedding::names() const {
  static const SparseVector* const kNone = new SparseVector();
  return names_view != nullptr ? *names_view : *kNone;
}

float Similarity(const Embedding& a, const Embedding& b) {
  if (!a.sparse.empty() && !b.sparse.empty())
    return SparseDot(a.sparse, b.sparse);
  return DenseDot(a.dense, b.dense);
}

namespace {

// The default PreparedText: the input, copied.
class CopiedInput final : public PreparedText {
 public:
  explicit CopiedInput(const EmbedInput& input)
      : title_(input.title),
        body_(input.body),
        title_names_(input.title_names.begin(), input.title_names.end()),
        body_names_(input.body_names.begin(), input.body_names.end()) {}

  EmbedInput input() const {
    return {title_, body_, title_names_, body_names_};
  }

 private:
  std::string title_, body_;
  std::vector<std::string> title_names_, body_names_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PreparedText>> Embedder::Prepare(
    const EmbedInput& input) const {
  return std::make_unique<CopiedInput>(input);
}

absl::StatusOr<Embedding> Embedder::EmbedPrepared(const PreparedText& prepared,
                                                  EmbedMode mode) {
  return Embed(static_cast<const CopiedInput&>(prepared).input(), mode);
}

}  // namespace newsdedup
