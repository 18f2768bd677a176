// A fingerprint of an engine's story state: every article's cluster, every
// cluster's representative, size and aliases. Replicas that applied the
// same log entries have the same digest; a difference means they decided
// differently somewhere (docs/replication.md).
#ifndef NEWSDEDUP_SERVICES_STATE_DIGEST_H_
#define NEWSDEDUP_SERVICES_STATE_DIGEST_H_

#include <cstdint>
#include <string>

#include "services/engine.h"

namespace newsdedup {

struct StateDigest {
  uint64_t digest = 0;  // XXH3 over the state in a canonical order
  int64_t articles = 0;
  int64_t clusters = 0;  // expired ones included
  // 16 hex digits of `digest`.
  std::string Hex() const;
};

// Reads the whole state through the engine's public reads (O(articles)).
// Concurrent changes may land half-way: compare digests of engines that
// are not changing (or that applied the same log prefix).
StateDigest ComputeStateDigest(const ClusteringEngine& engine);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_STATE_DIGEST_H_
