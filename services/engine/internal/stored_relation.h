// Relation and its stored numbers (newsdedup/storage/v1/state.proto), one
// by one: the C++ order may change, the numbers on disk may not. Internal
// to services/engine; defined in engine_recovery.cc.
#ifndef NEWSDEDUP_SERVICES_ENGINE_INTERNAL_STORED_RELATION_H_
#define NEWSDEDUP_SERVICES_ENGINE_INTERNAL_STORED_RELATION_H_

#include "absl/status/statusor.h"
#include "newsdedup/storage/v1/state.pb.h"
#include "services/engine/article.h"

namespace newsdedup {
namespace internal {

storage::v1::StoredAnswer::Relation ToStoredRelation(Relation relation);

// Errors: kFailedPrecondition for a number this build does not know (the
// store was written by a newer one): refused, not clamped to another
// meaning.
absl::StatusOr<Relation> FromStoredRelation(
    storage::v1::StoredAnswer::Relation relation);

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_INTERNAL_STORED_RELATION_H_
