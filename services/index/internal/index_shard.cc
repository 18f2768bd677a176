#include "services/index/internal/index_shard.h"

#include <faiss/impl/IDSelector.h>

#include <algorithm>
#include <limits>
#include <utility>

namespace newsdedup {
namespace internal {
namespace {

// Vector storage for a shard, as configured.
faiss::IndexFlatCodes* NewStorage(const VectorIndexOptions& options) {
  if (options.quantize) return new QuantizedIndexIP(options.dimension);
  return new faiss::IndexFlatIP(options.dimension);
}

}  // namespace

Shard::Shard(const VectorIndexOptions& options)
    : options_(options), serial_(NextSerial()) {
  index_ = std::make_unique<faiss::IndexIDMap>(NewStorage(options));
  index_->own_fields = true;
}

bool Shard::CanAddAlongsideSearches() const {
  if (!graph_ || index_->ntotal >= capacity_) return false;
  const faiss::HNSW& hnsw = Graph().hnsw;
  return hnsw.neighbors.size() + hnsw.cum_nneighbor_per_level.back() <=
         hnsw.neighbors.capacity();
}

void Shard::Add(FaissId id, const float* vector, const InsertHint* hint) {
  if (graph_) {
    if (!CanAddAlongsideSearches()) Reserve(2 * capacity_);
    std::vector<ScoredVertex> candidates;
    if (hint != nullptr && hint->shard_serial == serial_) {
      for (const auto& [vertex, score] : hint->candidates) {
        candidates.push_back({score, vertex});
      }
    }
    AppendToGraph(id, vector, &candidates);
  } else {
    index_->add_with_ids(1, vector, &id);
    if (index_->ntotal >= options_.exact_limit) ConvertToGraph();
  }
  stored_.store(index_->ntotal, std::memory_order_relaxed);
}

void Shard::Search(const float* query, int k, int breadth,
                   std::vector<Neighbor>* out, InsertHint* hint) const {
  if (size() == 0) return;
  if (!graph_) {
    // Exact: one pass over the contiguous vectors. FAISS would route a
    // single query through BLAS matrix multiplication, which copies the
    // whole shard into its own layout first.
    // The best k so far in a heap, worst on top: most vectors lose to
    // it on one comparison.
    std::vector<ScoredVertex> best;
    best.reserve(k + 1);
    WithScorer(*index_->index, query, [&](const auto& scorer) {
      // The heap's worst score, read here rather than through a call per
      // vector: once the heap is full almost every vector falls below it.
      float worst = -std::numeric_limits<float>::infinity();
      for (FaissId i = 0; i < index_->ntotal; ++i) {
        const float score = scorer.Score(i);
        if (score <= worst) continue;
        KeepIfAmongBest({score, i}, k, &best);
        if (static_cast<int>(best.size()) >= k) worst = best.front().score;
      }
    });
    std::sort_heap(best.begin(), best.end(), BetterFirst());
    for (const ScoredVertex& hit : best) {
      out->push_back({index_->id_map[hit.vertex], hit.score});
    }
    return;
  }
  const faiss::IndexHNSW& graph = Graph();
  // Sized by capacity: vertices added during the search may be reached.
  thread_local faiss::VisitedTable visited(0);
  if (visited.visited.size() < static_cast<size_t>(capacity_)) {
    visited.visited.resize(capacity_);
  }
  int width = std::max(k, breadth);
  if (hint != nullptr) width = std::max(width, graph.hnsw.efConstruction);
  width = WidenForRemoved(width);
  std::vector<ScoredVertex> found;
  WithScorer(*graph.storage, query, [&](const auto& scorer) {
    found = SearchGraph(graph.hnsw, scorer, width, &visited);
  });
  if (hint != nullptr) {
    hint->shard_serial = serial_;
    const size_t keep =
        std::min<size_t>(found.size(), graph.hnsw.efConstruction);
    for (size_t i = 0; i < keep; ++i) {
      hint->candidates.emplace_back(found[i].vertex, found[i].score);
    }
  }
  int kept = 0;
  for (const ScoredVertex& hit : found) {
    if (kept == k) break;
    if (IsRemoved(hit.vertex)) continue;
    const FaissId id = index_->id_map[hit.vertex];
    out->push_back({id, hit.score});
    ++kept;
  }
}

size_t Shard::Remove(FaissId id) {
  if (graph_) {
    auto vertex = vertex_of_id_.find(id);
    if (vertex == vertex_of_id_.end()) return 0;
    __atomic_store_n(&removed_flags_[vertex->second], 1, __ATOMIC_RELAXED);
    vertex_of_id_.erase(vertex);
    removed_count_.fetch_add(1, std::memory_order_relaxed);
    return 1;
  }
  if (std::find(index_->id_map.begin(), index_->id_map.end(), id) ==
      index_->id_map.end()) {
    return 0;
  }
  faiss::IDSelectorArray selector(1, &id);
  const size_t removed = index_->remove_ids(selector);
  stored_.store(index_->ntotal, std::memory_order_relaxed);
  return removed;
}

bool Shard::Relabel(FaissId old_id, FaissId new_id) {
  if (graph_) {
    auto vertex = vertex_of_id_.find(old_id);
    if (vertex == vertex_of_id_.end()) return false;
    const FaissId v = vertex->second;
    vertex_of_id_.erase(vertex);
    vertex_of_id_[new_id] = v;
    index_->id_map[v] = new_id;
    return true;
  }
  auto it = std::find(index_->id_map.begin(), index_->id_map.end(), old_id);
  if (it == index_->id_map.end()) return false;
  *it = new_id;
  return true;
}

int Shard::WidenForRemoved(int width) const {
  const int64_t removed = removed_count_.load(std::memory_order_relaxed);
  if (removed == 0) return width;
  const int64_t total = index_->ntotal;
  const int64_t live = std::max<int64_t>(1, total - removed);
  const int64_t widened = (width * total + live - 1) / live;
  return static_cast<int>(std::min<int64_t>(widened, width + removed));
}

uint64_t Shard::NextSerial() {
  static std::atomic<uint64_t> last{0};
  return ++last;
}

void Shard::Reserve(int64_t vertices) {
  faiss::IndexHNSW& graph = Graph();
  faiss::HNSW& hnsw = graph.hnsw;
  auto& storage = static_cast<faiss::IndexFlatCodes&>(*graph.storage);
  storage.codes.reserve(vertices * storage.code_size);
  index_->id_map.reserve(vertices);
  removed_flags_.reserve(vertices);
  hnsw.levels.reserve(vertices);
  hnsw.offsets.reserve(vertices + 1);
  // Base-layer slots for every vertex, upper layers for about one in
  // `degree` (each layer up is `degree` times rarer), and room for one
  // vertex on every layer.
  const size_t base = hnsw.cum_nneighbor_per_level[1];
  const size_t upper = hnsw.cum_nneighbor_per_level[2] - base;
  hnsw.neighbors.reserve(vertices * (base + 2 * upper / options_.graph_degree) +
                         hnsw.cum_nneighbor_per_level.back());
  visited_.visited.resize(vertices);
  capacity_ = vertices;
}

void Shard::AppendToGraph(FaissId id, const float* vector,
                          const std::vector<ScoredVertex>* base_candidates) {
  faiss::IndexHNSW& graph = Graph();
  const FaissId vertex = graph.ntotal;
  graph.storage->add(1, vector);
  graph.ntotal = graph.storage->ntotal;
  graph.hnsw.prepare_level_tab(1);
  index_->id_map.push_back(id);
  removed_flags_.push_back(0);  // within capacity: nothing moves
  vertex_of_id_[id] = vertex;
  index_->ntotal = graph.ntotal;
  WithScorer(*graph.storage, vector, [&](const auto& scorer) {
    InsertIntoGraph(graph.hnsw, scorer, vertex, base_candidates, &visited_);
  });
}

std::unique_ptr<Shard> Shard::Compacted() const {
  auto compacted = std::make_unique<Shard>(options_);
  std::vector<float> vector(options_.dimension);
  for (FaissId v = 0; v < index_->ntotal; ++v) {
    if (graph_ && IsRemoved(v)) continue;
    index_->index->reconstruct(v, vector.data());
    compacted->Add(index_->id_map[v], vector.data(), nullptr);
  }
  return compacted;
}

void Shard::ConvertToGraph() {
  // Decoding then encoding again reproduces quantised codes exactly.
  std::vector<float> vectors(index_->ntotal * options_.dimension);
  index_->index->reconstruct_n(0, index_->ntotal, vectors.data());
  auto graph = std::make_unique<faiss::IndexHNSW>(NewStorage(options_),
                                                  options_.graph_degree);
  graph->own_fields = true;
  graph->hnsw.efConstruction = options_.build_breadth;
  const std::vector<faiss::Index::idx_t> ids = index_->id_map;
  index_ = std::make_unique<faiss::IndexIDMap>(graph.release());
  index_->own_fields = true;
  graph_ = true;
  Reserve(2 * static_cast<int64_t>(ids.size()));
  for (size_t i = 0; i < ids.size(); ++i) {
    AppendToGraph(ids[i], &vectors[i * options_.dimension], nullptr);
  }
}

}  // namespace internal
}  // namespace newsdedup
