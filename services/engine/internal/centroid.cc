#include "services/engine/internal/centroid.h"

#include <algorithm>
#include <cmath>

namespace newsdedup {
namespace internal {

float Centroid::Dot(VectorView query) const {
  double dot = 0.0;
  if (!query.ids.empty()) {
    for (size_t i = 0; i < query.ids.size(); ++i) {
      auto it = sparse_.find(query.ids[i]);
      if (it != sparse_.end()) {
        dot += query.weights[i] * it->second.weight;
      }
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
  const Centroid& small =
      sparse_.size() <= other.sparse_.size() ? *this : other;
  const Centroid& large = &small == this ? other : *this;
  double dot = 0.0;
  for (const auto& [id, feature] : small.sparse_) {
    auto it = large.sparse_.find(id);
    if (it != large.sparse_.end()) dot += feature.weight * it->second.weight;
  }
  for (size_t i = 0; i < dense_.size() && i < other.dense_.size(); ++i) {
    dot += dense_[i] * other.dense_[i];
  }
  return static_cast<float>(dot);
}

void Centroid::Add(VectorView member) {
  // |s + x|^2 = |s|^2 + 2 s.x + |x|^2
  const double dot = Dot(member);
  double member_norm2 = 0.0;
  if (!member.ids.empty()) {
    for (size_t i = 0; i < member.ids.size(); ++i) {
      Feature& feature = sparse_[member.ids[i]];
      feature.weight += member.weights[i];
      ++feature.members;
      member_norm2 += member.weights[i] * member.weights[i];
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

void Centroid::Subtract(VectorView member) {
  // |s - x|^2 = |s|^2 - 2 s.x + |x|^2
  const double dot = Dot(member);
  double member_norm2 = 0.0;
  if (!member.ids.empty()) {
    for (size_t i = 0; i < member.ids.size(); ++i) {
      auto it = sparse_.find(member.ids[i]);
      if (it == sparse_.end()) continue;
      it->second.weight -= member.weights[i];
      // A feature no member has any more goes. Its sum is only zero up to
      // rounding (x + y - x - y), and a story that lives for months would
      // otherwise keep every word any member ever had.
      if (--it->second.members <= 0) sparse_.erase(it);
      member_norm2 += member.weights[i] * member.weights[i];
    }
  } else {
    for (size_t i = 0; i < dense_.size() && i < member.dense.size(); ++i) {
      dense_[i] -= member.dense[i];
      member_norm2 += member.dense[i] * member.dense[i];
    }
  }
  if (--count_ == 0) {
    // No member left: exactly the empty sum, without rounding residue and
    // without the memory (an expired story keeps its record for good).
    *this = Centroid();
    return;
  }
  norm2_ = std::max(0.0, norm2_ - 2.0 * dot + member_norm2);
}

std::vector<uint32_t> Centroid::TopSharedFeatures(VectorView query,
                                                  int n) const {
  std::vector<std::pair<float, uint32_t>> shared;
  for (size_t i = 0; i < query.ids.size(); ++i) {
    auto it = sparse_.find(query.ids[i]);
    if (it != sparse_.end() && it->second.weight > 0) {
      shared.push_back({query.weights[i] * it->second.weight, query.ids[i]});
    }
  }
  const size_t keep = std::min<size_t>(std::max(n, 0), shared.size());
  std::partial_sort(
      shared.begin(), shared.begin() + keep, shared.end(),
      [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<uint32_t> ids;
  for (size_t i = 0; i < keep; ++i) ids.push_back(shared[i].second);
  return ids;
}

void Centroid::Merge(const Centroid& other) {
  const double dot = Dot(other);
  for (const auto& [id, feature] : other.sparse_) {
    Feature& mine = sparse_[id];
    mine.weight += feature.weight;
    mine.members += feature.members;
  }
  if (!other.dense_.empty()) {
    if (dense_.empty()) dense_.assign(other.dense_.size(), 0.0f);
    for (size_t i = 0; i < dense_.size(); ++i) dense_[i] += other.dense_[i];
  }
  norm2_ += 2.0 * dot + other.norm2_;
  count_ += other.count_;
}

float Centroid::Cosine(VectorView query) const {
  if (norm2_ <= 0.0) return 0.0f;
  return Dot(query) / static_cast<float>(std::sqrt(norm2_));
}

float Centroid::Cosine(const Centroid& other) const {
  if (norm2_ <= 0.0 || other.norm2_ <= 0.0) return 0.0f;
  return Dot(other) / static_cast<float>(std::sqrt(norm2_ * other.norm2_));
}

}  // namespace internal
}  // namespace newsdedup
