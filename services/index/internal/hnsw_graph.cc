#include "services/index/internal/hnsw_graph.h"

namespace newsdedup {
namespace internal {

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

// Slots [cum_nneighbor_per_level[level], [level + 1]) of the vertex.
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

}  // namespace internal
}  // namespace newsdedup
