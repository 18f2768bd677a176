#include "services/api/page_tokens.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace newsdedup {
namespace {

absl::Status BadToken(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "page_token: ", why, "; ask for the first page again, without a token"));
}

}  // namespace

PageSnapshots::PageSnapshots(absl::Duration ttl, int max_snapshots)
    : ttl_(ttl),
      max_snapshots_(std::max(1, max_snapshots)),
      salt_(std::random_device()() | uint64_t{1} << 32) {}

std::string PageSnapshots::Token(uint64_t snapshot, int64_t offset) const {
  return absl::WebSafeBase64Escape(
      absl::StrCat("p1:", salt_, ":", snapshot, ":", offset));
}

PageSnapshots::Page PageSnapshots::PageAt(uint64_t number,
                                          const Snapshot& snapshot,
                                          int64_t offset, int page_size) const {
  Page page;
  page.total = static_cast<int64_t>(snapshot.ids.size());
  const int64_t end = std::min(page.total, offset + page_size);
  for (int64_t i = offset; i < end; ++i) page.ids.push_back(snapshot.ids[i]);
  if (end < page.total) page.next_token = Token(number, end);
  return page;
}

PageSnapshots::Page PageSnapshots::First(std::vector<std::string> ids,
                                         int page_size,
                                         const std::string& query) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->ids = std::move(ids);
  snapshot->query = query;
  if (static_cast<int64_t>(snapshot->ids.size()) <= page_size) {
    return PageAt(0, *snapshot, 0, page_size);  // one page: nothing to keep
  }
  const absl::Time now = absl::Now();
  snapshot->last_used = now;
  absl::MutexLock lock(&mu_);
  EvictLocked(now, /*make_room=*/true);
  const uint64_t number = next_number_++;
  snapshots_[number] = snapshot;
  return PageAt(number, *snapshot, 0, page_size);
}

absl::StatusOr<PageSnapshots::Page> PageSnapshots::Next(
    const std::string& token, int page_size, const std::string& query) {
  std::string decoded;
  if (!absl::WebSafeBase64Unescape(token, &decoded)) {
    return BadToken("not a token from this API");
  }
  const std::vector<absl::string_view> parts = absl::StrSplit(decoded, ':');
  uint64_t salt = 0, number = 0;
  int64_t offset = 0;
  if (parts.size() != 4 || parts[0] != "p1" ||
      !absl::SimpleAtoi(parts[1], &salt) ||
      !absl::SimpleAtoi(parts[2], &number) ||
      !absl::SimpleAtoi(parts[3], &offset) || offset < 0) {
    return BadToken("not a token from this API");
  }
  if (salt != salt_) {
    return BadToken("made by another server process (after a restart?)");
  }
  const absl::Time now = absl::Now();
  std::shared_ptr<Snapshot> snapshot;
  {
    absl::MutexLock lock(&mu_);
    EvictLocked(now, /*make_room=*/false);
    auto it = snapshots_.find(number);
    if (it == snapshots_.end()) {
      return BadToken(absl::StrCat("expired (kept ", absl::FormatDuration(ttl_),
                                   " after its last use)"));
    }
    snapshot = it->second;
    snapshot->last_used = now;
  }
  if (offset > static_cast<int64_t>(snapshot->ids.size())) {
    return BadToken("not a token from this API");
  }
  if (snapshot->query != query) {
    return BadToken(
        "made for a request with other parameters (only page_size may "
        "change between pages)");
  }
  return PageAt(number, *snapshot, offset, page_size);
}

void PageSnapshots::EvictLocked(absl::Time now, bool make_room) {
  for (auto it = snapshots_.begin(); it != snapshots_.end();) {
    auto current = it++;
    if (now - current->second->last_used > ttl_) snapshots_.erase(current);
  }
  while (make_room && static_cast<int>(snapshots_.size()) >= max_snapshots_) {
    auto oldest = std::min_element(
        snapshots_.begin(), snapshots_.end(), [](const auto& a, const auto& b) {
          return a.second->last_used < b.second->last_used;
        });
    snapshots_.erase(oldest);
  }
}

}  // namespace newsdedup
