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

const SparseVector& Embedding::names() const {
  static const SparseVector* const kNone = new SparseVector();
  return names_view != nullptr ? *names_view : *kNone;
}

float Similarity(const Embedding& a, const Embedding& b) {
  if (!a.sparse.empty() && !b.sparse.empty())
    return SparseDot(a.sparse, b.sparse);
  float dot = 0.0f;
  const size_t n = std::min(a.dense.size(), b.dense.size());
  for (size_t i = 0; i < n; ++i) dot += a.dense[i] * b.dense[i];
  return dot;
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
