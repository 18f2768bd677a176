#include "services/vector_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"

namespace newsdedup {
namespace {

// FAISS 1.7.3 spells its id type faiss::Index::idx_t (DESIGN trap 2).
using FaissId = faiss::Index::idx_t;

class TimeShardedFlatIndex final : public VectorIndex {
 public:
  explicit TimeShardedFlatIndex(int dimension) : dimension_(dimension) {
    // FAISS computes inner products with BLAS only from 20 queries up and
    // otherwise uses a scalar loop in the packaged (non-AVX) build; the
    // engine searches one query at a time, where BLAS (OpenBLAS picks SIMD
    // kernels at run time) is several times faster.
    faiss::distance_compute_blas_threshold = 1;
  }

  int dimension() const override { return dimension_; }

  absl::Status Add(int64_t id, int64_t bucket,
                   absl::Span<const float> vector) override {
    if (static_cast<int>(vector.size()) != dimension_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "vector has ", vector.size(), " floats, index expects ", dimension_));
    }
    // Every FAISS call is wrapped: FAISS reports errors by throwing.
    try {
      auto& shard = shards_[bucket];
      if (shard == nullptr) {
        shard = std::make_unique<faiss::IndexIDMap>(
            new faiss::IndexFlatIP(dimension_));
        shard->own_fields = true;
      }
      const FaissId faiss_id = id;
      shard->add_with_ids(1, vector.data(), &faiss_id);
    } catch (const faiss::FaissException& e) {
      return absl::InternalError(absl::StrCat("FAISS add failed: ", e.what()));
    }
    ++size_;
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Neighbor>> Search(
      absl::Span<const float> query, int k, int64_t min_bucket,
      int64_t max_bucket) const override {
    if (static_cast<int>(query.size()) != dimension_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "query has ", query.size(), " floats, index expects ", dimension_));
    }
    std::vector<Neighbor> merged;
    if (k <= 0) return merged;
    std::vector<float> scores(k);
    std::vector<FaissId> ids(k);
    auto search_shard = [&](const faiss::Index& shard) -> absl::Status {
      if (shard.ntotal == 0) return absl::OkStatus();
      try {
        shard.search(1, query.data(), k, scores.data(), ids.data());
      } catch (const faiss::FaissException& e) {
        return absl::InternalError(
            absl::StrCat("FAISS search failed: ", e.what()));
      }
      for (int i = 0; i < k; ++i) {
        if (ids[i] >= 0) merged.push_back({ids[i], scores[i]});
      }
      return absl::OkStatus();
    };
    for (auto it = shards_.lower_bound(min_bucket);
         it != shards_.end() && it->first <= max_bucket; ++it) {
      if (absl::Status s = search_shard(*it->second); !s.ok()) return s;
    }
    if (min_bucket != kTimelessBucket) {
      auto timeless = shards_.find(kTimelessBucket);
      if (timeless != shards_.end()) {
        if (absl::Status s = search_shard(*timeless->second); !s.ok()) return s;
      }
    }
    const size_t keep = std::min<size_t>(k, merged.size());
    std::partial_sort(merged.begin(), merged.begin() + keep, merged.end(),
                      [](const Neighbor& a, const Neighbor& b) {
                        return a.score > b.score ||
                               (a.score == b.score && a.id < b.id);
                      });
    merged.resize(keep);
    return merged;
  }

  absl::StatusOr<bool> Remove(int64_t id, int64_t bucket) override {
    auto shard = shards_.find(bucket);
    if (shard == shards_.end()) return false;
    size_t removed = 0;
    try {
      const FaissId faiss_id = id;
      faiss::IDSelectorArray selector(1, &faiss_id);
      removed = shard->second->remove_ids(selector);
    } catch (const faiss::FaissException& e) {
      return absl::InternalError(absl::StrCat("FAISS remove failed: ", e.what()));
    }
    size_ -= static_cast<int64_t>(removed);
    return removed > 0;
  }

  bool Relabel(int64_t old_id, int64_t new_id, int64_t bucket) override {
    auto shard = shards_.find(bucket);
    if (shard == shards_.end()) return false;
    // IndexIDMap keeps external ids in a plain vector next to the index.
    std::vector<FaissId>& ids = shard->second->id_map;
    auto it = std::find(ids.begin(), ids.end(), old_id);
    if (it == ids.end()) return false;
    *it = new_id;
    return true;
  }

  int64_t DropBucketsBefore(int64_t bucket) override {
    int64_t dropped = 0;
    for (auto it = shards_.begin(); it != shards_.end() && it->first < bucket;) {
      if (it->first == kTimelessBucket) {
        ++it;
        continue;
      }
      dropped += it->second->ntotal;
      it = shards_.erase(it);
    }
    size_ -= dropped;
    return dropped;
  }

  int64_t size() const override { return size_; }
  int num_shards() const override { return static_cast<int>(shards_.size()); }

 private:
  const int dimension_;
  std::map<int64_t, std::unique_ptr<faiss::IndexIDMap>> shards_;
  int64_t size_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<VectorIndex>> NewTimeShardedFlatIndex(
    int dimension) {
  if (dimension <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("index dimension must be positive, got ", dimension));
  }
  return std::make_unique<TimeShardedFlatIndex>(dimension);
}

}  // namespace newsdedup
