// One time bucket of the vector index: exact storage while small, an HNSW
// graph (hnsw_graph.h) past VectorIndexOptions::exact_limit. Internal to
// services/; TimeShardedIndex (vector_index.cc) keeps one per bucket.
#ifndef NEWSDEDUP_SERVICES_INDEX_INTERNAL_INDEX_SHARD_H_
#define NEWSDEDUP_SERVICES_INDEX_INTERNAL_INDEX_SHARD_H_

#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/AuxIndexStructures.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/index/internal/hnsw_graph.h"
#include "services/index/internal/vector_codec.h"
#include "services/index/vector_index.h"

namespace newsdedup {
namespace internal {

// One time bucket's vectors, behind an IndexIDMap that maps FAISS's
// sequential ids to ours. Starts exact (a scan of the stored codes); past
// the exact limit it is rebuilt as a faiss::IndexHNSW over the same kind of
// storage, whose graph (faiss::HNSW) hnsw_graph.h searches and
// extend. HNSW cannot remove vectors, so removed ids are remembered and
// filtered out of results (deletions and article updates are rare next to
// inserts). Every FAISS call below may throw; the index class catches and
// converts. Synchronisation is the caller's (TimeShardedIndex): const
// methods may run together, and with one Add while
// CanAddAlongsideSearches(); everything else needs the shard alone.
class Shard {
 public:
  explicit Shard(const VectorIndexOptions& options);
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Vectors searchable in this shard.
  int64_t size() const {
    return stored_.load(std::memory_order_relaxed) -
           removed_count_.load(std::memory_order_relaxed);
  }

  // Whether Add can run while searches run: no array it shares with
  // searches moves (a graph with memory reserved for one more vertex, or
  // exact storage with room for one more code and id), and the shard does
  // not become a graph.
  bool CanAddAlongsideSearches() const;

  // Adds a vector; `hint` (may be null) is from a search of this shard.
  // Alongside searches only if CanAddAlongsideSearches(), and one Add at a
  // time.
  void Add(FaissId id, const float* vector, const InsertHint* hint);

  // Appends up to k (id, score) hits to `out`; a graph keeps `breadth`
  // candidates while searching. With a `hint`, searches at least as
  // broadly as an insert and keeps what an insert of `query` needs.
  void Search(const float* query, int k, int breadth,
              std::vector<Neighbor>* out, InsertHint* hint) const;

  // A graph's vertices stay as waypoints, left out of results: removal is
  // O(1) and may run alongside searches (not alongside an Add). Exact
  // storage compacts, O(shard size) (at most exact_limit), and needs the
  // shard alone.
  bool CanRemoveAlongsideSearches() const { return graph_; }

  size_t Remove(FaissId id);

  // Removed graph vertices kept as waypoints (0 for exact storage).
  int64_t waypoints() const {
    return removed_count_.load(std::memory_order_relaxed);
  }

  // Whether the waypoints outnumber the live vectors: memory and search
  // time then go mostly to removed articles, which a shard that never
  // expires (the undated one, at an --max-articles cap) piles up without
  // bound. Compacted() then gives the shard without them.
  bool NeedsCompaction() const { return graph_ && waypoints() > size(); }

  // A new shard holding this one's live vectors (decoded and encoded again:
  // the codes come out the same), added in vertex order, so every replica
  // that compacts at the same entry builds the same shard: exact storage
  // again if they fit, else a graph without waypoints.
  std::unique_ptr<Shard> Compacted() const;

  bool Relabel(FaissId old_id, FaissId new_id);

  // The ids of the vectors not removed, in vertex order.
  std::vector<int64_t> LiveIds() const;

  // Snapshots of graph shards (exact ones are cheaper to rebuild).
  // Whether the shard is a graph, which WriteGraph can write.
  bool is_graph() const { return graph_; }

  // Writes the graph (codes, ids through `stable_id`, waypoints, links and
  // the level generator's state) to `out`. Needs the shard alone.
  void WriteGraph(std::ostream& out,
                  const std::function<int64_t(int64_t)>& stable_id) const;

  // The graph shard WriteGraph wrote, with the same options, its vertices
  // under the stable ids, as it was: the same searches find the same
  // vectors, and later inserts link as they would have. Errors: kDataLoss
  // for bytes that are not such a graph (a short read, sizes or links out
  // of range).
  static absl::StatusOr<std::unique_ptr<Shard>> ReadGraph(
      std::istream& in, const VectorIndexOptions& options);

 private:
  // A graph search keeps `width` candidates, removed vertices among them;
  // widened in proportion so that as many live ones come back, but never
  // by more than the removed count. (Adding the whole removed count, as
  // this did, made every search slower with each new version of an
  // article: 20,000 updates meant searches 20,000 wide.)
  int WidenForRemoved(int width) const;

  // Whether graph vertex `v` was removed (read alongside Remove).
  bool IsRemoved(FaissId v) const {
    return __atomic_load_n(&removed_flags_[v], __ATOMIC_RELAXED) != 0;
  }

  // Calls fn(scorer) with the scorer of `storage`'s kind for `query`.
  template <typename Fn>
  void WithScorer(const faiss::Index& storage, const float* query,
                  Fn&& fn) const {
    if (options_.quantize) {
      fn(QuantizedScorer(static_cast<const QuantizedIndexIP&>(storage), query));
    } else {
      fn(FloatScorer(static_cast<const faiss::IndexFlatCodes&>(storage),
                     query));
    }
  }

  // A number no other shard of this process has had: hints name shards by
  // it, since a bucket's shard can expire and be created anew.
  static uint64_t NextSerial();

  const faiss::IndexHNSW& Graph() const {
    return static_cast<const faiss::IndexHNSW&>(*index_->index);
  }

  faiss::IndexHNSW& Graph() {
    return static_cast<faiss::IndexHNSW&>(*index_->index);
  }

  // Reserves memory for `vertices` graph vertices in every array a search
  // reads (codes, ids, levels, link offsets and slots), so that adding
  // them moves none: searches can then run during an Add. Needs exclusive
  // access itself.
  void Reserve(int64_t vertices);

  // Stores a vector in the graph's storage and links it in, to the
  // `base_candidates` of a search if not empty. faiss's own
  // IndexHNSW::add would create and destroy one lock per vertex of the
  // whole graph on every call, which makes single inserts O(shard size).
  // Everything the new vertex's links lead to is written before they are
  // published (see GraphLink).
  void AppendToGraph(FaissId id, const float* vector,
                     const std::vector<ScoredVertex>* base_candidates);

  // Moves the shard's vectors from exact storage into an HNSW graph.
  void ConvertToGraph();

  const VectorIndexOptions options_;
  std::unique_ptr<faiss::IndexIDMap> index_;
  const uint64_t serial_;
  bool graph_ = false;
  int64_t capacity_ = 0;  // graph vertices with memory reserved
  // index_->ntotal, for size() and exact searches during an Add (stored
  // with release once the vector's code and id are written).
  std::atomic<int64_t> stored_{0};
  // Graph only. Per vertex, whether it was removed (it stays as a waypoint;
  // reserved with the graph, so appends move nothing under searches), and
  // the vertex of every id not removed, for O(1) removal: new versions of
  // articles remove their old vector, and a scan of the id map made each
  // one cost O(shard size). The map is changed by Add and Remove, one at a
  // time, and never read by searches.
  std::vector<uint8_t> removed_flags_;
  std::atomic<int64_t> removed_count_{0};
  absl::flat_hash_map<FaissId, FaissId> vertex_of_id_;
  faiss::VisitedTable visited_{0};  // for inserts
};

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_INDEX_INTERNAL_INDEX_SHARD_H_
