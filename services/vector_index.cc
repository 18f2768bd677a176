#include "services/vector_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/invlists/InvertedLists.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"

namespace newsdedup {
namespace {

// FAISS 1.7.3 spells its id type faiss::Index::idx_t (DESIGN trap 2).
using FaissId = faiss::Index::idx_t;

// One time bucket's vectors. Starts exact (IndexFlatIP behind an IndexIDMap
// for our ids); past the exact limit it is rebuilt as an IndexIVFFlat, which
// stores our ids itself. Every FAISS call below may throw; the index class
// catches and converts.
class Shard {
 public:
  Shard(const VectorIndexOptions& options) : options_(options) {
    auto flat = std::make_unique<faiss::IndexIDMap>(
        new faiss::IndexFlatIP(options.dimension));
    flat->own_fields = true;
    flat_ = std::move(flat);
  }

  int64_t size() const { return flat_ ? flat_->ntotal : ivf_->ntotal; }

  void Add(FaissId id, const float* vector) {
    if (flat_) {
      flat_->add_with_ids(1, vector, &id);
      if (flat_->ntotal >= options_.exact_limit) ConvertToIvf();
    } else {
      ivf_->add_with_ids(1, vector, &id);
    }
  }

  // Appends up to k (id, score) hits to `out`.
  void Search(const float* query, int k, std::vector<Neighbor>* out) const {
    if (size() == 0) return;
    std::vector<float> scores(k);
    std::vector<FaissId> ids(k);
    if (flat_) {
      flat_->search(1, query, k, scores.data(), ids.data());
    } else {
      faiss::SearchParametersIVF params;
      params.nprobe = options_.probes;
      ivf_->search(1, query, k, scores.data(), ids.data(), &params);
    }
    for (int i = 0; i < k; ++i) {
      if (ids[i] >= 0) out->push_back({ids[i], scores[i]});
    }
  }

  size_t Remove(FaissId id) {
    faiss::IDSelectorArray selector(1, &id);
    return flat_ ? flat_->remove_ids(selector) : ivf_->remove_ids(selector);
  }

  bool Relabel(FaissId old_id, FaissId new_id) {
    if (flat_) {
      // IndexIDMap keeps our ids in a plain vector next to the index.
      auto it = std::find(flat_->id_map.begin(), flat_->id_map.end(), old_id);
      if (it == flat_->id_map.end()) return false;
      *it = new_id;
      return true;
    }
    // IVF lists store our ids next to the vectors.
    auto* lists = dynamic_cast<faiss::ArrayInvertedLists*>(ivf_->invlists);
    if (lists == nullptr) return false;
    for (std::vector<FaissId>& ids : lists->ids) {
      auto it = std::find(ids.begin(), ids.end(), old_id);
      if (it != ids.end()) {
        *it = new_id;
        return true;
      }
    }
    return false;
  }

 private:
  // Trains an IVF index on the shard's vectors and moves them into it.
  void ConvertToIvf() {
    const auto& flat = dynamic_cast<const faiss::IndexFlat&>(*flat_->index);
    const float* vectors = flat.get_xb();
    const FaissId n = flat_->ntotal;
    auto quantizer = std::make_unique<faiss::IndexFlatIP>(options_.dimension);
    auto ivf = std::make_unique<faiss::IndexIVFFlat>(
        quantizer.get(), options_.dimension, options_.lists,
        faiss::METRIC_INNER_PRODUCT);
    ivf->own_fields = true;
    quantizer.release();
    ivf->cp.verbose = false;
    ivf->train(n, vectors);
    ivf->add_with_ids(n, vectors, flat_->id_map.data());
    ivf_ = std::move(ivf);
    flat_.reset();
  }

  const VectorIndexOptions options_;
  std::unique_ptr<faiss::IndexIDMap> flat_;   // while exact
  std::unique_ptr<faiss::IndexIVFFlat> ivf_;  // after conversion
};

class TimeShardedIndex final : public VectorIndex {
 public:
  explicit TimeShardedIndex(const VectorIndexOptions& options)
      : options_(options) {
    // FAISS computes inner products with BLAS only from 20 queries up and
    // otherwise uses a scalar loop in the packaged (non-AVX) build; the
    // engine searches one query at a time, where BLAS (OpenBLAS picks SIMD
    // kernels at run time) is several times faster.
    faiss::distance_compute_blas_threshold = 1;
  }

  int dimension() const override { return options_.dimension; }

  absl::Status Add(int64_t id, int64_t bucket,
                   absl::Span<const float> vector) override {
    if (static_cast<int>(vector.size()) != options_.dimension) {
      return absl::InvalidArgumentError(
          absl::StrCat("vector has ", vector.size(), " floats, index expects ",
                       options_.dimension));
    }
    try {
      auto& shard = shards_[bucket];
      if (shard == nullptr) shard = std::make_unique<Shard>(options_);
      shard->Add(id, vector.data());
    } catch (const faiss::FaissException& e) {
      return absl::InternalError(absl::StrCat("FAISS add failed: ", e.what()));
    }
    ++size_;
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Neighbor>> Search(
      absl::Span<const float> query, int k, int64_t min_bucket,
      int64_t max_bucket) const override {
    if (static_cast<int>(query.size()) != options_.dimension) {
      return absl::InvalidArgumentError(absl::StrCat("query has ", query.size(),
                                                     " floats, index expects ",
                                                     options_.dimension));
    }
    std::vector<Neighbor> merged;
    if (k <= 0) return merged;
    try {
      for (auto it = shards_.lower_bound(min_bucket);
           it != shards_.end() && it->first <= max_bucket; ++it) {
        it->second->Search(query.data(), k, &merged);
      }
      if (min_bucket != kTimelessBucket) {
        auto timeless = shards_.find(kTimelessBucket);
        if (timeless != shards_.end()) {
          timeless->second->Search(query.data(), k, &merged);
        }
      }
    } catch (const faiss::FaissException& e) {
      return absl::InternalError(
          absl::StrCat("FAISS search failed: ", e.what()));
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
      removed = shard->second->Remove(id);
    } catch (const faiss::FaissException& e) {
      return absl::InternalError(
          absl::StrCat("FAISS remove failed: ", e.what()));
    }
    size_ -= static_cast<int64_t>(removed);
    return removed > 0;
  }

  bool Relabel(int64_t old_id, int64_t new_id, int64_t bucket) override {
    auto shard = shards_.find(bucket);
    return shard != shards_.end() && shard->second->Relabel(old_id, new_id);
  }

  int64_t DropBucketsBefore(int64_t bucket) override {
    int64_t dropped = 0;
    for (auto it = shards_.begin();
         it != shards_.end() && it->first < bucket;) {
      if (it->first == kTimelessBucket) {
        ++it;
        continue;
      }
      dropped += it->second->size();
      it = shards_.erase(it);
    }
    size_ -= dropped;
    return dropped;
  }

  int64_t size() const override { return size_; }
  int num_shards() const override { return static_cast<int>(shards_.size()); }

 private:
  const VectorIndexOptions options_;
  std::map<int64_t, std::unique_ptr<Shard>> shards_;
  int64_t size_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<VectorIndex>> NewTimeShardedIndex(
    const VectorIndexOptions& options) {
  if (options.dimension <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "index dimension must be positive, got ", options.dimension));
  }
  if (options.lists <= 0 || options.probes <= 0 ||
      options.exact_limit < 39 * static_cast<int64_t>(options.lists)) {
    return absl::InvalidArgumentError(
        "need lists > 0, probes > 0 and exact_limit >= 39 * lists (FAISS "
        "trains each list's centroid on the shard's vectors)");
  }
  return std::make_unique<TimeShardedIndex>(options);
}

absl::StatusOr<std::unique_ptr<VectorIndex>> NewTimeShardedFlatIndex(
    int dimension) {
  VectorIndexOptions options;
  options.dimension = dimension;
  options.exact_limit = std::numeric_limits<int64_t>::max();
  return NewTimeShardedIndex(options);
}

}  // namespace newsdedup
