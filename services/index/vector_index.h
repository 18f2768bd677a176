// Nearest-neighbour search over article vectors, sharded by time.
//
// Articles are grouped into buckets by publication time (the engine picks
// the bucket width); one FAISS index per bucket. A story window then becomes
// a range of buckets to search, and expiry drops whole buckets instead of
// removing ids one by one. Scores are inner products, which equal cosine
// similarity for the L2-normalised vectors the embedders produce.
//
//   ASSIGN_OR_RETURN(auto index, NewTimeShardedIndex(VectorIndexOptions()));
//   RETURN_IF_ERROR(index->Add(article_number, bucket, embedding.dense));
//   ASSIGN_OR_RETURN(auto hits, index->Search(query, 10, bucket - 7, bucket));
//
// Thread safety: all methods may be called concurrently. Searches run in
// parallel with each other; changes wait for running searches and hold
// new ones off while they last, which for a graph insert prepared by
// SearchBeforeAdd is only the linking.
#ifndef NEWSDEDUP_SERVICES_INDEX_VECTOR_INDEX_H_
#define NEWSDEDUP_SERVICES_INDEX_VECTOR_INDEX_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace newsdedup {

struct Neighbor {
  int64_t id;
  float score;
};

// What a search learned about where its query would be linked into a graph
// shard: the shard's nearest vectors, found anyway while searching. Add
// uses it instead of searching the graph a second time, which is most of
// the cost of an insert. Filled by SearchBeforeAdd, consumed by Add; only
// the index reads its fields. Still valid after other vectors were added
// meanwhile (they are then missing from the candidates, as with any
// concurrent graph build); Add ignores a hint whose shard has changed
// otherwise.
struct InsertHint {
  int64_t bucket = 0;
  uint64_t shard_serial = 0;                          // 0: no hint
  std::vector<std::pair<int64_t, float>> candidates;  // (vertex, score)
};

class VectorIndex {
 public:
  // Bucket for items without a time: never expires, searched by every query.
  static constexpr int64_t kTimelessBucket =
      std::numeric_limits<int64_t>::min();

  virtual ~VectorIndex() = default;

  virtual int dimension() const = 0;

  // Adds one vector of dimension() floats under `id` to `bucket`.
  // Errors: kInvalidArgument on a wrong length; kInternal if FAISS fails.
  virtual absl::Status Add(int64_t id, int64_t bucket,
                           absl::Span<const float> vector) = 0;

  // Add with the hint of a SearchBeforeAdd for the same vector and bucket.
  virtual absl::Status Add(int64_t id, int64_t bucket,
                           absl::Span<const float> vector,
                           const InsertHint& hint) = 0;

  // The `k` highest-scoring vectors in buckets [min_bucket, max_bucket] and
  // the timeless bucket, best first.
  virtual absl::StatusOr<std::vector<Neighbor>> Search(
      absl::Span<const float> query, int k, int64_t min_bucket,
      int64_t max_bucket) const = 0;

  // Search for a vector about to be added to `bucket`: fills `hint` for
  // Add. Searches that shard at least as broadly as an insert would.
  virtual absl::StatusOr<std::vector<Neighbor>> SearchBeforeAdd(
      absl::Span<const float> query, int k, int64_t min_bucket,
      int64_t max_bucket, int64_t bucket, InsertHint* hint) const = 0;

  // Removes the vector stored under `id` in `bucket`; returns whether it
  // was there (a bucket that already expired holds nothing).
  // Errors: kInternal if FAISS fails.
  virtual absl::StatusOr<bool> Remove(int64_t id, int64_t bucket) = 0;

  // Makes the vector stored under `old_id` in `bucket` answer as `new_id`
  // from now on; returns whether it was there.
  virtual bool Relabel(int64_t old_id, int64_t new_id, int64_t bucket) = 0;

  // Drops every bucket below `bucket` (the timeless bucket stays); returns
  // the number of vectors removed.
  virtual int64_t DropBucketsBefore(int64_t bucket) = 0;

  // Candidates a graph shard keeps while searching (efSearch) from now on;
  // exact shards ignore it.
  virtual void SetSearchBreadth(int breadth) = 0;

  // Snapshots. Building graphs is most of a restart's work; reading them
  // back is a fraction of it (docs/performance.md).

  // Writes every graph shard of buckets >= min_bucket (its vectors' codes,
  // links and removed waypoints) to `out`, each vector under
  // `stable_id(id)`: ids that mean the same to whoever reads the snapshot
  // (see Relabel). Exact shards are left out: they are cheaper to rebuild
  // than to read. Returns the vectors written. Errors: kUnimplemented for
  // an index without snapshots; kDataLoss when `out` fails.
  virtual absl::StatusOr<int64_t> WriteGraphs(
      std::ostream& out, int64_t min_bucket,
      const std::function<int64_t(int64_t)>& stable_id) const;

  // Adds the graph shards WriteGraphs wrote (for an index with the same
  // options) whose buckets are >= min_bucket and not in this index yet,
  // each as it was, its vectors under their stable ids. Returns the bucket
  // and the live stable ids of each shard added. Errors: kUnimplemented
  // for an index without snapshots; kInvalidArgument for a snapshot of
  // other options; kDataLoss for bytes that are not one. Adds nothing on
  // error.
  using SnapshotContents =
      std::vector<std::pair<int64_t, std::vector<int64_t>>>;
  virtual absl::StatusOr<SnapshotContents> ReadGraphs(std::istream& in,
                                                      int64_t min_bucket);

  virtual int64_t size() const = 0;
  // Removed vectors that graph shards keep as waypoints (HNSW cannot
  // unlink a vertex). A shard is rebuilt without them once they outnumber
  // its live vectors, so they never exceed the live ones by much.
  virtual int64_t waypoints() const = 0;
  virtual int num_shards() const = 0;
  // (bucket, vectors) of every shard, oldest first.
  virtual std::vector<std::pair<int64_t, int64_t>> ShardSizes() const = 0;
};

struct VectorIndexOptions {
  // Floats per vector.
  int dimension = 256;
  // A shard searches exactly (a scan of its codes) until it holds this
  // many vectors; it is then rebuilt once as a graph (HNSW, on faiss::HNSW's
  // structure), whose search cost grows with the logarithm of its size
  // instead of linearly. The rebuild takes about a quarter of a second per
  // 8k vectors, once per shard.
  int64_t exact_limit = 8192;
  // Graph degree: more links give higher recall and slower inserts.
  int graph_degree = 16;
  // Candidates kept while searching (efSearch) and while inserting
  // (efConstruction): higher means higher recall against exact search at a
  // roughly linear cost. The insert breadth also sets the graph's quality
  // (how much recall each unit of search breadth buys): 64 rather than
  // FAISS's 40 raised recall@10 in a shard of 1M vectors from 0.908 to
  // 0.967 at search breadth 64 and about the same search time
  // (docs/performance.md). With an InsertHint, an insert's search is its
  // query's search of that shard.
  int search_breadth = 64;
  int build_breadth = 64;
  // Store vectors as 8-bit scalar-quantised codes (a float scale and one
  // signed byte per dimension) instead of floats: 4x less memory and
  // memory traffic, scores within a few thousandths of exact. Recall
  // against float storage is measured in docs/performance.md.
  bool quantize = true;
};

// Time-sharded index: exact shards that turn into graph (HNSW) shards past
// options.exact_limit vectors.
// Errors: kInvalidArgument for inconsistent options.
absl::StatusOr<std::unique_ptr<VectorIndex>> NewTimeShardedIndex(
    const VectorIndexOptions& options);

// Exact inner-product search over float vectors in every shard, however
// large: the reference that approximate indexes are measured against.
// Errors: kInvalidArgument for a non-positive dimension.
absl::StatusOr<std::unique_ptr<VectorIndex>> NewTimeShardedFlatIndex(
    int dimension);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_INDEX_VECTOR_INDEX_H_
