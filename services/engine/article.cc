#include "services/engine/article.h"

namespace newsdedup {

const char* RelationName(Relation relation) {
  switch (relation) {
    case Relation::kNewStory:
      return "NEW_STORY";
    case Relation::kSameStory:
      return "SAME_STORY";
    case Relation::kNearDuplicate:
      return "NEAR_DUPLICATE";
    case Relation::kExactDuplicate:
      return "EXACT_DUPLICATE";
  }
  return "UNKNOWN";
}

absl::string_view DefaultCollection(absl::Time published) {
  return Dated(published) ? "dated" : "undated";
}

}  // namespace newsdedup
