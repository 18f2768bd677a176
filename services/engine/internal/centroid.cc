#include "services/engine/internal/centroid.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace newsdedup {
namespace internal {
namespace {

// A sorted sum of fewer features is scanned whole; a larger one has
// buckets of about kFeaturesPerBucket features.
constexpr size_t kMinBucketedFeatures = 8;
constexpr size_t kFeaturesPerBucket = 4;

}  // namespace

inline const Centroid::Feature* Centroid::FindSorted(uint32_t id) const {
  auto it = sorted_.begin();
  auto end = sorted_.end();
  if (bucket_bits_ > 0) {
    const uint32_t bucket = id >> (32 - bucket_bits_);
    end = it + bucket_start_[bucket + 1];
    it += bucket_start_[bucket];
  }
  // A few features: a scan is quicker than a search.
  while (it != end && it->id < id) ++it;
  return it != end && it->id == id ? &it->feature : nullptr;
}

const Centroid::Feature* Centroid::Find(uint32_t id) const {
  if (!hashed_) return FindSorted(id);
  auto it = table_.find(id);
  return it == table_.end() ? nullptr : &it->second;
}

Centroid::Feature* Centroid::Find(uint32_t id) {
  return const_cast<Feature*>(std::as_const(*this).Find(id));
}

void Centroid::IndexBuckets() {
  static_assert(kMaxSortedFeatures <= UINT16_MAX);
  if (sorted_.size() < kMinBucketedFeatures) {
    std::vector<uint16_t>().swap(bucket_start_);
    bucket_bits_ = 0;
    return;
  }
  int bits = 1;  // about kFeaturesPerBucket features a bucket
  while ((kFeaturesPerBucket << bits) < sorted_.size()) ++bits;
  const size_t buckets = size_t{1} << bits;
  bucket_start_.resize(buckets + 1);
  size_t j = 0;
  for (size_t b = 0; b <= buckets; ++b) {
    const uint64_t first_id = uint64_t{b} << (32 - bits);
    while (j < sorted_.size() && sorted_[j].id < first_id) ++j;
    bucket_start_[b] = static_cast<uint16_t>(j);
  }
  bucket_bits_ = static_cast<uint8_t>(bits);
}

template <typename Fn>
void Centroid::ForEachFeature(Fn fn) const {
  if (hashed_) {
    for (const auto& [id, feature] : table_) fn(id, feature);
  } else {
    for (const SortedFeature& f : sorted_) fn(f.id, f.feature);
  }
}

template <typename At>
void Centroid::AddFeatures(size_t count, At at) {
  size_t added = 0;  // features new to the sum, while sorted
  if (!hashed_) {
    for (size_t i = 0; i < count; ++i) {
      if (Find(at(i).id) == nullptr) ++added;
    }
    if (sorted_.size() + added > kMaxSortedFeatures) Hash();
  }
  if (hashed_) {
    for (size_t i = 0; i < count; ++i) {
      const SortedFeature f = at(i);
      table_[f.id] += f.feature;
    }
    return;
  }
  if (added == 0) {  // every feature is held already
    for (size_t i = 0; i < count; ++i) {
      const SortedFeature f = at(i);
      *Find(f.id) += f.feature;
    }
    return;
  }
  // One merge of two ascending lists into a vector of the exact size:
  // held for as long as the story lives, it keeps no spare capacity.
  std::vector<SortedFeature> merged;
  merged.reserve(sorted_.size() + added);
  size_t j = 0;
  for (size_t i = 0; i < count; ++i) {
    const SortedFeature f = at(i);
    while (j < sorted_.size() && sorted_[j].id < f.id) {
      merged.push_back(sorted_[j++]);
    }
    if (j < sorted_.size() && sorted_[j].id == f.id) {
      SortedFeature sum = sorted_[j++];
      sum.feature += f.feature;
      merged.push_back(sum);
    } else {
      merged.push_back(f);
    }
  }
  merged.insert(merged.end(), sorted_.begin() + j, sorted_.end());
  sorted_ = std::move(merged);
  IndexBuckets();
}

void Centroid::Hash() {
  table_.reserve(sorted_.size());
  for (const SortedFeature& f : sorted_) table_.emplace(f.id, f.feature);
  std::vector<SortedFeature>().swap(sorted_);
  IndexBuckets();
  hashed_ = true;
}

float Centroid::Dot(VectorView query) const {
  double dot = 0.0;
  if (!query.ids.empty()) {
    // The loop for each kind of sum, for the lookups to be inlined.
    if (hashed_) {
      for (size_t i = 0; i < query.ids.size(); ++i) {
        auto it = table_.find(query.ids[i]);
        if (it != table_.end()) dot += query.weights[i] * it->second.weight;
      }
    } else {
      for (size_t i = 0; i < query.ids.size(); ++i) {
        if (const Feature* feature = FindSorted(query.ids[i])) {
          dot += query.weights[i] * feature->weight;
        }
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
  // Iterate the smaller sum.
  const Centroid& small =
      num_features() <= other.num_features() ? *this : other;
  const Centroid& large = &small == this ? other : *this;
  double dot = 0.0;
  if (!small.hashed_ && !large.hashed_ &&
      small.sorted_.size() * 8 >= large.sorted_.size()) {
    // Sums of like sizes: one walk along both.
    auto a = small.sorted_.begin();
    auto b = large.sorted_.begin();
    while (a != small.sorted_.end() && b != large.sorted_.end()) {
      if (a->id < b->id) {
        ++a;
      } else if (b->id < a->id) {
        ++b;
      } else {
        dot += a->feature.weight * b->feature.weight;
        ++a;
        ++b;
      }
    }
  } else if (!small.hashed_ && !large.hashed_) {
    for (const SortedFeature& f : small.sorted_) {
      if (const Feature* match = large.FindSorted(f.id)) {
        dot += f.feature.weight * match->weight;
      }
    }
  } else {
    small.ForEachFeature([&large, &dot](uint32_t id, const Feature& feature) {
      if (const Feature* match = large.Find(id)) {
        dot += feature.weight * match->weight;
      }
    });
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
    AddFeatures(member.ids.size(), [&member](size_t i) {
      return SortedFeature{member.ids[i], Feature{member.weights[i], 1}};
    });
    for (float w : member.weights) member_norm2 += w * w;
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
    bool emptied = false;
    for (size_t i = 0; i < member.ids.size(); ++i) {
      Feature* feature = Find(member.ids[i]);
      if (feature == nullptr) continue;
      feature->weight -= member.weights[i];
      // A feature no member has any more goes. Its sum is only zero up to
      // rounding (x + y - x - y), and a story that lives for months would
      // otherwise keep every word any member ever had.
      if (--feature->members <= 0) {
        if (hashed_) {
          table_.erase(member.ids[i]);
        } else {
          emptied = true;
        }
      }
      member_norm2 += member.weights[i] * member.weights[i];
    }
    if (emptied) {
      sorted_.erase(std::remove_if(sorted_.begin(), sorted_.end(),
                                   [](const SortedFeature& f) {
                                     return f.feature.members <= 0;
                                   }),
                    sorted_.end());
      IndexBuckets();
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
    const Feature* feature = Find(query.ids[i]);
    if (feature != nullptr && feature->weight > 0) {
      shared.push_back({query.weights[i] * feature->weight, query.ids[i]});
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
  if (other.hashed_) {
    if (!hashed_) Hash();
    for (const auto& [id, feature] : other.table_) table_[id] += feature;
  } else {
    AddFeatures(other.sorted_.size(),
                [&other](size_t i) { return other.sorted_[i]; });
  }
  if (!other.dense_.empty()) {
    if (dense_.empty()) dense_.assign(other.dense_.size(), 0.0f);
    for (size_t i = 0; i < dense_.size(); ++i) dense_[i] += other.dense_[i];
  }
  norm2_ += 2.0 * dot + other.norm2_;
  count_ += other.count_;
}

std::pair<float, float> Centroid::CosineAndPart(
    VectorView query,
    absl::FunctionRef<bool(size_t i, int members)> keep) const {
  if (norm2_ <= 0.0) return {0.0f, 0.0f};
  // Summed as Dot sums them, in the query's order.
  double dot = 0.0;
  double part = 0.0;
  for (size_t i = 0; i < query.ids.size(); ++i) {
    const Feature* feature = Find(query.ids[i]);
    const bool kept = keep(i, feature == nullptr ? 0 : feature->members);
    if (feature == nullptr) continue;
    const double product = query.weights[i] * feature->weight;
    dot += product;
    if (kept) part += product;
  }
  const float norm = static_cast<float>(std::sqrt(norm2_));
  return {static_cast<float>(dot) / norm, static_cast<float>(part) / norm};
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
