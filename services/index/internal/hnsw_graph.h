// The HNSW graph of a vector index shard: search and insert over
// faiss::HNSW's data (FAISS 1.7.3's layout: per-vertex offsets into one
// array of fixed-width link slots per layer), written here so that
// comparisons are direct calls to a Scorer (vector_codec.h), each step
// prefetches its neighbours, and an insert can reuse the search that came
// before it. One insert at a time may run alongside any number of
// searches: links are published with release stores and read with acquire
// loads (see GraphLink). Internal to services/.
#ifndef NEWSDEDUP_SERVICES_INDEX_INTERNAL_HNSW_GRAPH_H_
#define NEWSDEDUP_SERVICES_INDEX_INTERNAL_HNSW_GRAPH_H_

#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/HNSW.h>

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "services/index/internal/vector_codec.h"

namespace newsdedup {
namespace internal {

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

// Pushes {score, vertex} onto `heap`, a binary heap in which `above(a, b)`
// holds when a score a belongs above a score b: the heap that std::push_heap
// with the matching comparator builds, element for element. The new
// vertex's fields are written once, at their final place: push_back and
// then std::push_heap read back the 16 bytes just written as two smaller
// stores, which the CPU cannot forward from its store buffer, a stall of
// a dozen cycles on every vector a graph search keeps.
template <typename Above>
inline void PushHeap(float score, FaissId vertex, Above above,
                     std::vector<ScoredVertex>* heap) {
  heap->emplace_back();
  ScoredVertex* data = heap->data();
  size_t hole = heap->size() - 1;
  while (hole > 0) {
    const size_t parent = (hole - 1) / 2;
    if (!above(score, data[parent].score)) break;
    data[hole] = data[parent];
    hole = parent;
  }
  data[hole].score = score;
  data[hole].vertex = vertex;
}

// Offers {score, vertex} to `best`, a heap of at most `most` vertices with
// the worst on top (BetterFirst order); returns whether it was kept.
// Inline: a graph search calls it for every vector it compares.
inline bool KeepIfAmongBest(float score, FaissId vertex, size_t most,
                            std::vector<ScoredVertex>* best) {
  if (best->size() < most) {
    PushHeap(
        score, vertex, [](float a, float b) { return a < b; }, best);
    return true;
  }
  if (best->empty() || score <= best->front().score) return false;
  // Full: the candidate takes the worst one's place and sinks to its
  // level, one pass where a push and a pop would take two.
  ScoredVertex* heap = best->data();
  const size_t size = best->size();
  size_t hole = 0;
  for (size_t child = 1; child < size; child = 2 * hole + 1) {
    if (child + 1 < size && heap[child + 1].score < heap[child].score) {
      ++child;  // the worse of the two children
    }
    if (heap[child].score >= score) break;
    heap[hole] = heap[child];
    hole = child;
  }
  heap[hole].score = score;
  heap[hole].vertex = vertex;
  return true;
}

// Graph links are read by searches while one insert at a time writes them
// (see TimeShardedIndex): each slot is read and written whole, and a link
// is published (release) only after everything it leads to (the vertex's
// code, level, offsets and own links) is written, so a search that reads
// it (acquire) sees a complete vertex. A search racing an insert may see
// a link list half old and half new, which costs it at most a detour.
using GraphLink = faiss::HNSW::storage_idx_t;
inline GraphLink LoadLink(const GraphLink* slot) {
  return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}
inline void StoreLink(GraphLink* slot, GraphLink value) {
  __atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

// The links of `vertex` on graph layer `level`: a fixed-width slot range of
// hnsw.neighbors, unused slots -1 at the end.
// Slots [cum_nneighbor_per_level[level], [level + 1]) of the vertex.
inline std::pair<GraphLink*, size_t> LinksOf(faiss::HNSW& hnsw, FaissId vertex,
                                             int level) {
  const size_t begin = hnsw.cum_nneighbor_per_level[level];
  return {hnsw.neighbors.data() + hnsw.offsets[vertex] + begin,
          hnsw.cum_nneighbor_per_level[level + 1] - begin};
}
inline std::pair<const GraphLink*, size_t> LinksOf(const faiss::HNSW& hnsw,
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
    // The next vertex to expand is most often the best candidate left:
    // its links load while this one's neighbours are compared.
    if (!candidates.empty()) {
      const GraphLink* next =
          LinksOf(hnsw, candidates.front().vertex, level).first;
      __builtin_prefetch(next);
      __builtin_prefetch(next + 16);
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
      const FaissId vertex = fresh[j];
      const float score = scorer.Score(vertex);
      if (KeepIfAmongBest(score, vertex, breadth, &results)) {
        // Where its links are, which the step that expands it reads
        // first: a miss of its own at scale.
        __builtin_prefetch(&hnsw.offsets[vertex]);
        PushHeap(
            score, vertex, [](float a, float b) { return a > b; }, &candidates);
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

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_INDEX_INTERNAL_HNSW_GRAPH_H_
