#include "services/vector_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

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

// Inner product of two vectors of n signed bytes, exact in 32 bits. The
// portable loop; GCC vectorises it poorly (16 bytes a step, widened twice).
int32_t InnerProductQuantizedPortable(const int8_t* a, const int8_t* b,
                                      size_t n) {
  int32_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    sum += static_cast<int32_t>(a[i]) * static_cast<int32_t>(b[i]);
  }
  return sum;
}

// The same with AVX2, 32 bytes a step: vpmaddubsw multiplies unsigned by
// signed bytes, so |a| is paired with b carrying a's sign. Exact for codes
// in [-127, 127] (what QuantizedIndexIP writes): the pairwise sums reach
// at most 2 x 127 x 127 = 32,258 and do not saturate 16 bits.
__attribute__((target("avx2"))) int32_t InnerProductQuantizedAvx2(
    const int8_t* a, const int8_t* b, size_t n) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i sum = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i va =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    const __m256i vb =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i));
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va),
                                               _mm256_sign_epi8(vb, va));
    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pairs, ones));
  }
  const __m128i half = _mm_add_epi32(_mm256_castsi256_si128(sum),
                                     _mm256_extracti128_si256(sum, 1));
  const __m128i quarter = _mm_add_epi32(half, _mm_unpackhi_epi64(half, half));
  const __m128i total = _mm_add_epi32(
      quarter, _mm_shuffle_epi32(quarter, _MM_SHUFFLE(1, 1, 1, 1)));
  return _mm_cvtsi128_si32(total) +
         InnerProductQuantizedPortable(a + i, b + i, n - i);
}

int32_t InnerProductQuantized(const int8_t* a, const int8_t* b, size_t n) {
  static const bool has_avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has_avx2 ? InnerProductQuantizedAvx2(a, b, n)
                  : InnerProductQuantizedPortable(a, b, n);
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

  // Shards compare through the scorers below; FAISS's batch search entry
  // point is not used.
  void search(FaissId, const float*, FaissId, float*, FaissId*,
              const faiss::SearchParameters*) const override {
    FAISS_THROW_MSG("QuantizedIndexIP::search is not supported");
  }

  static float ScaleOf(const uint8_t* code) {
    float scale;
    std::memcpy(&scale, code, sizeof(scale));
    return scale;
  }
  static const int8_t* ValuesOf(const uint8_t* code) {
    return reinterpret_cast<const int8_t*>(code + sizeof(float));
  }
};

// Scores a query against a shard's stored vectors without a virtual call
// per comparison; what the graph search below is templated on.
class QuantizedScorer {
 public:
  QuantizedScorer(const QuantizedIndexIP& storage, const float* query)
      : codes_(storage.codes.data()),
        code_size_(storage.code_size),
        dimension_(static_cast<size_t>(storage.d)),
        query_code_(storage.code_size) {
    storage.sa_encode(1, query, query_code_.data());
  }

  const uint8_t* CodeOf(FaissId v) const { return codes_ + v * code_size_; }
  size_t code_size() const { return code_size_; }

  float Score(FaissId v) const {
    return Similarity(query_code_.data(), CodeOf(v));
  }

  // Similarity of two stored vectors.
  float Between(FaissId a, FaissId b) const {
    return Similarity(CodeOf(a), CodeOf(b));
  }

 private:
  float Similarity(const uint8_t* a, const uint8_t* b) const {
    return QuantizedIndexIP::ScaleOf(a) * QuantizedIndexIP::ScaleOf(b) *
           static_cast<float>(InnerProductQuantized(
               QuantizedIndexIP::ValuesOf(a), QuantizedIndexIP::ValuesOf(b),
               dimension_));
  }

  const uint8_t* const codes_;
  const size_t code_size_;
  const size_t dimension_;
  std::vector<uint8_t> query_code_;
};

class FloatScorer {
 public:
  FloatScorer(const faiss::IndexFlatCodes& storage, const float* query)
      : codes_(storage.codes.data()),
        code_size_(storage.code_size),
        dimension_(static_cast<size_t>(storage.d)),
        query_(query) {}

  const uint8_t* CodeOf(FaissId v) const { return codes_ + v * code_size_; }
  size_t code_size() const { return code_size_; }

  float Score(FaissId v) const {
    return InnerProduct(query_, reinterpret_cast<const float*>(CodeOf(v)),
                        dimension_);
  }

  float Between(FaissId a, FaissId b) const {
    return InnerProduct(reinterpret_cast<const float*>(CodeOf(a)),
                        reinterpret_cast<const float*>(CodeOf(b)), dimension_);
  }

 private:
  const uint8_t* const codes_;
  const size_t code_size_;
  const size_t dimension_;
  const float* const query_;
};

// Asks the memory system for every cache line of vector `v`'s code. Graph
// search at scale waits on memory: each step compares the query with up to
// 2 x degree vectors scattered over hundreds of megabytes, and fetching
// them all at once overlaps the misses instead of taking them one by one.
template <typename Scorer>
void PrefetchCode(const Scorer& scorer, FaissId v) {
  const char* code = reinterpret_cast<const char*>(scorer.CodeOf(v));
  for (size_t offset = 0; offset < scorer.code_size(); offset += 64) {
    __builtin_prefetch(code + offset);
  }
  __builtin_prefetch(code + scorer.code_size() - 1);
}

struct ScoredVertex {
  float score;
  FaissId vertex;
};

// Orders best first; a type rather than a function so that the heap and
// sort calls inline it.
struct BetterFirst {
  bool operator()(const ScoredVertex& a, const ScoredVertex& b) const {
    return a.score > b.score;
  }
};

// Offers `candidate` to `best`, a heap of at most `most` vertices with the
// worst on top (BetterFirst order); returns whether it was kept.
bool KeepIfAmongBest(ScoredVertex candidate, size_t most,
                     std::vector<ScoredVertex>* best) {
  if (best->size() >= most && candidate.score <= best->front().score) {
    return false;
  }
  best->push_back(candidate);
  std::push_heap(best->begin(), best->end(), BetterFirst());
  if (best->size() > most) {
    std::pop_heap(best->begin(), best->end(), BetterFirst());
    best->pop_back();
  }
  return true;
}

// Graph links are read by searches while one insert at a time writes them
// (see TimeShardedIndex): each slot is read and written whole, and a link
// is published (release) only after everything it leads to (the vertex's
// code, level, offsets and own links) is written, so a search that reads
// it (acquire) sees a complete vertex. A search racing an insert may see
// a link list half old and half new, which costs it at most a detour.
using GraphLink = faiss::HNSW::storage_idx_t;
GraphLink LoadLink(const GraphLink* slot) {
  return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}
void StoreLink(GraphLink* slot, GraphLink value) {
  __atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

// The links of `vertex` on graph layer `level`: a fixed-width slot range of
// hnsw.neighbors, unused slots -1 at the end.
std::pair<GraphLink*, size_t> LinksOf(faiss::HNSW& hnsw, FaissId vertex,
                                      int level) {
  const size_t begin = hnsw.cum_nneighbor_per_level[level];
  return {hnsw.neighbors.data() + hnsw.offsets[vertex] + begin,
          hnsw.cum_nneighbor_per_level[level + 1] - begin};
}

std::pair<const GraphLink*, size_t> LinksOf(const faiss::HNSW& hnsw,
                                            FaissId vertex, int level) {
  return LinksOf(const_cast<faiss::HNSW&>(hnsw), vertex, level);
}

// Greedy descent: from `*nearest`, moves to a better neighbour on each
// layer above `to_level` until none is better.
template <typename Scorer>
void Descend(const faiss::HNSW& hnsw, const Scorer& scorer, int from_level,
             int to_level, ScoredVertex* nearest) {
  for (int level = from_level; level > to_level; --level) {
    for (bool moved = true; moved;) {
      moved = false;
      const auto [links, width] = LinksOf(hnsw, nearest->vertex, level);
      for (size_t j = 0; j < width; ++j) {
        const GraphLink link = LoadLink(&links[j]);
        if (link < 0) break;
        const float score = scorer.Score(link);
        if (score > nearest->score) {
          *nearest = {score, link};
          moved = true;
        }
      }
    }
  }
}

// Best-first search of one graph layer from `entry`, keeping the `breadth`
// best vertices seen (efSearch / efConstruction); returns them best first.
// The same walk as faiss's, written here so that comparisons are direct
// calls and each step prefetches all its unvisited neighbours before
// comparing any. `visited` needs a slot per vertex and is advanced.
template <typename Scorer>
std::vector<ScoredVertex> SearchLayer(const faiss::HNSW& hnsw,
                                      const Scorer& scorer, int level,
                                      ScoredVertex entry, int breadth,
                                      faiss::VisitedTable* visited) {
  // Candidates to expand: best on top. Results: worst on top.
  auto lower = [](const ScoredVertex& a, const ScoredVertex& b) {
    return a.score < b.score;
  };
  std::vector<ScoredVertex> candidates, results;
  candidates.reserve(4 * breadth);
  results.reserve(breadth + 1);
  candidates.push_back(entry);
  results.push_back(entry);
  visited->set(entry.vertex);
  std::vector<FaissId> fresh(LinksOf(hnsw, entry.vertex, level).second);
  while (!candidates.empty()) {
    std::pop_heap(candidates.begin(), candidates.end(), lower);
    const ScoredVertex current = candidates.back();
    candidates.pop_back();
    if (static_cast<int>(results.size()) >= breadth &&
        current.score < results.front().score) {
      break;  // nothing left can improve the results
    }
    const auto [links, width] = LinksOf(hnsw, current.vertex, level);
    size_t num_fresh = 0;
    for (size_t j = 0; j < width; ++j) {
      const GraphLink link = LoadLink(&links[j]);
      if (link < 0) break;
      if (visited->get(link)) continue;
      visited->set(link);
      fresh[num_fresh++] = link;
    }
    for (size_t j = 0; j < num_fresh; ++j) PrefetchCode(scorer, fresh[j]);
    for (size_t j = 0; j < num_fresh; ++j) {
      const ScoredVertex seen{scorer.Score(fresh[j]), fresh[j]};
      if (KeepIfAmongBest(seen, breadth, &results)) {
        candidates.push_back(seen);
        std::push_heap(candidates.begin(), candidates.end(), lower);
      }
    }
  }
  visited->advance();
  std::sort(results.begin(), results.end(), BetterFirst());
  return results;
}

// The `breadth` best vertices of the graph for the scorer's query, best
// first (faiss::HNSW::search).
template <typename Scorer>
std::vector<ScoredVertex> SearchGraph(const faiss::HNSW& hnsw,
                                      const Scorer& scorer, int breadth,
                                      faiss::VisitedTable* visited) {
  const GraphLink entry = LoadLink(&hnsw.entry_point);
  if (entry < 0) return {};
  ScoredVertex nearest{scorer.Score(entry), entry};
  // The entry point's own top layer: hnsw.max_level may already belong to
  // an entry point this search does not see yet.
  Descend(hnsw, scorer, hnsw.levels[entry] - 1, 0, &nearest);
  return SearchLayer(hnsw, scorer, 0, nearest, breadth, visited);
}

// HNSW's neighbour selection heuristic: walking the candidates best first,
// keeps one unless it is closer to an already kept vertex than to the
// point being linked, up to `most`. Keeps links pointing in different
// directions, which is what makes the graph navigable. Fewer candidates
// than `most` are all kept (as faiss does).
template <typename Scorer>
void SelectLinks(const Scorer& scorer, size_t most,
                 std::vector<ScoredVertex>* candidates) {
  if (candidates->size() <= most) return;
  std::vector<ScoredVertex> kept;
  for (const ScoredVertex& c : *candidates) {
    bool diverse = true;
    for (const ScoredVertex& k : kept) {
      if (scorer.Between(k.vertex, c.vertex) > c.score) {
        diverse = false;
        break;
      }
    }
    if (!diverse) continue;
    kept.push_back(c);
    if (kept.size() >= most) break;
  }
  *candidates = std::move(kept);
}

// Links `from` to `to` on `level`; a full link list re-selects among its
// links and the new one (faiss::HNSW's add_link).
template <typename Scorer>
void AddLink(faiss::HNSW& hnsw, const Scorer& scorer, FaissId from, FaissId to,
             int level) {
  const auto [links, width] = LinksOf(hnsw, from, level);
  if (links[width - 1] < 0) {
    size_t free = width;
    while (free > 0 && links[free - 1] < 0) --free;
    StoreLink(&links[free], static_cast<GraphLink>(to));
    return;
  }
  std::vector<ScoredVertex> candidates;
  candidates.push_back({scorer.Between(from, to), to});
  for (size_t j = 0; j < width; ++j) {
    candidates.push_back({scorer.Between(from, links[j]), links[j]});
  }
  std::sort(candidates.begin(), candidates.end(), BetterFirst());
  SelectLinks(scorer, width, &candidates);
  for (size_t j = 0; j < width; ++j) {
    StoreLink(&links[j], j < candidates.size()
                             ? static_cast<GraphLink>(candidates[j].vertex)
                             : -1);
  }
}

// Links `vertex` on `level` to the best of `candidates` (best first), and
// them back to it.
template <typename Scorer>
void LinkVertex(faiss::HNSW& hnsw, const Scorer& scorer, FaissId vertex,
                int level, std::vector<ScoredVertex> candidates) {
  const auto [links, width] = LinksOf(hnsw, vertex, level);
  SelectLinks(scorer, width, &candidates);
  for (size_t j = 0; j < candidates.size(); ++j) {
    StoreLink(&links[j], static_cast<GraphLink>(candidates[j].vertex));
  }
  for (const ScoredVertex& c : candidates) {
    AddLink(hnsw, scorer, c.vertex, vertex, level);
  }
}

// Links the graph's newest vertex, whose code is stored and whose level
// and empty link slots are prepared, into the graph (faiss::HNSW's
// add_with_locks, single-threaded). The scorer's query is its vector.
// `base_candidates`, when given, are the base layer's nearest vertices
// found by an earlier search for the same vector; a vertex that lives on
// the base layer only (all but about one in `degree`) then needs no search.
template <typename Scorer>
void InsertIntoGraph(faiss::HNSW& hnsw, const Scorer& scorer, FaissId vertex,
                     const std::vector<ScoredVertex>* base_candidates,
                     faiss::VisitedTable* visited) {
  const int level = hnsw.levels[vertex] - 1;
  if (hnsw.entry_point < 0) {
    hnsw.max_level = level;
    StoreLink(&hnsw.entry_point, static_cast<GraphLink>(vertex));
    return;
  }
  if (level == 0 && base_candidates != nullptr && !base_candidates->empty()) {
    LinkVertex(hnsw, scorer, vertex, 0, *base_candidates);
    return;
  }
  ScoredVertex nearest{scorer.Score(hnsw.entry_point), hnsw.entry_point};
  Descend(hnsw, scorer, hnsw.max_level, level, &nearest);
  for (int l = std::min(level, hnsw.max_level); l >= 0; --l) {
    std::vector<ScoredVertex> found =
        SearchLayer(hnsw, scorer, l, nearest, hnsw.efConstruction, visited);
    nearest = found.front();
    LinkVertex(hnsw, scorer, vertex, l, std::move(found));
  }
  if (level > hnsw.max_level) {
    hnsw.max_level = level;
    StoreLink(&hnsw.entry_point, static_cast<GraphLink>(vertex));
  }
}

// Vector storage for a shard, as configured.
faiss::IndexFlatCodes* NewStorage(const VectorIndexOptions& options) {
  if (options.quantize) return new QuantizedIndexIP(options.dimension);
  return new faiss::IndexFlatIP(options.dimension);
}

// One time bucket's vectors, behind an IndexIDMap that maps FAISS's
// sequential ids to ours. Starts exact (a scan of the stored codes); past
// the exact limit it is rebuilt as a faiss::IndexHNSW over the same kind of
// storage, whose graph (faiss::HNSW) our own functions above search and
// extend. HNSW cannot remove vectors, so removed ids are remembered and
// filtered out of results (deletions and article updates are rare next to
// inserts). Every FAISS call below may throw; the index class catches and
// converts. Synchronisation is the caller's (TimeShardedIndex): const
// methods may run together, and with one Add while
// CanAddAlongsideSearches(); everything else needs the shard alone.
class Shard {
 public:
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  explicit Shard(const VectorIndexOptions& options)
      : options_(options), serial_(NextSerial()) {
    index_ = std::make_unique<faiss::IndexIDMap>(NewStorage(options));
    index_->own_fields = true;
  }

  // Vectors searchable in this shard.
  int64_t size() const {
    return stored_.load(std::memory_order_relaxed) -
           removed_count_.load(std::memory_order_relaxed);
  }

  // Whether Add can run while searches run: a graph with memory reserved
  // for one more vertex, so that no array it shares with searches moves.
  bool CanAddAlongsideSearches() const {
    if (!graph_ || index_->ntotal >= capacity_) return false;
    const faiss::HNSW& hnsw = Graph().hnsw;
    return hnsw.neighbors.size() + hnsw.cum_nneighbor_per_level.back() <=
           hnsw.neighbors.capacity();
  }

  // Adds a vector; `hint` (may be null) is from a search of this shard.
  // Alongside searches only if CanAddAlongsideSearches(), and one Add at a
  // time.
  void Add(FaissId id, const float* vector, const InsertHint* hint) {
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

  // Appends up to k (id, score) hits to `out`; a graph keeps `breadth`
  // candidates while searching. With a `hint`, searches at least as
  // broadly as an insert and keeps what an insert of `query` needs.
  void Search(const float* query, int k, int breadth,
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
        for (FaissId i = 0; i < index_->ntotal; ++i) {
          KeepIfAmongBest({scorer.Score(i), i}, k, &best);
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

  // A graph's vertices stay as waypoints, left out of results: removal is
  // O(1) and may run alongside searches (not alongside an Add). Exact
  // storage compacts, O(shard size) (at most exact_limit), and needs the
  // shard alone.
  bool CanRemoveAlongsideSearches() const { return graph_; }
  size_t Remove(FaissId id) {
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

  bool Relabel(FaissId old_id, FaissId new_id) {
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

 private:
  // A graph search keeps `width` candidates, removed vertices among them;
  // widened in proportion so that as many live ones come back, but never
  // by more than the removed count. (Adding the whole removed count, as
  // this did, made every search slower with each new version of an
  // article: 20,000 updates meant searches 20,000 wide.)
  int WidenForRemoved(int width) const {
    const int64_t removed = removed_count_.load(std::memory_order_relaxed);
    if (removed == 0) return width;
    const int64_t total = index_->ntotal;
    const int64_t live = std::max<int64_t>(1, total - removed);
    const int64_t widened = (width * total + live - 1) / live;
    return static_cast<int>(std::min<int64_t>(widened, width + removed));
  }

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
  static uint64_t NextSerial() {
    static std::atomic<uint64_t> last{0};
    return ++last;
  }

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
  void Reserve(int64_t vertices) {
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
    hnsw.neighbors.reserve(vertices *
                               (base + 2 * upper / options_.graph_degree) +
                           hnsw.cum_nneighbor_per_level.back());
    visited_.visited.resize(vertices);
    capacity_ = vertices;
  }

  // Stores a vector in the graph's storage and links it in, to the
  // `base_candidates` of a search if not empty. faiss's own
  // IndexHNSW::add would create and destroy one lock per vertex of the
  // whole graph on every call, which makes single inserts O(shard size).
  // Everything the new vertex's links lead to is written before they are
  // published (see GraphLink).
  void AppendToGraph(FaissId id, const float* vector,
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

  // Moves the shard's vectors from exact storage into an HNSW graph.
  void ConvertToGraph() {
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

  const VectorIndexOptions options_;
  std::unique_ptr<faiss::IndexIDMap> index_;
  const uint64_t serial_;
  bool graph_ = false;
  int64_t capacity_ = 0;  // graph vertices with memory reserved
  // index_->ntotal, for size() during an Add.
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
    {
      // From a graph: alongside searches, one change at a time.
      absl::ReaderMutexLock search_lock(&mu_);
      absl::MutexLock change_lock(&add_mu_);
      auto shard = shards_.find(bucket);
      if (shard == shards_.end()) return false;
      if (shard->second->CanRemoveAlongsideSearches()) {
        const size_t removed = shard->second->Remove(id);
        size_.fetch_sub(static_cast<int64_t>(removed),
                        std::memory_order_relaxed);
        return removed > 0;
      }
    }
    absl::MutexLock lock(&mu_);
    auto shard = shards_.find(bucket);
    if (shard == shards_.end()) return false;
    size_t removed = 0;
    try {
      removed = shard->second->Remove(id);
    } catch (const faiss::FaissException& e) {
      return absl::InternalError(
          absl::StrCat("FAISS remove failed: ", e.what()));
    }
    size_.fetch_sub(static_cast<int64_t>(removed), std::memory_order_relaxed);
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

  int64_t size() const override {
    return size_.load(std::memory_order_relaxed);
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
  // graph shard with room, and run alongside searches (one add at a time);
  // the rest (new, exact or full shards) wait for the index alone.
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
