// Command-line flags shared by every command that runs the engine, and the
// one place that builds an engine from them.
#ifndef NEWSDEDUP_TOOLS_ENGINE_FLAGS_H_
#define NEWSDEDUP_TOOLS_ENGINE_FLAGS_H_

#include <CLI/CLI.hpp>
#include <memory>

#include "absl/status/statusor.h"
#include "embeddings/lexical_embedder.h"
#include "services/engine.h"

namespace newsdedup {

struct EngineFlags {
  EngineOptions engine;
  LexicalEmbedderOptions embedder;
  double story_window_hours = absl::ToDoubleHours(EngineOptions().story_window);
};

// Registers --window-hours, thresholds, --model, --dim ... on `command`,
// each defaulting to the shipped configuration.
void AddEngineFlags(CLI::App* command, EngineFlags* flags);

// Builds the embedder and engine described by `flags`.
absl::StatusOr<std::unique_ptr<ClusteringEngine>> BuildEngine(
    const EngineFlags& flags);

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_ENGINE_FLAGS_H_
