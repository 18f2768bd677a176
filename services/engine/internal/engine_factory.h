// How ClusteringEngine::Create assembles an engine: the engine proper
// (services/engine/engine.cc) and, with a store, the wrapper that rebuilds it
// from the store after a failed write (services/engine/durable_engine.cc).
// Internal to services/.
#ifndef NEWSDEDUP_SERVICES_ENGINE_INTERNAL_ENGINE_FACTORY_H_
#define NEWSDEDUP_SERVICES_ENGINE_INTERNAL_ENGINE_FACTORY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "embeddings/embedder.h"
#include "services/engine/engine.h"
#include "services/engine/engine_options.h"
#include "services/engine/engine_store.h"

namespace newsdedup {
namespace internal {

// The engine proper on `store` (not owned; it must outlive the engine),
// recovered from it; memory only when `store` is null. Errors: as
// ClusteringEngine::Create.
absl::StatusOr<std::unique_ptr<ClusteringEngine>> NewEngineOnStore(
    const EngineOptions& options, std::unique_ptr<Embedder> embedder,
    EngineStore* store);

// Writes the index snapshot of an engine proper made by NewEngineOnStore
// (ClusteringEngineImpl::WriteIndexSnapshot).
absl::Status WriteIndexSnapshot(ClusteringEngine& engine_proper);

// An engine that owns `store` and keeps its memory equal to what the store
// holds: after a failed write it rebuilds the engine proper from the store.
absl::StatusOr<std::unique_ptr<ClusteringEngine>> NewDurableEngine(
    const EngineOptions& options, std::unique_ptr<Embedder> embedder,
    std::unique_ptr<EngineStore> store);

}  // namespace internal
}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_ENGINE_INTERNAL_ENGINE_FACTORY_H_
