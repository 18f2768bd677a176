#include "services/engine/state_digest.h"

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

StateDigest ComputeStateDigest(std::vector<DigestedCluster> clusters) {
  std::sort(clusters.begin(), clusters.end(),
            [](const DigestedCluster& a, const DigestedCluster& b) {
              return a.id < b.id;
            });
  HashState hash;
  StateDigest out;
  for (DigestedCluster& c : clusters) {
    hash.Add(c.id);
    hash.Add(c.representative_id);
    hash.Add(c.thread_id);
    hash.Add(absl::StrFormat("%d", c.member_ids.size()));
    std::sort(c.aliases.begin(), c.aliases.end());
    for (const std::string& alias : c.aliases) hash.Add(alias);
    hash.Add("members");
    std::sort(c.member_ids.begin(), c.member_ids.end());
    for (const std::string& id : c.member_ids) hash.Add(id);
    out.articles += static_cast<int64_t>(c.member_ids.size());
    ++(c.member_ids.empty() ? out.expired_clusters : out.clusters);
  }
  out.digest = XXH3_64bits_digest(hash.state);
  return out;
}

StateDigest ComputeStateDigest(const ClusteringEngine& engine) {
  std::vector<DigestedCluster> clusters;
  for (ClusterSummary& summary :
       engine.ListClusters(/*include_expired=*/true)) {
    DigestedCluster& c = clusters.emplace_back();
    c.id = std::move(summary.cluster_id);
    c.representative_id = std::move(summary.representative_id);
    c.thread_id = std::move(summary.thread_id);
    c.aliases = std::move(summary.aliases);
    auto members = engine.ClusterMembers(c.id, 0, summary.size);
    if (members.ok()) {
      for (ArticleView& m : members->members) {
        c.member_ids.push_back(std::move(m.id));
      }
    }
  }
  return ComputeStateDigest(std::move(clusters));
}

}  // namespace newsdedup
