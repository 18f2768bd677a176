// Opaque page tokens for lists that change between calls.
//
// Stories grow, merge and expire between two ListClusters calls, so an
// offset into the re-sorted list skips or repeats items. Instead, the call
// for the first page keeps the order it computed (the ids only) as a
// snapshot, and its token names the snapshot and a position in it: later
// pages read the same order, so no story is skipped or repeated (stories
// created meanwhile are not in it; a fresh first page shows them).
// Snapshots are kept for `ttl` after their last use, at most `max_snapshots`
// of them (the least recently used goes first); an expired token gets a
// clear error.
//
// Thread safety: all methods may be called concurrently.
#ifndef NEWSDEDUP_SERVICES_API_PAGE_TOKENS_H_
#define NEWSDEDUP_SERVICES_API_PAGE_TOKENS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace newsdedup {

class PageSnapshots {
 public:
  PageSnapshots(absl::Duration ttl, int max_snapshots);

  // One page to return, and the token of the next ("" on the last page).
  struct Page {
    std::vector<std::string> ids;
    std::string next_token;
    int64_t total = 0;  // items in the snapshot
  };

  // The first page of `ids`, listed for `query` (the request's fields
  // other than its page size and token, in any stable spelling). A new
  // snapshot is kept only if there are more pages.
  Page First(std::vector<std::string> ids, int page_size,
             const std::string& query);

  // The page a token names, for a request of the same `query`. Errors:
  // kInvalidArgument for a token this server did not make, one made for
  // another query (AIP-158: a token reused with another sort order would
  // silently keep the old one), or whose snapshot has expired (the message
  // says to start again without a token).
  absl::StatusOr<Page> Next(const std::string& token, int page_size,
                            const std::string& query);

 private:
  struct Snapshot {
    std::vector<std::string> ids;
    std::string query;
    absl::Time last_used;
  };

  std::string Token(uint64_t snapshot, int64_t offset) const;
  Page PageAt(uint64_t number, const Snapshot& snapshot, int64_t offset,
              int page_size) const;
  // Drops expired snapshots, and with `make_room` the least recently used
  // ones until one more fits.
  void EvictLocked(absl::Time now, bool make_room)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration ttl_;
  const int max_snapshots_;
  // Random per process: a token from another server (or an earlier run) is
  // recognised as foreign instead of naming the wrong snapshot.
  const uint64_t salt_;
  absl::Mutex mu_;
  uint64_t next_number_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Snapshot>> snapshots_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_API_PAGE_TOKENS_H_
