#include "services/index/vector_index.h"

#include <faiss/impl/FaissException.h>

#include <algorithm>
#include <istream>
#include <map>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/pod_io.h"
#include "common/status_macros.h"
#include "services/index/internal/index_shard.h"

namespace newsdedup {
namespace {

using internal::FaissId;
using internal::Shard;

// "NDGRAPHS" in a snapshot, after the options it was written with.
constexpr uint64_t kSnapshotMagic = 0x534850415247444EULL;
constexpr uint64_t kMaxSnapshotShards = 1 << 20;

class TimeShardedIndex final : public VectorIndex {
 public:
  explicit TimeShardedIndex(const VectorIndexOptions& options)
      : options_(options), search_breadth_(options.search_breadth) {}

  int dimension() const override { return options_.dimension; }

  absl::Status Add(int64_t id, int64_t bucket,
                   absl::Span<const float> vector) override {
    return AddWithHint(id, bucket, vector, nullptr);
  }

  absl::Status Add(int64_t id, int64_t bucket, absl::Span<const float> vector,
                   const InsertHint& hint) override {
    return AddWithHint(id, bucket, vector, HintFor(bucket, &hint));
  }

  absl::StatusOr<std::vector<Neighbor>> Search(
      absl::Span<const float> query, int k, int64_t min_bucket,
      int64_t max_bucket) const override {
    absl::ReaderMutexLock lock(&mu_);
    return SearchWithHint(query, k, min_bucket, max_bucket, nullptr);
  }

  absl::StatusOr<std::vector<Neighbor>> SearchBeforeAdd(
      absl::Span<const float> query, int k, int64_t min_bucket,
      int64_t max_bucket, int64_t bucket, InsertHint* hint) const override {
    *hint = InsertHint();
    hint->bucket = bucket;
    absl::ReaderMutexLock lock(&mu_);
    return SearchWithHint(query, k, min_bucket, max_bucket, hint);
  }

  absl::StatusOr<bool> Remove(int64_t id, int64_t bucket) override {
    size_t removed = 0;
    {
      // From a graph: alongside searches, one change at a time.
      absl::ReaderMutexLock search_lock(&mu_);
      absl::MutexLock change_lock(&add_mu_);
      auto shard = shards_.find(bucket);
      if (shard == shards_.end()) return false;
      if (shard->second->CanRemoveAlongsideSearches()) {
        removed = shard->second->Remove(id);
        size_.fetch_sub(static_cast<int64_t>(removed),
                        std::memory_order_relaxed);
        if (!shard->second->NeedsCompaction()) return removed > 0;
      }
    }
    absl::MutexLock lock(&mu_);
    auto shard = shards_.find(bucket);
    if (shard == shards_.end()) return removed > 0;
    try {
      if (removed == 0) {
        removed = shard->second->Remove(id);
        size_.fetch_sub(static_cast<int64_t>(removed),
                        std::memory_order_relaxed);
      }
      if (shard->second->NeedsCompaction()) {
        shard->second = shard->second->Compacted();
      }
    } catch (const faiss::FaissException& e) {
      return absl::InternalError(
          absl::StrCat("FAISS remove failed: ", e.what()));
    }
    return removed > 0;
  }

  bool Relabel(int64_t old_id, int64_t new_id, int64_t bucket) override {
    absl::MutexLock lock(&mu_);
    auto shard = shards_.find(bucket);
    return shard != shards_.end() && shard->second->Relabel(old_id, new_id);
  }

  int64_t DropBucketsBefore(int64_t bucket) override {
    {
      // The engine asks after every article; the answer is almost always
      // "nothing", which must not wait for running searches.
      absl::ReaderMutexLock lock(&mu_);
      if (!HasBucketBefore(bucket)) return 0;
    }
    absl::MutexLock lock(&mu_);
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
    size_.fetch_sub(dropped, std::memory_order_relaxed);
    return dropped;
  }

  absl::StatusOr<int64_t> WriteGraphs(
      std::ostream& out, int64_t min_bucket,
      const std::function<int64_t(int64_t)>& stable_id) const override {
    // Changes wait: a graph is written as one consistent state.
    absl::MutexLock lock(&mu_);
    WriteOptions(out);
    std::vector<std::pair<int64_t, const Shard*>> graphs;
    for (const auto& [bucket, shard] : shards_) {
      if (shard->is_graph() &&
          (bucket >= min_bucket || bucket == kTimelessBucket)) {
        graphs.emplace_back(bucket, shard.get());
      }
    }
    WritePod(out, kSnapshotMagic);
    WritePod<uint64_t>(out, graphs.size());
    int64_t written = 0;
    for (const auto& [bucket, shard] : graphs) {
      WritePod(out, bucket);
      shard->WriteGraph(out, stable_id);
      written += shard->size() + shard->waypoints();
    }
    if (!out) return absl::DataLossError("index snapshot: write failed");
    return written;
  }

  absl::StatusOr<SnapshotContents> ReadGraphs(std::istream& in,
                                              int64_t min_bucket) override {
    RETURN_IF_ERROR(CheckOptions(in));
    uint64_t magic = 0;
    uint64_t count = 0;
    if (!ReadPod(in, &magic) || magic != kSnapshotMagic ||
        !ReadPod(in, &count) || count > kMaxSnapshotShards) {
      return absl::DataLossError("index snapshot: bad shard count");
    }
    std::vector<std::pair<int64_t, std::unique_ptr<Shard>>> read;
    for (uint64_t i = 0; i < count; ++i) {
      int64_t bucket = 0;
      if (!ReadPod(in, &bucket)) {
        return absl::DataLossError("index snapshot: short shard");
      }
      try {
        ASSIGN_OR_RETURN(std::unique_ptr<Shard> shard,
                         Shard::ReadGraph(in, options_));
        read.emplace_back(bucket, std::move(shard));
      } catch (const faiss::FaissException& e) {
        return absl::DataLossError(
            absl::StrCat("index snapshot: FAISS failed: ", e.what()));
      }
    }
    SnapshotContents added;
    absl::MutexLock lock(&mu_);
    for (auto& [bucket, shard] : read) {
      if (bucket < min_bucket && bucket != kTimelessBucket) continue;
      if (shards_.count(bucket) != 0) continue;
      std::vector<int64_t> ids = shard->LiveIds();
      size_.fetch_add(static_cast<int64_t>(ids.size()),
                      std::memory_order_relaxed);
      shards_[bucket] = std::move(shard);
      added.emplace_back(bucket, std::move(ids));
    }
    return added;
  }

  int64_t size() const override {
    return size_.load(std::memory_order_relaxed);
  }
  int64_t waypoints() const override {
    absl::ReaderMutexLock lock(&mu_);
    int64_t waypoints = 0;
    for (const auto& [bucket, shard] : shards_) {
      waypoints += shard->waypoints();
    }
    return waypoints;
  }
  int num_shards() const override {
    absl::ReaderMutexLock lock(&mu_);
    return static_cast<int>(shards_.size());
  }
  std::vector<std::pair<int64_t, int64_t>> ShardSizes() const override {
    absl::ReaderMutexLock lock(&mu_);
    std::vector<std::pair<int64_t, int64_t>> sizes;
    for (const auto& [bucket, shard] : shards_) {
      sizes.emplace_back(bucket, shard->size());
    }
    return sizes;
  }

  void SetSearchBreadth(int breadth) override {
    absl::MutexLock lock(&mu_);
    search_breadth_ = breadth;
  }

 private:
  // Adds to `bucket`, linking by `hint` if not null. Most adds go to a
  // shard with room (a graph, or exact storage below the exact limit),
  // and run alongside searches (one add at a time); the rest (new shards,
  // full ones, the add that makes a shard a graph) wait for the index
  // alone. An add waiting for the index alone waits for every search under
  // way, and the engine calls it holding its own lock.
  absl::Status AddWithHint(int64_t id, int64_t bucket,
                           absl::Span<const float> vector,
                           const InsertHint* hint) ABSL_LOCKS_EXCLUDED(mu_) {
    if (static_cast<int>(vector.size()) != options_.dimension) {
      return absl::InvalidArgumentError(
          absl::StrCat("vector has ", vector.size(), " floats, index expects ",
                       options_.dimension));
    }
    try {
      absl::ReaderMutexLock search_lock(&mu_);
      absl::MutexLock add_lock(&add_mu_);
      auto it = shards_.find(bucket);
      if (it != shards_.end() && it->second->CanAddAlongsideSearches()) {
        it->second->Add(id, vector.data(), hint);
        size_.fetch_add(1, std::memory_order_relaxed);
        return absl::OkStatus();
      }
    } catch (const faiss::FaissException& e) {
      return absl::InternalError(absl::StrCat("FAISS add failed: ", e.what()));
    }
    absl::MutexLock lock(&mu_);
    try {
      auto& shard = shards_[bucket];
      if (shard == nullptr) shard = std::make_unique<Shard>(options_);
      shard->Add(id, vector.data(), hint);
    } catch (const faiss::FaissException& e) {
      return absl::InternalError(absl::StrCat("FAISS add failed: ", e.what()));
    }
    size_.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }

  // Search; fills `hint`, if not null, for an add to hint->bucket.
  absl::StatusOr<std::vector<Neighbor>> SearchWithHint(
      absl::Span<const float> query, int k, int64_t min_bucket,
      int64_t max_bucket, InsertHint* hint) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
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
        it->second->Search(query.data(), k, search_breadth_, &merged,
                           HintFor(it->first, hint));
      }
      if (min_bucket != kTimelessBucket) {
        auto timeless = shards_.find(kTimelessBucket);
        if (timeless != shards_.end()) {
          timeless->second->Search(query.data(), k, search_breadth_, &merged,
                                   HintFor(kTimelessBucket, hint));
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

  bool HasBucketBefore(int64_t bucket) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    for (const auto& [b, shard] : shards_) {
      if (b >= bucket) return false;
      if (b != kTimelessBucket) return true;
    }
    return false;
  }

  // `hint` if it is for `bucket`, else null.
  template <typename Hint>
  static Hint* HintFor(int64_t bucket, Hint* hint) {
    return hint != nullptr && hint->bucket == bucket ? hint : nullptr;
  }

  // The options a snapshot's graphs depend on.
  void WriteOptions(std::ostream& out) const {
    WritePod<int32_t>(out, options_.dimension);
    WritePod<int32_t>(out, options_.graph_degree);
    WritePod<int32_t>(out, options_.quantize ? 1 : 0);
  }

  absl::Status CheckOptions(std::istream& in) const {
    int32_t fields[3];
    if (!ReadPod(in, &fields[0]) || !ReadPod(in, &fields[1]) ||
        !ReadPod(in, &fields[2])) {
      return absl::DataLossError("index snapshot: short options");
    }
    if (fields[0] != options_.dimension || fields[1] != options_.graph_degree ||
        fields[2] != (options_.quantize ? 1 : 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "index snapshot of dimension ", fields[0], ", degree ", fields[1],
          ", quantised ", fields[2], "; this index has ", options_.dimension,
          ", ", options_.graph_degree, ", ", options_.quantize ? 1 : 0));
    }
    return absl::OkStatus();
  }

  const VectorIndexOptions options_;
  // Searches share mu_; so do adds to graph shards with room, which take
  // add_mu_ as well (one at a time; see GraphLink for why searches can
  // run meanwhile). Everything else takes mu_ alone.
  mutable absl::Mutex mu_;
  absl::Mutex add_mu_ ABSL_ACQUIRED_AFTER(mu_);
  int search_breadth_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::unique_ptr<Shard>> shards_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> size_{0};
};

}  // namespace

absl::StatusOr<int64_t> VectorIndex::WriteGraphs(
    std::ostream& out, int64_t min_bucket,
    const std::function<int64_t(int64_t)>& stable_id) const {
  (void)out;
  (void)min_bucket;
  (void)stable_id;
  return absl::UnimplementedError("this index writes no snapshots");
}

absl::StatusOr<VectorIndex::SnapshotContents> VectorIndex::ReadGraphs(
    std::istream& in, int64_t min_bucket) {
  (void)in;
  (void)min_bucket;
  return absl::UnimplementedError("this index reads no snapshots");
}

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
