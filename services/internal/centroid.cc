#include "services/internal/centroid.h"

#include <cmath>

namespace newsdedup {
namespace internal {

float Centroid::Dot(const Embedding& query) const {
  double dot = 0.0;
  if (!query.sparse.empty()) {
    for (size_t i = 0; i < query.sparse.size(); ++i) {
      auto it = sparse_.find(query.sparse.ids[i]);
      if (it != sparse_.end()) dot += query.sparse.weights[i] * it->second;
    }
  } else {
    for (size_t i = 0; i < dense_.size() && i < query.dense.size(); ++i) {
      dot += dense_[i] * query.dense[i];
    }
  }
  return static_cast<float>(dot);
}

float Centroid::Dot(const Centroid& other) const {
  // Iterate the smaller map.
  const Centroid& small = sparse_.size() <= other.sparse_.size() ? *this : other;
  const Centroid& large = &small == this ? other : *this;
  double dot = 0.0;
  for (const auto& [id, weight] : small.sparse_) {
    auto it = large.sparse_.find(id);
    if (it != large.sparse_.end()) dot += weight * it->second;
  }
  for (size_t i = 0; i < dense_.size() && i < other.dense_.size(); ++i) {
    dot += dense_[i] * other.dense_[i];
  }
  return static_cast<float>(dot);
}

void Centroid::Add(const Embedding& member) {
  // |s + x|^2 = |s|^2 + 2 s.x + |x|^2
  const double dot = Dot(member);
  double member_norm2 = 0.0;
  if (!member.sparse.empty()) {
    for (size_t i = 0; i < member.sparse.size(); ++i) {
      sparse_[member.sparse.ids[i]] += member.sparse.weights[i];
      member_norm2 += member.sparse.weights[i] * member.sparse.weights[i];
    }
  } else {
    if (dense_.empty()) dense_.assign(member.dense.size(), 0.0f);
    for (size_t i = 0; i < dense_.size() && i < member.dense.size(); ++i) {
      dense_[i] += member.dense[i];
      member_norm2 += member.dense[i] * member.dense[i];
    }
  }
  norm2_ += 2.0 * dot + member_norm2;
  ++count_;
}

void Centroid::Merge(const Centroid& other) {
  const double dot = Dot(other);
  for (const auto& [id, weight] : other.sparse_) sparse_[id] += weight;
  if (!other.dense_.empty()) {
    if (dense_.empty()) dense_.assign(other.dense_.size(), 0.0f);
    for (size_t i = 0; i < dense_.size(); ++i) dense_[i] += other.dense_[i];
  }
  norm2_ += 2.0 * dot + other.norm2_;
  count_ += other.count_;
}

float Centroid::Cosine(const Embedding& query) const {
  if (norm2_ <= 0.0) return 0.0f;
  return Dot(query) / static_cast<float>(std::sqrt(norm2_));
}

float Centroid::Cosine(const Centroid& other) const {
  if (norm2_ <= 0.0 || other.norm2_ <= 0.0) return 0.0f;
  return Dot(other) / static_cast<float>(std::sqrt(norm2_ * other.norm2_));
}

}  // namespace internal
}  // namespace newsdedup
