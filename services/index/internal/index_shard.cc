#include "services/index/internal/index_shard.h"

#include <faiss/impl/IDSelector.h>

#include <algorithm>
#include <istream>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/pod_io.h"

namespace newsdedup {
namespace internal {
namespace {

// Vector storage for a shard, as configured.
faiss::IndexFlatCodes* NewStorage(const VectorIndexOptions& options) {
  if (options.quantize) return new QuantizedIndexIP(options.dimension);
  return new faiss::IndexFlatIP(options.dimension);
}

// An empty graph (HNSW over the configured storage) behind an id map;
// FAISS wraps only an empty index, so a graph is filled after this.
std::unique_ptr<faiss::IndexIDMap> NewGraphIndex(
    const VectorIndexOptions& options) {
  auto graph = std::make_unique<faiss::IndexHNSW>(NewStorage(options),
                                                  options.graph_degree);
  graph->own_fields = true;
  graph->hnsw.efConstruction = options.build_breadth;
  auto index = std::make_unique<faiss::IndexIDMap>(graph.release());
  index->own_fields = true;
  return index;
}

// Most vertices a snapshot's graph may claim (FAISS links are 32-bit).
constexpr uint64_t kMaxSnapshotVertices = std::numeric_limits<int32_t>::max();

}  // namespace

Shard::Shard(const VectorIndexOptions& options)
    : options_(options), serial_(NextSerial()) {
  index_ = std::make_unique<faiss::IndexIDMap>(NewStorage(options));
  index_->own_fields = true;
}

bool Shard::CanAddAlongsideSearches() const {
  if (!graph_) {
    // Exact storage: the next code and id fit the memory their vectors
    // hold already (they grow by doubling, under the shard alone), and
    // the add does not turn the shard into a graph. A search reads only
    // the first stored_ of them.
    const auto& storage =
        static_cast<const faiss::IndexFlatCodes&>(*index_->index);
    return index_->ntotal + 1 < options_.exact_limit &&
           storage.codes.size() + storage.code_size <=
               storage.codes.capacity() &&
           index_->id_map.size() < index_->id_map.capacity();
  }
  if (index_->ntotal >= capacity_) return false;
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
  // Publishes the new code and id to exact searches running alongside.
  stored_.store(index_->ntotal, std::memory_order_release);
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
      // Scored a run at a time (the same scores as one by one), then
      // taken in order, so ties resolve as before.
      constexpr FaissId kRun = 64;
      float scores[kRun];
      // The vectors stored when the search began: an Add may run
      // alongside and append more (CanAddAlongsideSearches).
      const FaissId stored = stored_.load(std::memory_order_acquire);
      for (FaissId first = 0; first < stored; first += kRun) {
        const FaissId run = std::min(kRun, stored - first);
        scorer.ScoreRun(first, static_cast<size_t>(run), scores);
        for (FaissId j = 0; j < run; ++j) {
          if (scores[j] <= worst) continue;
          KeepIfAmongBest(scores[j], first + j, k, &best);
          if (static_cast<int>(best.size()) >= k) worst = best.front().score;
        }
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
  const std::vector<faiss::Index::idx_t> ids = index_->id_map;
  index_ = NewGraphIndex(options_);
  graph_ = true;
  Reserve(2 * static_cast<int64_t>(ids.size()));
  for (size_t i = 0; i < ids.size(); ++i) {
    AppendToGraph(ids[i], &vectors[i * options_.dimension], nullptr);
  }
}

std::vector<int64_t> Shard::LiveIds() const {
  std::vector<int64_t> ids;
  ids.reserve(size());
  for (FaissId v = 0; v < index_->ntotal; ++v) {
    if (!graph_ || !IsRemoved(v)) ids.push_back(index_->id_map[v]);
  }
  return ids;
}

void Shard::WriteGraph(std::ostream& out,
                       const std::function<int64_t(int64_t)>& stable_id) const {
  const faiss::IndexHNSW& graph = Graph();
  const faiss::HNSW& hnsw = graph.hnsw;
  const auto& storage =
      static_cast<const faiss::IndexFlatCodes&>(*graph.storage);
  WritePod<int64_t>(out, index_->ntotal);
  WritePod<uint64_t>(out, storage.code_size);
  WriteArray(out, storage.codes);
  std::vector<int64_t> ids(index_->ntotal, -1);  // -1: a waypoint
  for (FaissId v = 0; v < index_->ntotal; ++v) {
    if (!IsRemoved(v)) ids[v] = stable_id(index_->id_map[v]);
  }
  WriteArray(out, ids);
  WriteArray(out, removed_flags_);
  WriteArray(out, hnsw.levels);
  WriteArray(out, hnsw.offsets);
  WriteArray(out, hnsw.neighbors);
  WritePod<int32_t>(out, hnsw.entry_point);
  WritePod<int32_t>(out, hnsw.max_level);
  std::ostringstream rng;
  rng << hnsw.rng.mt;
  const std::string rng_state = rng.str();
  WriteArray(out, std::vector<char>(rng_state.begin(), rng_state.end()));
}

absl::StatusOr<std::unique_ptr<Shard>> Shard::ReadGraph(
    std::istream& in, const VectorIndexOptions& options) {
  auto shard = std::make_unique<Shard>(options);
  shard->index_ = NewGraphIndex(options);
  faiss::IndexHNSW& graph = shard->Graph();
  faiss::HNSW& hnsw = graph.hnsw;
  auto& storage = static_cast<faiss::IndexFlatCodes&>(*graph.storage);
  const auto damaged = [](absl::string_view what) {
    return absl::DataLossError(absl::StrCat("index snapshot: ", what));
  };
  int64_t vertices = 0;
  uint64_t code_size = 0;
  if (!ReadPod(in, &vertices) || vertices <= 0 ||
      static_cast<uint64_t>(vertices) > kMaxSnapshotVertices ||
      !ReadPod(in, &code_size)) {
    return damaged("bad vertex count");
  }
  if (code_size != storage.code_size) return damaged("another code size");
  const uint64_t n = static_cast<uint64_t>(vertices);
  std::vector<int64_t> ids;
  std::vector<uint8_t> removed;
  if (!ReadArray(in, n * code_size, &storage.codes) ||
      storage.codes.size() != n * code_size || !ReadArray(in, n, &ids) ||
      ids.size() != n || !ReadArray(in, n, &removed) || removed.size() != n ||
      !ReadArray(in, n, &hnsw.levels) || hnsw.levels.size() != n ||
      !ReadArray(in, n + 1, &hnsw.offsets) || hnsw.offsets.size() != n + 1) {
    return damaged("short vertex arrays");
  }
  // Each vertex's links take the slots of its level, one after another.
  const std::vector<int>& slots = hnsw.cum_nneighbor_per_level;
  const int most_levels = static_cast<int>(slots.size()) - 1;
  if (hnsw.offsets[0] != 0) return damaged("bad link offsets");
  for (uint64_t v = 0; v < n; ++v) {
    const int level = hnsw.levels[v];
    if (level < 1 || level > most_levels ||
        hnsw.offsets[v + 1] != hnsw.offsets[v] + slots[level]) {
      return damaged("bad levels or link offsets");
    }
  }
  if (!ReadArray(in, hnsw.offsets[n], &hnsw.neighbors) ||
      hnsw.neighbors.size() != hnsw.offsets[n]) {
    return damaged("short links");
  }
  for (GraphLink link : hnsw.neighbors) {
    if (link < -1 || link >= vertices) return damaged("link out of range");
  }
  int32_t entry_point = -1;
  int32_t max_level = -1;
  std::vector<char> rng_state;
  if (!ReadPod(in, &entry_point) || !ReadPod(in, &max_level) ||
      !ReadArray(in, 1 << 16, &rng_state)) {
    return damaged("short header");
  }
  if (entry_point < 0 || entry_point >= vertices ||
      max_level != hnsw.levels[entry_point] - 1) {
    return damaged("bad entry point");
  }
  std::istringstream rng(std::string(rng_state.begin(), rng_state.end()));
  if (!(rng >> hnsw.rng.mt)) return damaged("bad level generator state");
  hnsw.entry_point = entry_point;
  hnsw.max_level = max_level;
  storage.ntotal = vertices;
  graph.ntotal = vertices;

  shard->index_->ntotal = vertices;
  shard->index_->id_map = std::move(ids);
  shard->graph_ = true;
  shard->removed_flags_ = std::move(removed);
  int64_t removed_count = 0;
  for (FaissId v = 0; v < vertices; ++v) {
    if (shard->removed_flags_[v] != 0) {
      ++removed_count;
      continue;
    }
    auto [it, fresh] =
        shard->vertex_of_id_.emplace(shard->index_->id_map[v], v);
    if (!fresh) return damaged("an id on two vertices");
  }
  shard->removed_count_.store(removed_count, std::memory_order_relaxed);
  shard->stored_.store(vertices, std::memory_order_relaxed);
  shard->Reserve(2 * vertices);
  return shard;
}

}  // namespace internal
}  // namespace newsdedup
