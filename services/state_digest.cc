#include "services/state_digest.h"

#include <xxhash.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/strings/str_format.h"

namespace newsdedup {
namespace {

struct HashState {
  HashState() : state(XXH3_createState()) { XXH3_64bits_reset(state); }
  ~HashState() { XXH3_freeState(state); }
  // Each field ends with a NUL so that ("ab","c") and ("a","bc") differ.
  void Add(absl::string_view field) {
    XXH3_64bits_update(state, field.data(), field.size());
    XXH3_64bits_update(state, "", 1);
  }
  XXH3_state_t* state;
};

}  // namespace

std::string StateDigest::Hex() const {
  return absl::StrFormat("%016x", digest);
}

StateDigest ComputeStateDigest(const ClusteringEngine& engine) {
  std::vector<ClusterSummary> clusters =
      engine.ListClusters(/*include_expired=*/true);
  std::sort(clusters.begin(), clusters.end(),
            [](const ClusterSummary& a, const ClusterSummary& b) {
              return a.cluster_id < b.cluster_id;
            });
  HashState hash;
  StateDigest out;
  for (ClusterSummary& c : clusters) {
    hash.Add(c.cluster_id);
    hash.Add(c.representative_id);
    hash.Add(absl::StrFormat("%d", c.size));
    std::sort(c.aliases.begin(), c.aliases.end());
    for (const std::string& alias : c.aliases) hash.Add(alias);
    hash.Add("members");
    auto members = engine.ClusterMembers(c.cluster_id, 0, c.size);
    if (members.ok()) {
      for (const ArticleView& m : members->members) {
        hash.Add(m.id);
        ++out.articles;
      }
    }
    ++out.clusters;
  }
  out.digest = XXH3_64bits_digest(hash.state);
  return out;
}

}  // namespace newsdedup
