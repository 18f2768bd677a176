// Running sum of member embeddings: the centroid of a cluster.
// Internal to services/.
//
// Keeps a sparse sum when members have sparse vectors (exact, no hashing
// noise) and a dense sum otherwise, plus the squared norm of the sum so that
// cosine similarities cost one pass over the query.
#ifndef NEWSDEDUP_SERVICES_ENGINE_INTERNAL_CENTROID_H_
#define NEWSDEDUP_SERVICES_ENGINE_INTERNAL_CENTROID_H_

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "embeddings/embedder.h"
#include "services/engine/internal/stored_embedding.h"

namespace newsdedup {
namespace internal {

class Centroid {
 public:
  // Adds one member.
  void Add(VectorView member);
  // Adds every member of `other`.
  void Merge(const Centroid& other);
  // Removes one member added earlier with Add().
  void Subtract(VectorView member);

  // Sparse feature ids of `query` that contribute most to its dot product
  // with the centroid, largest first; at most `n`.
  std::vector<uint32_t> TopSharedFeatures(VectorView query, int n) const;

  // Cosine between `query` (L2 norm 1) and the centroid; 0 when empty.
  float Cosine(VectorView query) const;
  // Cosine between two centroids.
  float Cosine(const Centroid& other) const;

  bool empty() const { return count_ == 0; }
  // False while the sum is zero (no member, or members without features).
  bool has_weight() const { return norm2_ > 0.0; }
  int count() const { return count_; }
  // Members that have sparse feature `id`.
  int MembersWith(uint32_t id) const {
    auto it = sparse_.find(id);
    return it == sparse_.end() ? 0 : it->second.members;
  }
  // Distinct sparse features some member has (what the centroid holds).
  size_t num_features() const { return sparse_.size(); }

 private:
  float Dot(VectorView query) const;
  float Dot(const Centroid& other) const;

  struct Feature {
    float weight = 0.0f;  // sum over the members
    int32_t members = 0;  // members that have it
  };
  absl::flat_hash_map<uint32_t, Feature> sparse_;
  std::vector<float> dense_;
  double norm2_ = 0.0;
  int count_ = 0;
};

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_INTERNAL_CENTROID_H_
