#include "services/vector_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/Heap.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace newsdedup {
namespace {

// FAISS 1.7.3 spells its id type faiss::Index::idx_t (DESIGN trap 2).
using FaissId = faiss::Index::idx_t;

// Inner product of two n-float vectors. The packaged FAISS is a generic
// x86-64 build whose own inner product is scalar; GCC clones this function
// for Haswell-class CPUs (AVX2, FMA) and picks the clone at load time.
__attribute__((target_clones("arch=haswell", "default"))) float InnerProduct(
    const float* a, const float* b, size_t n) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (size_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// FAISS's distance computer for inner-product storage, using InnerProduct.
class FastInnerProductDistance final : public faiss::FlatCodesDistanceComputer {
 public:
  explicit FastInnerProductDistance(const faiss::IndexFlat& storage)
      : FlatCodesDistanceComputer(storage.codes.data(), storage.code_size),
        dimension_(storage.d),
        vectors_(storage.get_xb()) {}

  void set_query(const float* x) override { query_ = x; }

  float distance_to_code(const uint8_t* code) override {
    return InnerProduct(query_, reinterpret_cast<const float*>(code),
                        dimension_);
  }

  float symmetric_dis(FaissId i, FaissId j) override {
    return InnerProduct(vectors_ + i * dimension_, vectors_ + j * dimension_,
                        dimension_);
  }

 private:
  const size_t dimension_;
  const float* const vectors_;
  const float* query_ = nullptr;
};

// The graph minimises distances; inner products are similarities, so the
// graph sees them negated (as inside faiss::IndexHNSW).
class NegatedDistance final : public faiss::DistanceComputer {
 public:
  explicit NegatedDistance(std::unique_ptr<faiss::DistanceComputer> base)
      : base_(std::move(base)) {}
  void set_query(const float* x) override { base_->set_query(x); }
  float operator()(FaissId i) override { return -(*base_)(i); }
  float symmetric_dis(FaissId i, FaissId j) override {
    return -base_->symmetric_dis(i, j);
  }

 private:
  std::unique_ptr<faiss::DistanceComputer> base_;
};

// Flat inner-product storage whose distance computer (what HNSW uses for
// every comparison) is FastInnerProductDistance.
class FastIndexFlatIP final : public faiss::IndexFlatIP {
 public:
  using faiss::IndexFlatIP::IndexFlatIP;
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer()
      const override {
    return new FastInnerProductDistance(*this);
  }
};

// Inner product of two vectors of n signed bytes, exact in 32 bits.
__attribute__((target_clones("arch=haswell", "default"))) int32_t
InnerProductQuantized(const int8_t* a, const int8_t* b, size_t n) {
  int32_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (size_t i = 0; i < n; ++i) {
    sum += static_cast<int32_t>(a[i]) * static_cast<int32_t>(b[i]);
  }
  return sum;
}

// Storage with 8-bit scalar quantisation: each vector is one float scale
// followed by `d` signed bytes, value = scale * byte, the scale chosen per
// vector so that its largest component maps to 127. A quarter of the
// memory of floats, and a quarter of the memory traffic per comparison,
// which is what graph search and exact scans wait on once the shards
// outgrow the CPU caches. For unit vectors the error of a cosine is at
// most a few thousandths; the engine re-scores its candidates exactly.
class QuantizedIndexIP final : public faiss::IndexFlatCodes {
 public:
  explicit QuantizedIndexIP(int dimension)
      : faiss::IndexFlatCodes(sizeof(float) + dimension, dimension,
                              faiss::METRIC_INNER_PRODUCT) {}

  void sa_encode(FaissId n, const float* x, uint8_t* bytes) const override {
    for (FaissId v = 0; v < n; ++v, x += d, bytes += code_size) {
      float largest = 0.0f;
      for (int i = 0; i < d; ++i) largest = std::max(largest, std::abs(x[i]));
      const float scale = largest > 0.0f ? largest / 127.0f : 1.0f;
      std::memcpy(bytes, &scale, sizeof(scale));
      int8_t* values = reinterpret_cast<int8_t*>(bytes + sizeof(scale));
      for (int i = 0; i < d; ++i) {
        values[i] = static_cast<int8_t>(std::lround(x[i] / scale));
      }
    }
  }

  void sa_decode(FaissId n, const uint8_t* bytes, float* x) const override {
    for (FaissId v = 0; v < n; ++v, x += d, bytes += code_size) {
      const float scale = ScaleOf(bytes);
      const int8_t* values = ValuesOf(bytes);
      for (int i = 0; i < d; ++i) x[i] = scale * values[i];
    }
  }

  // Shards search through distance computers; FAISS's batch search entry
  // point is not used.
  void search(FaissId, const float*, FaissId, float*, FaissId*,
              const faiss::SearchParameters*) const override {
    FAISS_THROW_MSG("QuantizedIndexIP::search is not supported");
  }

  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer()
      const override {
    return new Distance(*this);
  }

  static float ScaleOf(const uint8_t* code) {
    float scale;
    std::memcpy(&scale, code, sizeof(scale));
    return scale;
  }
  static const int8_t* ValuesOf(const uint8_t* code) {
    return reinterpret_cast<const int8_t*>(code + sizeof(float));
  }

 private:
  // Compares in integers: the query is quantised like the stored vectors
  // once per query, so every comparison is one int8 x int8 dot product
  // (twice the lanes of converting the codes to floats). The query's own
  // rounding adds at most about as much error as the codes'.
  class Distance final : public faiss::FlatCodesDistanceComputer {
   public:
    explicit Distance(const QuantizedIndexIP& storage)
        : FlatCodesDistanceComputer(storage.codes.data(), storage.code_size),
          storage_(storage),
          query_code_(storage.code_size) {}

    void set_query(const float* x) override {
      storage_.sa_encode(1, x, query_code_.data());
    }

    float distance_to_code(const uint8_t* code) override {
      return Similarity(query_code_.data(), code);
    }

    float symmetric_dis(FaissId i, FaissId j) override {
      return Similarity(codes + i * code_size, codes + j * code_size);
    }

   private:
    float Similarity(const uint8_t* a, const uint8_t* b) const {
      return ScaleOf(a) * ScaleOf(b) *
             static_cast<float>(InnerProductQuantized(
                 ValuesOf(a), ValuesOf(b), static_cast<size_t>(storage_.d)));
    }

    const QuantizedIndexIP& storage_;
    std::vector<uint8_t> query_code_;
  };
};

// Vector storage for a shard, as configured.
faiss::IndexFlatCodes* NewStorage(const VectorIndexOptions& options) {
  if (options.quantize) return new QuantizedIndexIP(options.dimension);
  return new FastIndexFlatIP(options.dimension);
}

// One time bucket's vectors, behind an IndexIDMap that maps FAISS's
// sequential ids to ours. Starts exact (a scan of the stored codes); past
// the exact limit it is rebuilt as an IndexHNSW over the same storage. HNSW
// cannot remove vectors, so removed ids are remembered and filtered out of
// results (deletions and article updates are rare next to inserts). Every FAISS
// call below may throw; the index class catches and converts.
class Shard {
 public:
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  ~Shard() {
    for (omp_lock_t& lock : locks_) omp_destroy_lock(&lock);
  }

  explicit Shard(const VectorIndexOptions& options) : options_(options) {
    index_ = std::make_unique<faiss::IndexIDMap>(NewStorage(options));
    index_->own_fields = true;
  }

  // Vectors searchable in this shard.
  int64_t size() const {
    return index_->ntotal - static_cast<int64_t>(removed_.size());
  }

  void Add(FaissId id, const float* vector) {
    if (graph_) {
      AddToGraph(id, vector);
      return;
    }
    index_->add_with_ids(1, vector, &id);
    if (index_->ntotal >= options_.exact_limit) ConvertToGraph();
  }

  // Appends up to k (id, score) hits to `out`.
  void Search(const float* query, int k, std::vector<Neighbor>* out) const {
    if (size() == 0) return;
    if (!graph_) {
      // Exact: one pass over the contiguous vectors. FAISS would route a
      // single query through BLAS matrix multiplication, which copies the
      // whole shard into its own layout first.
      const auto& storage =
          static_cast<const faiss::IndexFlatCodes&>(*index_->index);
      std::unique_ptr<faiss::FlatCodesDistanceComputer> distance(
          storage.get_FlatCodesDistanceComputer());
      distance->set_query(query);
      std::vector<Neighbor> all(index_->ntotal);
      for (FaissId i = 0; i < index_->ntotal; ++i) {
        all[i] = {index_->id_map[i], (*distance)(i)};
      }
      const size_t keep = std::min<size_t>(k, all.size());
      std::partial_sort(all.begin(), all.begin() + keep, all.end(),
                        [](const Neighbor& a, const Neighbor& b) {
                          return a.score > b.score;
                        });
      out->insert(out->end(), all.begin(), all.begin() + keep);
      return;
    }
    // Ask for enough to make up for removed vectors among the results.
    const int64_t want = std::min<int64_t>(
        index_->ntotal, k + static_cast<int64_t>(removed_.size()));
    // Straight to faiss::HNSW's single-query search: IndexHNSW::search
    // opens an OpenMP team for every call, and waking a second thread for
    // one query costs more than the query.
    const auto& graph = static_cast<const faiss::IndexHNSW&>(*index_->index);
    thread_local faiss::VisitedTable visited(0);
    if (visited.visited.size() < static_cast<size_t>(graph.ntotal)) {
      visited.visited.resize(graph.ntotal);
    }
    std::vector<float> distances(want);
    std::vector<FaissId> vertices(want);
    faiss::maxheap_heapify(want, distances.data(), vertices.data());
    NegatedDistance distance(std::unique_ptr<faiss::DistanceComputer>(
        graph.storage->get_distance_computer()));
    distance.set_query(query);
    graph.hnsw.search(distance, static_cast<int>(want), vertices.data(),
                      distances.data(), visited);
    visited.advance();
    faiss::maxheap_reorder(want, distances.data(), vertices.data());
    int kept = 0;
    for (int64_t i = 0; i < want && kept < k; ++i) {
      if (vertices[i] < 0) continue;
      const FaissId id = index_->id_map[vertices[i]];
      if (removed_.contains(id)) continue;
      out->push_back({id, -distances[i]});
      ++kept;
    }
  }

  size_t Remove(FaissId id) {
    if (std::find(index_->id_map.begin(), index_->id_map.end(), id) ==
            index_->id_map.end() ||
        removed_.contains(id)) {
      return 0;
    }
    if (!graph_) {  // exact storage compacts
      faiss::IDSelectorArray selector(1, &id);
      return index_->remove_ids(selector);
    }
    removed_.insert(id);
    return 1;
  }

  bool Relabel(FaissId old_id, FaissId new_id) {
    if (removed_.contains(old_id)) return false;
    auto it = std::find(index_->id_map.begin(), index_->id_map.end(), old_id);
    if (it == index_->id_map.end()) return false;
    *it = new_id;
    return true;
  }

 private:
  // Inserts one vector into the graph through faiss::HNSW's public
  // per-vertex API. faiss::IndexHNSW::add would create and destroy one lock
  // per vertex of the whole graph on every call, which makes single inserts
  // O(shard size); the locks and the visited table live here instead.
  void AddToGraph(FaissId id, const float* vector) {
    auto& graph = static_cast<faiss::IndexHNSW&>(*index_->index);
    const FaissId vertex = graph.ntotal;
    graph.storage->add(1, vector);
    graph.ntotal = graph.storage->ntotal;
    graph.hnsw.prepare_level_tab(1);
    locks_.emplace_back();
    omp_init_lock(&locks_.back());
    visited_->visited.resize(graph.ntotal);
    NegatedDistance distance(std::unique_ptr<faiss::DistanceComputer>(
        graph.storage->get_distance_computer()));
    distance.set_query(vector);
    graph.hnsw.add_with_locks(distance, graph.hnsw.levels[vertex] - 1,
                              static_cast<int>(vertex), locks_, *visited_);
    index_->id_map.push_back(id);
    index_->ntotal = graph.ntotal;
  }

  // Moves the shard's vectors from exact storage into an HNSW graph.
  void ConvertToGraph() {
    // Decoding then encoding again reproduces quantised codes exactly.
    std::vector<float> vectors(index_->ntotal * options_.dimension);
    index_->index->reconstruct_n(0, index_->ntotal, vectors.data());
    auto graph = std::make_unique<faiss::IndexHNSW>(NewStorage(options_),
                                                    options_.graph_degree);
    graph->own_fields = true;
    graph->hnsw.efConstruction = options_.build_breadth;
    graph->hnsw.efSearch = options_.search_breadth;
    auto mapped = std::make_unique<faiss::IndexIDMap>(graph.release());
    mapped->own_fields = true;
    mapped->add_with_ids(index_->ntotal, vectors.data(), index_->id_map.data());
    index_ = std::move(mapped);
    graph_ = true;
    locks_.resize(index_->ntotal);
    for (omp_lock_t& lock : locks_) omp_init_lock(&lock);
    visited_ = std::make_unique<faiss::VisitedTable>(index_->ntotal);
  }

  const VectorIndexOptions options_;
  std::unique_ptr<faiss::IndexIDMap> index_;
  bool graph_ = false;
  absl::flat_hash_set<FaissId> removed_;  // only once graph_
  std::vector<omp_lock_t> locks_;         // one per graph vertex
  std::unique_ptr<faiss::VisitedTable> visited_;
};

class TimeShardedIndex final : public VectorIndex {
 public:
  explicit TimeShardedIndex(const VectorIndexOptions& options)
      : options_(options) {}

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
  std::vector<std::pair<int64_t, int64_t>> ShardSizes() const override {
    std::vector<std::pair<int64_t, int64_t>> sizes;
    for (const auto& [bucket, shard] : shards_) {
      sizes.emplace_back(bucket, shard->size());
    }
    return sizes;
  }

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
  if (options.exact_limit <= 0 || options.graph_degree < 2 ||
      options.search_breadth <= 0 || options.build_breadth <= 0) {
    return absl::InvalidArgumentError(
        "need exact_limit > 0, graph_degree >= 2, search_breadth > 0 and "
        "build_breadth > 0");
  }
  return std::make_unique<TimeShardedIndex>(options);
}

absl::StatusOr<std::unique_ptr<VectorIndex>> NewTimeShardedFlatIndex(
    int dimension) {
  VectorIndexOptions options;
  options.dimension = dimension;
  options.exact_limit = std::numeric_limits<int64_t>::max();
  options.quantize = false;
  return NewTimeShardedIndex(options);
}

}  // namespace newsdedup
