// Command-line flags shared by every command that runs the engine, and the
// one place that builds an engine from them.
#ifndef NEWSDEDUP_TOOLS_ENGINE_FLAGS_H_
#define NEWSDEDUP_TOOLS_ENGINE_FLAGS_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "embeddings/lexical_embedder.h"
#include "services/engine/engine.h"

namespace newsdedup {

// Articles per ClusteringEngine::AssignBatch call for the batch commands
// (cluster, eval): enough to keep the reading thread ahead, few enough
// that output follows input closely.
constexpr size_t kAssignBatchSize = 256;

// Where the engine keeps its state (commands that register AddStoreFlags).
struct StoreFlags {
  bool durable = false;  // false: memory only
  // Opens the store for reading alone (admin check beside a server): the
  // engine recovers, and refuses every change.
  bool read_only = false;
  std::string data_dir = "newsdedup-data";
  std::string sync = "always";
  double retention_days = 30;
  int64_t min_free_mb = 64;
  // 2 MiB: the soak benchmark's memory stays within 15% at the article
  // cap (docs/reliability.md); larger only pays off for bursts.
  int64_t write_buffer_mb = 2;
  std::string wal_tail = "refuse";  // or "drop"
  // RocksDbStoreOptions::index_snapshot (off on replicas).
  bool index_snapshot = true;
  // Receives warnings about opening the store (serve logs them).
  std::function<void(const std::string&)> warn;
};

struct EngineFlags {
  EngineOptions engine;
  LexicalEmbedderOptions embedder;
  double story_window_hours = absl::ToDoubleHours(EngineOptions().story_window);
  // The learned join model: a path, "default" (the shipped one) or "none"
  // (the hand-set thresholds, the default until a model beats them on
  // every set: docs/quality.md).
  std::string scorer = "none";
  StoreFlags store;
  bool has_store_flags = false;  // set by AddStoreFlags: retention applies
};

// Registers --window-hours, thresholds, --model, --dim ... on `command`,
// each defaulting to the shipped configuration.
void AddEngineFlags(CLI::App* command, EngineFlags* flags);

// Registers --data-dir, --in-memory, --sync, --retention-days and
// --min-free-mb, and makes the engine durable unless --in-memory is given.
void AddStoreFlags(CLI::App* command, EngineFlags* flags);

// The scorer named by --scorer (null for "none"). Errors: those of
// StoryScorer::Load.
absl::StatusOr<std::shared_ptr<const StoryScorer>> LoadScorer(
    const std::string& name);

// Builds the embedder and engine described by `flags`; with a store, the
// engine first recovers what the store holds.
absl::StatusOr<std::unique_ptr<ClusteringEngine>> BuildEngine(
    const EngineFlags& flags);

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_ENGINE_FLAGS_H_
