#include "tools/engine_flags.h"

#include "common/status_macros.h"
#include "services/storage/rocksdb_store.h"

namespace newsdedup {

void AddEngineFlags(CLI::App* command, EngineFlags* flags) {
  EngineOptions& e = flags->engine;
  LexicalEmbedderOptions& m = flags->embedder;
  const auto group = "Engine (defaults are the shipped configuration)";
  command
      ->add_option("--window-hours", flags->story_window_hours,
                   "Story window: articles further apart never join")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--max-articles", e.max_articles,
                   "Most articles held; new ids past it get "
                   "RESOURCE_EXHAUSTED (back-pressure) until retention frees "
                   "room")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--time-penalty", e.time_penalty,
                   "Rise of the join threshold per doubling of the time gap")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--same-time-factor", e.same_time_factor,
                   "Join threshold multiplier for dated articles at zero "
                   "time gap")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--time-bonus-by-own-words", e.time_bonus_by_own_words,
                   "Grant the same-time bonus only in proportion to the "
                   "part of a match carried by the story's own words")
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--own-word-df-share", e.own_word_df_share,
                   "A story's own word: at most this share of the documents "
                   "hold it ...")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--own-word-story-multiple", e.own_word_story_multiple,
                   "... or at most this many times the story's members "
                   "that hold it")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--days-per-newer-story", e.days_per_newer_story,
                   "Days the time penalty adds to a story's gap for each "
                   "story of the article's nearest neighbours begun after "
                   "it; 0: days alone")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--neighbors", e.neighbors,
                   "Nearest articles fetched per article")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--exact-search-limit", e.exact_search_limit,
                   "Vectors per time shard before it becomes an HNSW graph")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--index-search-breadth", e.index_search_breadth,
                   "Candidates kept while searching a graph shard (efSearch)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--near-dup", e.near_duplicate_threshold,
                   "Cosine to the nearest article for NEAR_DUPLICATE")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--short-threshold", e.short_text_threshold,
                   "Join threshold (centroid cosine) for short texts")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--long-threshold", e.long_text_threshold,
                   "Join threshold (centroid cosine) for long texts")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--short-merge", e.short_text_merge_threshold,
                   "Centroid cosine that merges two short-text clusters")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--long-merge", e.long_text_merge_threshold,
                   "Centroid cosine that merges two long-text clusters")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--thread-threshold", e.thread_threshold,
                   "Centroid cosine at which a story joins the thread "
                   "(storyline) of a nearby story; 0: every story its own "
                   "thread")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--same-day-thread-factor", e.same_day_thread_factor,
                   "Multiplier of --thread-threshold for two dated stories "
                   "whose days meet (look-alike events of one topic on the "
                   "same days); 1: time counts for nothing")
      ->check(CLI::Range(0.01, 1.0))
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--title-weight", m.title_weight,
                   "How many times a title occurrence counts")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command->add_option("--word-weight", m.word_weight, "Weight of word features")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--bigram-weight", m.bigram_weight,
                   "Weight of word-bigram features")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--subword-weight", m.subword_weight,
                   "Weight of sentencepiece subword features")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--name-weight", m.name_weight,
                   "Weight of name features (capitalised words, figures)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--idf-power", m.idf_power,
                   "Exponent of idf in feature weights")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--stem-weight", m.stem_weight,
                   "Weight of Snowball word stems in the article's language "
                   "(given, or detected by CLD2)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--translation-weight", m.translation_weight,
                   "Weight of the English stems of a word's FreeDict "
                   "translations (de, es, fr, pl, tr, ar)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--idf-per-language", m.idf_per_language,
                   "Keep document frequencies per language (English and "
                   "unknown together)")
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--idf-per-collection", m.idf_per_collection,
                   "Keep document frequencies per collection (the article's "
                   "\"collection\" field, else dated / undated)")
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--dictionary-dir", m.dictionary_dir,
                   "Where the dict-freedict-*-eng dictionaries are")
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--max-body-bytes", m.max_body_bytes,
                   "Only this much of a body is embedded")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--stock-passage-documents", m.stock_passage_documents,
                   "A body sentence or a title's part after the headline "
                   "that this many documents under other headlines already "
                   "hold (a site's notice or name) does not count; 0: "
                   "everything counts")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--warm-table-documents", m.warm_table_documents,
                   "A table of document frequencies (a collection's) with "
                   "fewer documents is cold: its features weigh at most "
                   "what they weigh in its language's largest table; 0: "
                   "every table stands alone")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--model", m.tokenizer_model_path,
                   "Sentencepiece model (default: the shipped one)")
      ->check(CLI::ExistingFile)
      ->group(group);
  command
      ->add_option("--scorer", flags->scorer,
                   "Learned join model (newsdedup train-scorer): a file, "
                   "'default' for the shipped one (embeddings/models/"
                   "story_scorer.txt), or 'none' for the hand-set "
                   "thresholds (--short-threshold ...)")
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--dim", m.dimension,
                   "Dense embedding dimension for the nearest-neighbour index")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
}

void AddStoreFlags(CLI::App* command, EngineFlags* flags) {
  StoreFlags& s = flags->store;
  s.durable = true;
  flags->has_store_flags = true;
  const auto group = "Storage";
  command
      ->add_option("--data-dir", s.data_dir,
                   "Directory of the RocksDB store (created if missing; one "
                   "server per directory)")
      ->capture_default_str()
      ->group(group);
  command
      ->add_flag_callback(
          "--in-memory", [&s] { s.durable = false; },
          "Keep nothing on disk: state is lost when the process ends")
      ->group(group);
  command
      ->add_option("--sync", s.sync,
                   "always: fsync every answer's changes before it leaves "
                   "(survives power loss); none: write-ahead log without "
                   "fsync (survives a process crash)")
      ->check(CLI::IsMember({"always", "none"}))
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--retention-days", s.retention_days,
                   "Articles received more than this many days ago are "
                   "deleted from memory (and the store); stories keep their "
                   "ids. Counts from when the server received an article, "
                   "not its date. At least the story window; 0: keep forever")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--feed-events", flags->engine.feed_events,
                   "Change feed events kept (WatchClusterEvents, GET "
                   "/v1/events): a consumer whose cursor is older must "
                   "resync from ListClusters. Without a store (--in-memory) "
                   "the newest 8192 at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--wal-tail", s.wal_tail,
                   "When the write-ahead log ends in an incomplete record "
                   "although the last server closed the store cleanly (so "
                   "the log was truncated later, losing acknowledged "
                   "articles): refuse to start, or drop it. A record cut "
                   "off by a crash mid-write (never acknowledged) is "
                   "dropped either way")
      ->check(CLI::IsMember({"refuse", "drop"}))
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--min-free-mb", s.min_free_mb,
                   "Refuse to start with less free disk space than this")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(group);
  command
      ->add_option("--store-write-buffer-mb", s.write_buffer_mb,
                   "Writes the store gathers in memory before writing a "
                   "table file (up to twice this is held while one "
                   "flushes): larger takes bursts with less compaction, "
                   "smaller keeps memory close to what the articles need")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}))
      ->capture_default_str()
      ->group(group);
}

absl::StatusOr<std::shared_ptr<const StoryScorer>> LoadScorer(
    const std::string& name) {
  if (name == "none") return nullptr;
  ASSIGN_OR_RETURN(
      StoryScorer scorer,
      StoryScorer::Load(name == "default" ? DefaultStoryScorerPath() : name));
  return std::make_shared<const StoryScorer>(std::move(scorer));
}

absl::StatusOr<std::unique_ptr<ClusteringEngine>> BuildEngine(
    const EngineFlags& flags) {
  EngineOptions options = flags.engine;
  options.story_window = absl::Seconds(flags.story_window_hours * 3600.0);
  ASSIGN_OR_RETURN(options.scorer, LoadScorer(flags.scorer));
  ASSIGN_OR_RETURN(std::unique_ptr<Embedder> embedder,
                   NewLexicalEmbedder(flags.embedder));
  // The server refuses dates more than a day ahead of its clock; batch
  // tools (cluster, eval) replay files whatever their dates.
  if (flags.has_store_flags) options.max_future_skew = absl::Hours(24);
  // Commands without store flags (cluster, eval) keep everything.
  if (flags.store.retention_days > 0 && flags.has_store_flags) {
    options.retention = absl::Seconds(flags.store.retention_days * 86400.0);
    if (options.retention < options.story_window) {
      return absl::InvalidArgumentError(
          "--retention-days must cover the story window (--window-hours)");
    }
  }
  if (!flags.store.durable) {
    return ClusteringEngine::Create(options, std::move(embedder));
  }
  if (flags.store.read_only) {
    ASSIGN_OR_RETURN(std::unique_ptr<EngineStore> store,
                     OpenRocksDbStoreForReading(flags.store.data_dir,
                                                embedder->fingerprint()));
    return ClusteringEngine::Create(options, std::move(embedder),
                                    std::move(store));
  }
  RocksDbStoreOptions store_options;
  store_options.path = flags.store.data_dir;
  ASSIGN_OR_RETURN(store_options.sync, ParseSyncPolicy(flags.store.sync));
  store_options.embedder_fingerprint = embedder->fingerprint();
  store_options.min_free_bytes = flags.store.min_free_mb << 20;
  store_options.write_buffer_bytes = flags.store.write_buffer_mb << 20;
  store_options.wal_tail = flags.store.wal_tail == "drop"
                               ? WalTailPolicy::kDrop
                               : WalTailPolicy::kRefuse;
  store_options.warn = flags.store.warn;
  store_options.index_snapshot = flags.store.index_snapshot;
  ASSIGN_OR_RETURN(std::unique_ptr<EngineStore> store,
                   OpenRocksDbStore(store_options));
  return ClusteringEngine::Create(options, std::move(embedder),
                                  std::move(store));
}

}  // namespace newsdedup
