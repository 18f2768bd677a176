// Running sum of member embeddings: the centroid of a cluster.
// Internal to services/.
//
// Keeps a sparse sum when members have sparse vectors (exact, no hashing
// noise) and a dense sum otherwise, plus the squared norm of the sum so that
// cosine similarities cost one pass over the query.
//
// The sparse sum of a story with up to kMaxSortedFeatures features is a
// vector sorted by feature id, 12 bytes a feature; above that, a hash
// table (about 20 bytes a feature at its usual load), where adding a
// member costs what its features cost rather than what the story holds.
// Most stories are small: a table for each cost about 220 bytes per held
// article at 100k articles (issue 26). Both keep the same sums, and a
// member's cosine to either adds its terms in the member's order; only a
// centroid-to-centroid dot product adds them in another order (up to
// rounding in the last bits of a double). Eval's answers on the dev sets
// did not change.
#ifndef NEWSDEDUP_SERVICES_ENGINE_INTERNAL_CENTROID_H_
#define NEWSDEDUP_SERVICES_ENGINE_INTERNAL_CENTROID_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
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
  // Cosine(query) for sparse `query`, and the cosine with the part of it
  // whose features keep(i, members) accepts: i indexes query's features,
  // `members` counts the members that have it (MembersWith). The same
  // values as Cosine of the query and of that part built, in one pass,
  // one lookup a feature.
  std::pair<float, float> CosineAndPart(
      VectorView query,
      absl::FunctionRef<bool(size_t i, int members)> keep) const;

  bool empty() const { return count_ == 0; }
  // False while the sum is zero (no member, or members without features).
  bool has_weight() const { return norm2_ > 0.0; }
  int count() const { return count_; }
  // Members that have sparse feature `id`.
  int MembersWith(uint32_t id) const {
    const Feature* feature = Find(id);
    return feature == nullptr ? 0 : feature->members;
  }
  // Distinct sparse features some member has (what the centroid holds).
  size_t num_features() const {
    return hashed_ ? table_.size() : sorted_.size();
  }

  // The most features kept sorted before the sum moves to a hash table.
  static constexpr size_t kMaxSortedFeatures = 1024;

 private:
  float Dot(VectorView query) const;
  float Dot(const Centroid& other) const;

  struct Feature {
    float weight = 0.0f;  // sum over the members
    int32_t members = 0;  // members that have it

    Feature& operator+=(const Feature& other) {
      weight += other.weight;
      members += other.members;
      return *this;
    }
  };
  struct SortedFeature {
    uint32_t id;
    Feature feature;
  };

  // The feature `id` of the sum; null when no member has it.
  const Feature* Find(uint32_t id) const;
  Feature* Find(uint32_t id);
  const Feature* FindSorted(uint32_t id) const;  // while !hashed_
  // Calls fn(id, feature) for every feature of the sum.
  template <typename Fn>
  void ForEachFeature(Fn fn) const;
  // Adds at(i) (a SortedFeature: its weight to the sum's, its members to
  // the sum's) for i in [0, count), ascending ids.
  template <typename At>
  void AddFeatures(size_t count, At at);
  // Moves the sum from sorted_ into table_.
  void Hash();
  // Rebuilds bucket_start_ after sorted_ changed.
  void IndexBuckets();

  // The sparse sum: sorted_ (ascending ids) until it outgrows
  // kMaxSortedFeatures, then table_. It does not go back: a story that
  // grew that large tends to stay large.
  std::vector<SortedFeature> sorted_;
  // Where in sorted_ the ids whose top bucket_bits_ bits are b begin
  // (bucket_start_[b]; one more entry for the end), about four features a
  // bucket: ids are hashes, so a lookup scans a few features instead of
  // searching the story. Empty (bucket_bits_ 0) below 8 features.
  std::vector<uint16_t> bucket_start_;
  uint8_t bucket_bits_ = 0;
  bool hashed_ = false;
  absl::flat_hash_map<uint32_t, Feature> table_;
  std::vector<float> dense_;
  double norm2_ = 0.0;
  int count_ = 0;
};

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_INTERNAL_CENTROID_H_
