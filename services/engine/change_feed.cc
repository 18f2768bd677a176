#include "services/engine/change_feed.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace newsdedup {

const char* FeedEventKindName(FeedEvent::Kind kind) {
  switch (kind) {
    case FeedEvent::Kind::kCreated:
      return "CREATED";
    case FeedEvent::Kind::kGrew:
      return "GREW";
    case FeedEvent::Kind::kUpdated:
      return "UPDATED";
    case FeedEvent::Kind::kMerged:
      return "MERGED";
    case FeedEvent::Kind::kSplit:
      return "SPLIT";
    case FeedEvent::Kind::kMoved:
      return "MOVED";
    case FeedEvent::Kind::kRepresentativeChanged:
      return "REPRESENTATIVE_CHANGED";
    case FeedEvent::Kind::kEdited:
      return "EDITED";
    case FeedEvent::Kind::kExpired:
      return "EXPIRED";
    case FeedEvent::Kind::kTakenDown:
      return "TAKEN_DOWN";
    case FeedEvent::Kind::kThreadsJoined:
      return "THREADS_JOINED";
  }
  return "UNKNOWN";
}

absl::StatusOr<FeedEvent::Kind> ParseFeedEventKind(absl::string_view name) {
  const std::string upper = absl::AsciiStrToUpper(name);
  std::vector<std::string> names;
  for (int k = static_cast<int>(FeedEvent::kFirstKind);
       k <= static_cast<int>(FeedEvent::kLastKind); ++k) {
    const auto kind = static_cast<FeedEvent::Kind>(k);
    if (upper == FeedEventKindName(kind)) return kind;
    names.push_back(FeedEventKindName(kind));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown event kind '", name, "'; kinds: ", absl::StrJoin(names, ", ")));
}

}  // namespace newsdedup
