#include "services/storage/rocksdb_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "embeddings/lexical_embedder.h"
#include "services/engine/engine.h"
#include "services/engine/state_digest.h"
#include "services/index/vector_index.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;
using testing::MakeArticle;

// A fresh directory under the test's temporary directory, removed at the end.
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(absl::StrCat(::testing::TempDir(), "/newsdedup_", name, "_",
                           getpid())) {
    std::filesystem::remove_all(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Fingerprint() {
  static const std::string* fingerprint = [] {
    auto embedder = NewLexicalEmbedder(LexicalEmbedderOptions());
    return new std::string((*embedder)->fingerprint());
  }();
  return *fingerprint;
}

absl::StatusOr<std::unique_ptr<ClusteringEngine>> OpenEngine(
    const std::string& dir, EngineOptions options = EngineOptions(),
    rocksdb::Env* env = nullptr) {
  RocksDbStoreOptions store_options;
  store_options.path = dir;
  store_options.env = env;
  store_options.embedder_fingerprint = Fingerprint();
  absl::StatusOr<std::unique_ptr<EngineStore>> store =
      OpenRocksDbStore(store_options);
  if (!store.ok()) return store.status();
  auto embedder = NewLexicalEmbedder(LexicalEmbedderOptions());
  if (!embedder.ok()) return embedder.status();
  return ClusteringEngine::Create(options, *std::move(embedder),
                                  *std::move(store));
}

// An engine recovered from the store in `dir` opened for reading alone, as
// `admin check` recovers one.
absl::StatusOr<std::unique_ptr<ClusteringEngine>> OpenEngineForReading(
    const std::string& dir) {
  absl::StatusOr<std::unique_ptr<EngineStore>> store =
      OpenRocksDbStoreForReading(dir, Fingerprint());
  if (!store.ok()) return store.status();
  auto embedder = NewLexicalEmbedder(LexicalEmbedderOptions());
  if (!embedder.ok()) return embedder.status();
  return ClusteringEngine::Create(EngineOptions(), *std::move(embedder),
                                  *std::move(store));
}

// Everything a client can observe, as text, for comparisons across restarts.
std::map<std::string, std::string> Observe(
    const ClusteringEngine& engine, const std::vector<std::string>& ids) {
  std::map<std::string, std::string> seen;
  for (const std::string& id : ids) {
    auto view = engine.GetArticle(id);
    if (!view.ok()) {
      seen[id] = "unknown";
      continue;
    }
    const Assignment& a = view->assignment;
    seen[id] =
        absl::StrCat(a.cluster_id, " ", RelationName(a.relation), " ",
                     a.duplicate_of, " v", a.version, " ", a.representative_id);
  }
  for (const ClusterSummary& c : engine.ListClusters()) {
    auto full = engine.GetCluster(c.cluster_id);
    std::string history;
    for (const ClusterEvent& e : full->history) {
      absl::StrAppend(&history, ClusterEventKindName(e.kind), ":", e.cluster_id,
                      e.article_id, " ");
    }
    seen[c.cluster_id] = absl::StrCat(
        "size=", c.size, " sources=", c.num_sources,
        " rep=", c.representative_id,
        " aliases=", absl::StrJoin(c.aliases, ","), " history=", history);
  }
  return seen;
}

TEST(RocksDbStoreTest, RestartRecoversTheSameClustersAndAnswers) {
  TempDir dir("recover");
  std::vector<Article> articles = testing::LoadStoriesFixture().articles;
  std::vector<std::string> ids;
  for (const Article& a : articles) ids.push_back(a.id);
  std::map<std::string, std::string> before;
  std::vector<Assignment> answers;
  StateDigest digest_before;
  {
    auto engine = OpenEngine(dir.path());
    ASSERT_TRUE(engine.ok()) << engine.status();
    for (const Article& a : articles) {
      auto answer = (*engine)->Assign(a);
      ASSERT_TRUE(answer.ok()) << answer.status();
      answers.push_back(*answer);
    }
    // An exact duplicate, a new version, and a takedown.
    Article copy = articles[0];
    copy.id = "copy-of-first";
    ASSERT_EQ((*engine)->Assign(copy)->relation, Relation::kExactDuplicate);
    ids.push_back(copy.id);
    Article update = articles[1];
    update.title += " (updated)";
    ASSERT_EQ((*engine)->Assign(update)->version, 2);
    ASSERT_TRUE((*engine)->DeleteArticle(articles[2].id).ok());
    before = Observe(**engine, ids);
    digest_before = ComputeStateDigest(**engine);
  }
  // `admin check`: RocksDB finds every record sound, and the engine
  // recovered read-only holds the state the writer left.
  auto check = CheckStore(dir.path());
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_THAT(check->problems, ::testing::IsEmpty());
  EXPECT_EQ(check->articles, digest_before.articles);
  {
    auto reading = OpenEngineForReading(dir.path());
    ASSERT_TRUE(reading.ok()) << reading.status();
    EXPECT_EQ(ComputeStateDigest(**reading).Hex(), digest_before.Hex());
    EXPECT_EQ((*reading)->stats().repaired_representatives, 0);
  }

  auto engine = OpenEngine(dir.path());
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->stats().recovered_articles,
            static_cast<int64_t>(articles.size()));  // +1 copy, -1 deleted
  EXPECT_EQ(Observe(**engine, ids), before);
  EXPECT_EQ(ComputeStateDigest(**engine).Hex(), digest_before.Hex());

  // Resending acknowledged articles gives the same answers, no copies.
  for (size_t i = 3; i < articles.size(); ++i) {
    auto again = (*engine)->Assign(articles[i]);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->relation, answers[i].relation) << articles[i].id;
    EXPECT_EQ(*(*engine)->ResolveClusterId(again->cluster_id),
              *(*engine)->ResolveClusterId(answers[i].cluster_id));
  }
  EXPECT_EQ((*engine)->stats().articles, static_cast<int64_t>(articles.size()));

  // New articles continue the id sequences instead of reusing them.
  auto fresh = (*engine)->Assign(
      MakeArticle("fresh", "Volcano erupts in Iceland, flights grounded"));
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->relation, Relation::kNewStory);
  for (const auto& [key, value] : before) EXPECT_NE(key, fresh->cluster_id);
}

TEST(RocksDbStoreTest, SecondOpenOfADataDirIsRefused) {
  TempDir dir("locked");
  auto first = OpenEngine(dir.path());
  ASSERT_TRUE(first.ok());
  auto second = OpenEngine(dir.path());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("in use"));
}

TEST(RocksDbStoreTest, StoreOfAnotherEmbedderIsRefused) {
  TempDir dir("fingerprint");
  ASSERT_TRUE(OpenEngine(dir.path()).ok());
  RocksDbStoreOptions options;
  options.path = dir.path();
  options.embedder_fingerprint = "some other model";
  auto store = OpenRocksDbStore(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("another embedder"));
}

TEST(RocksDbStoreTest, NearlyFullDiskIsRefusedAtStart) {
  TempDir dir("full");
  RocksDbStoreOptions options;
  options.path = dir.path();
  options.min_free_bytes = int64_t{1} << 60;  // more than any disk has
  auto store = OpenRocksDbStore(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("MiB free"));
}

TEST(RocksDbStoreTest, CorruptStoreIsReportedAndLeftAlone) {
  TempDir dir("corrupt");
  {
    auto engine = OpenEngine(dir.path());
    ASSERT_TRUE(engine.ok());
    ASSERT_TRUE(
        (*engine)->Assign(MakeArticle("a", "Harbour bridge closes")).ok());
  }
  // Truncate the manifest (what a disk failure or a bad copy leaves).
  std::string manifest;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().filename().string().rfind("MANIFEST-", 0) == 0) {
      manifest = entry.path();
    }
  }
  ASSERT_FALSE(manifest.empty());
  std::filesystem::resize_file(manifest, 10);
  // Every file but RocksDB's own info log (which it rotates) must survive.
  auto data_files = [&] {
    std::map<std::string, uintmax_t> sizes;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
      const std::string name = entry.path().filename();
      if (name.rfind("LOG", 0) != 0) sizes[name] = entry.file_size();
    }
    return sizes;
  };
  const auto files_before = data_files();
  auto engine = OpenEngine(dir.path());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kDataLoss)
      << engine.status();
  EXPECT_THAT(engine.status().message(), HasSubstr("admin check"));
  EXPECT_EQ(data_files(), files_before);  // nothing repaired or deleted
}

TEST(RocksDbStoreTest, CheckFindsDamagedRecordsWithoutChangingThem) {
  TempDir dir("check");
  {
    auto engine = OpenEngine(dir.path());
    ASSERT_TRUE(engine.ok());
    for (const Article& a : testing::LoadStoriesFixture().articles) {
      ASSERT_TRUE((*engine)->Assign(a).ok());
    }
  }
  auto healthy = CheckStore(dir.path());
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_THAT(healthy->problems, ::testing::IsEmpty());
  EXPECT_EQ(healthy->articles, 13);
  EXPECT_GT(healthy->clusters, 0);

  {  // Damage one article record behind the engine's back.
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir.path(), &db).ok());
    std::string key(9, '\0');
    key[0] = 'a';
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, "\xff\xff garbage").ok());
    delete db;
  }
  auto damaged = CheckStore(dir.path());
  ASSERT_TRUE(damaged.ok());
  EXPECT_THAT(damaged->problems,
              ::testing::Contains(HasSubstr("article record 0 is damaged")));
  auto engine = OpenEngine(dir.path());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(CheckStore(dir.path())->problems, damaged->problems);  // unchanged
}

// `admin check` runs beside a server: the store opened for reading shares
// it with the writer, recovers the writer's state and refuses every change.
TEST(RocksDbStoreTest, ReadingBesideTheWriterSeesItsStateAndChangesNothing) {
  TempDir dir("reading");
  auto writer = OpenEngine(dir.path());
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (const Article& a : testing::LoadStoriesFixture().articles) {
    ASSERT_TRUE((*writer)->Assign(a).ok());
  }
  auto reading = OpenEngineForReading(dir.path());
  ASSERT_TRUE(reading.ok()) << reading.status();
  EXPECT_EQ(ComputeStateDigest(**reading).Hex(),
            ComputeStateDigest(**writer).Hex());
  auto refused = (*reading)->Assign(MakeArticle("late", "A late arrival"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("reading only"));
  EXPECT_TRUE((*writer)->Assign(MakeArticle("late", "A late arrival")).ok());

  // A store of another embedder is refused by name, as a server refuses it.
  auto other = OpenRocksDbStoreForReading(dir.path(), "another-embedder");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(other.status().message(), HasSubstr("another embedder"));
  EXPECT_EQ(OpenRocksDbStoreForReading(dir.path() + "-none", Fingerprint())
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

// The engine's recovery is the one judge of whether records make a state:
// a representative that is not a member is replaced, and counted, so that
// `admin check` can report it.
// Headline `variant` (-1: none) of synthetic story `story`: stories
// differ in their event, place and district, variants in the words after
// them. Ids are "s<story>-v<variant>".
Article SyntheticHeadline(int story, int variant, double hours) {
  static const char* const kEvents[] = {"floods swamp", "fire guts",
                                        "strike halts", "quake shakes"};
  static const char* const kPlaces[] = {
      "Lisbon", "Oslo",  "Nairobi", "Lima",     "Hanoi",  "Quito",  "Dakar",
      "Riga",   "Sofia", "Tbilisi", "Yerevan",  "Accra",  "Harare", "Manila",
      "Bogota", "Minsk", "Zagreb",  "Valletta", "Muscat", "Tunis"};
  static const char* const kDistricts[] = {"harbour", "market", "river",
                                           "airport", "station"};
  static const char* const kTails[] = {"residents flee", "officials say",
                                       "police report", "night of chaos",
                                       "damage assessed"};
  std::string title =
      absl::StrCat(kEvents[story % 4], " ", kPlaces[story / 4 % 20], " ",
                   kDistricts[story / 80 % 5], " district");
  if (variant >= 0) absl::StrAppend(&title, ", ", kTails[variant % 5]);
  return MakeArticle(absl::StrCat("s", story, "-v", variant), title, "", hours);
}

// The story part of a SyntheticHeadline id.
std::string StoryOf(const std::string& id) {
  return id.substr(0, id.find('-'));
}

// Issue 26: a restart inserts the vectors into the index on a thread of
// its own. The graph it rebuilds holds every vector and finds the stories
// that an exact search finds in an engine that saw the same articles and
// never stopped.
TEST(RocksDbStoreTest, ARestartRebuildsGraphsThatFindTheNearestStories) {
  TempDir dir("graph_rebuild");
  TempDir exact_dir("graph_rebuild_exact");
  EngineOptions options;
  options.exact_search_limit = 32;  // graphs from the 33rd vector on
  EngineOptions exact_options = options;
  exact_options.new_index = [](const VectorIndexOptions& index_options) {
    return NewTimeShardedFlatIndex(index_options.dimension);
  };
  auto exact = OpenEngine(exact_dir.path(), exact_options);
  ASSERT_TRUE(exact.ok()) << exact.status();
  constexpr int kStories = 400;
  constexpr int kVariants = 5;
  {
    auto engine = OpenEngine(dir.path(), options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    for (int variant = 0; variant < kVariants; ++variant) {
      for (int story = 0; story < kStories; ++story) {
        const Article article =
            SyntheticHeadline(story, variant, 0.001 * story);
        ASSERT_TRUE((*engine)->Assign(article).ok());
        ASSERT_TRUE((*exact)->Assign(article).ok());
      }
    }
  }
  auto graph = OpenEngine(dir.path(), options);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ((*graph)->stats().recovered_articles, kStories * kVariants);
  EXPECT_EQ((*graph)->stats().indexed_vectors, kStories * kVariants);
  int same_story = 0;
  constexpr int kProbes = 100;
  for (int i = 0; i < kProbes; ++i) {
    const int story = i * kStories / kProbes;
    const Article probe = SyntheticHeadline(story, -1, 0.001 * story);
    auto from_graph = (*graph)->Assign(probe);
    auto from_exact = (*exact)->Assign(probe);
    ASSERT_TRUE(from_graph.ok()) << from_graph.status();
    ASSERT_TRUE(from_exact.ok()) << from_exact.status();
    ASSERT_NE(from_exact->nearest_article_id, "");
    if (StoryOf(from_graph->nearest_article_id) ==
        StoryOf(from_exact->nearest_article_id)) {
      ++same_story;
    }
  }
  EXPECT_GE(same_story, kProbes * 95 / 100);
}

// The index snapshot a clean stop leaves (EngineStore::snapshot_path).
std::string SnapshotFile(const std::string& dir) {
  return (std::filesystem::path(dir) / "NEWSDEDUP-INDEX-SNAPSHOT").string();
}

// Issue 26: a clean stop leaves the index's graphs in a snapshot, which
// the next start reads instead of building them, and deletes. The graphs
// read are the ones the stopped engine had: every probe finds what it
// finds in an engine that saw the same changes and never stopped.
TEST(RocksDbStoreTest, ACleanStopLeavesGraphsThatTheNextStartReads) {
  TempDir dir("snapshot");
  EngineOptions options;
  options.exact_search_limit = 32;  // graphs from the 33rd vector on
  auto embedder = NewLexicalEmbedder(LexicalEmbedderOptions());
  ASSERT_TRUE(embedder.ok());
  auto never_stopped =
      ClusteringEngine::Create(options, *std::move(embedder), nullptr);
  ASSERT_TRUE(never_stopped.ok()) << never_stopped.status();
  constexpr int kStories = 200;
  {
    auto engine = OpenEngine(dir.path(), options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    for (int variant = 0; variant < 5; ++variant) {
      for (int story = 0; story < kStories; ++story) {
        const Article article =
            SyntheticHeadline(story, variant, 0.001 * story);
        ASSERT_TRUE((*engine)->Assign(article).ok());
        ASSERT_TRUE((*never_stopped)->Assign(article).ok());
      }
    }
    // A removed vector stays in the graph as a waypoint.
    ASSERT_TRUE((*engine)->DeleteArticle("s7-v2").ok());
    ASSERT_TRUE((*never_stopped)->DeleteArticle("s7-v2").ok());
    EXPECT_FALSE(std::filesystem::exists(SnapshotFile(dir.path())));
  }
  ASSERT_TRUE(std::filesystem::exists(SnapshotFile(dir.path())));

  auto engine = OpenEngine(dir.path(), options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const EngineStats stats = (*engine)->stats();
  EXPECT_EQ(stats.snapshot_refused, "");
  EXPECT_EQ(stats.indexed_vectors, 5 * kStories - 1);
  EXPECT_EQ(stats.snapshot_vectors, stats.indexed_vectors);
  EXPECT_EQ(stats.index_waypoints, 1);
  // Read once: a later start must not find it after the store changed.
  EXPECT_FALSE(std::filesystem::exists(SnapshotFile(dir.path())));
  for (int story = 0; story < kStories; story += 4) {
    const Article probe = SyntheticHeadline(story, -1, 0.001 * story);
    auto restarted = (*engine)->Assign(probe);
    auto reference = (*never_stopped)->Assign(probe);
    ASSERT_TRUE(restarted.ok()) << restarted.status();
    ASSERT_TRUE(reference.ok()) << reference.status();
    EXPECT_EQ(restarted->nearest_article_id, reference->nearest_article_id);
    EXPECT_EQ(restarted->nearest_similarity, reference->nearest_similarity);
    EXPECT_EQ(restarted->cluster_id, reference->cluster_id) << probe.id;
  }
}

// Undated articles (an archive) go to the index's timeless shard, and a
// store of them alone has no newest time: its snapshot is read as well.
TEST(RocksDbStoreTest, AStoreOfUndatedArticlesReadsItsSnapshot) {
  TempDir dir("undated_snapshot");
  EngineOptions options;
  options.exact_search_limit = 32;
  {
    auto engine = OpenEngine(dir.path(), options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    for (int story = 0; story < 100; ++story) {
      const Article dated = SyntheticHeadline(story, 0, 0);
      ASSERT_TRUE(
          (*engine)
              ->Assign(testing::MakeUndatedArticle(dated.id, dated.title))
              .ok());
    }
  }
  auto engine = OpenEngine(dir.path(), options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->stats().snapshot_refused, "");
  EXPECT_EQ((*engine)->stats().snapshot_vectors, 100);
}

// A snapshot that is not of the store as it is (an older one put back, a
// damaged one) is refused: the start builds the graphs as without one.
TEST(RocksDbStoreTest, AStaleOrDamagedSnapshotIsRefused) {
  TempDir dir("stale_snapshot");
  const std::string kept = dir.path() + "-kept-snapshot";
  EngineOptions options;
  options.exact_search_limit = 32;
  auto reopen = [&](const std::string& expect_refused, int64_t vectors) {
    auto engine = OpenEngine(dir.path(), options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    const EngineStats stats = (*engine)->stats();
    EXPECT_THAT(stats.snapshot_refused, HasSubstr(expect_refused));
    EXPECT_EQ(stats.snapshot_vectors, expect_refused.empty() ? vectors : 0);
    EXPECT_EQ(stats.indexed_vectors, vectors);
  };
  {
    auto engine = OpenEngine(dir.path(), options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    for (int story = 0; story < 100; ++story) {
      ASSERT_TRUE((*engine)->Assign(SyntheticHeadline(story, 0, 0)).ok());
    }
  }
  std::filesystem::copy_file(SnapshotFile(dir.path()), kept);
  {
    auto engine = OpenEngine(dir.path(), options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    EXPECT_EQ((*engine)->stats().snapshot_vectors, 100);
    ASSERT_TRUE((*engine)->Assign(SyntheticHeadline(100, 0, 0)).ok());
  }
  // The older snapshot put back.
  std::filesystem::copy_file(SnapshotFile(dir.path()), kept + ".new");
  std::filesystem::copy_file(kept, SnapshotFile(dir.path()),
                             std::filesystem::copy_options::overwrite_existing);
  reopen("another store position", 101);
  // One byte changed in the middle of a current one.
  {
    std::fstream file(SnapshotFile(dir.path()),
                      std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(file.good());
    file.seekg(0, std::ios::end);
    const std::streamoff size = file.tellg();
    file.seekg(size / 2);
    char byte = 0;
    file.read(&byte, 1);
    byte ^= 0x20;
    file.seekp(size / 2);
    file.write(&byte, 1);
  }
  reopen("checksum", 101);
  // Cut short.
  std::filesystem::resize_file(SnapshotFile(dir.path()), 100);
  reopen("checksum", 101);
  reopen("", 101);  // the last clean stop's, intact
  std::filesystem::remove(kept);
  std::filesystem::remove(kept + ".new");
}

TEST(RocksDbStoreTest, RecoveryReplacesARepresentativeThatIsNotAMember) {
  TempDir dir("representative");
  std::string digest;
  {
    auto engine = OpenEngine(dir.path());
    ASSERT_TRUE(engine.ok()) << engine.status();
    for (const Article& a : testing::LoadStoriesFixture().articles) {
      ASSERT_TRUE((*engine)->Assign(a).ok());
    }
  }
  {  // Point cluster 0's representative at an article of no story.
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir.path(), &db).ok());
    std::unique_ptr<rocksdb::DB> owner(db);
    const std::string key("c\0\0\0\0\0\0\0\0", 9);
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), key, &value).ok());
    storage::v1::StoredCluster cluster;
    ASSERT_TRUE(cluster.ParseFromString(value));
    cluster.set_representative_seq(1'000'000);
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), key, cluster.SerializeAsString())
            .ok());
  }
  auto reading = OpenEngineForReading(dir.path());
  ASSERT_TRUE(reading.ok()) << reading.status();
  EXPECT_EQ((*reading)->stats().repaired_representatives, 1);
  EXPECT_THAT(CheckStore(dir.path())->problems, ::testing::IsEmpty());
}

TEST(RocksDbStoreTest, BackupRestoresIntoANewDirectoryOnly) {
  TempDir dir("backup_source"), backups("backup_dir"), restored("restored");
  std::vector<std::string> ids;
  std::map<std::string, std::string> before;
  {
    auto engine = OpenEngine(dir.path());
    ASSERT_TRUE(engine.ok());
    for (const Article& a : testing::LoadStoriesFixture().articles) {
      ASSERT_TRUE((*engine)->Assign(a).ok());
      ids.push_back(a.id);
    }
    before = Observe(**engine, ids);
    // A running server holds the directory.
    EXPECT_EQ(BackupStore(dir.path(), backups.path()).code(),
              absl::StatusCode::kFailedPrecondition);
  }
  ASSERT_TRUE(BackupStore(dir.path(), backups.path()).ok());
  ASSERT_TRUE(CompactStore(dir.path()).ok());
  EXPECT_EQ(RestoreStore(backups.path(), dir.path()).code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(RestoreStore(backups.path(), restored.path()).ok());
  auto engine = OpenEngine(restored.path());
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ(Observe(**engine, ids), before);
}

// A file system whose writes fail with "no space" while `full` is set.
class FillableFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  FillableFileSystem()
      : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  static const char* kClassName() { return "FillableFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(
      const std::string& name, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* file,
      rocksdb::IODebugContext* debug) override {
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, file, debug);
    if (s.ok()) *file = std::make_unique<File>(std::move(*file), &full);
    return s;
  }

  std::atomic<bool> full{false};

 private:
  class File final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> file,
         const std::atomic<bool>* full)
        : rocksdb::FSWritableFileOwnerWrapper(std::move(file)), full_(full) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* debug) override {
      if (*full_) return rocksdb::IOStatus::NoSpace("test: disk full");
      return target()->Append(data, options, debug);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data,
                             const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* debug) override {
      if (*full_) return rocksdb::IOStatus::NoSpace("test: disk full");
      return target()->Append(data, options, info, debug);
    }

   private:
    const std::atomic<bool>* const full_;
  };
};

// Issue 12.6: a write the store failed used to stay in memory (a refused
// article was readable, a refused delete took effect) until a restart.
TEST(RocksDbStoreTest, AFailedWriteLeavesNoTraceAndWritesResume) {
  TempDir dir("failed_write");
  auto fs = std::make_shared<FillableFileSystem>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  std::vector<std::string> warnings;
  auto engine = OpenEngine(dir.path(), EngineOptions(), env.get());
  ASSERT_TRUE(engine.ok()) << engine.status();
  ClusteringEngine& e = **engine;
  ASSERT_TRUE(e.Assign(MakeArticle("kept", "Harbour bridge closes")).ok());

  fs->full = true;
  absl::StatusOr<Assignment> refused =
      e.Assign(MakeArticle("refused", "Election results announced"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("store write failed"));
  EXPECT_EQ(e.GetArticle("refused").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(e.DeleteArticle("kept").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(e.GetArticle("kept").ok());
  EXPECT_EQ(e.stats().articles, 1);
  EXPECT_FALSE(e.Writable().ok());

  fs->full = false;
  absl::Status writable = e.Writable();
  for (int i = 0; i < 30 && !writable.ok(); ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    writable = e.Writable();
  }
  ASSERT_TRUE(writable.ok()) << writable;
  ASSERT_TRUE(
      e.Assign(MakeArticle("refused", "Election results announced")).ok());
  engine->reset();
  auto reopened = OpenEngine(dir.path());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_TRUE((*reopened)->GetArticle("kept").ok());
  EXPECT_TRUE((*reopened)->GetArticle("refused").ok());
  EXPECT_EQ((*reopened)->stats().articles, 2);
}

// Reopens the store in `dir` and checks that it answers `later` as an
// engine that ingested `before` without stopping does.
void ExpectAnswersAsIfNeverStopped(const std::string& dir,
                                   const std::vector<Article>& before,
                                   const Article& later) {
  auto restarted = OpenEngine(dir);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  auto never_stopped = ClusteringEngine::Create(
      EngineOptions(), *NewLexicalEmbedder(LexicalEmbedderOptions()));
  ASSERT_TRUE(never_stopped.ok());
  for (const Article& a : before) ASSERT_TRUE((*never_stopped)->Assign(a).ok());
  auto expected = (*never_stopped)->Assign(later);
  auto got = (*restarted)->Assign(later);
  ASSERT_TRUE(expected.ok() && got.ok());
  EXPECT_EQ(got->nearest_article_id, expected->nearest_article_id);
  EXPECT_FLOAT_EQ(got->nearest_similarity, expected->nearest_similarity);
  EXPECT_FLOAT_EQ(got->cluster_similarity, expected->cluster_similarity);
}

// Issue 23.5: recovery did not read Article::language back, so an article
// whose sender named its language was embedded by the detected one after a
// restart, and later articles were compared with another vector.
TEST(RocksDbStoreTest, ATaggedLanguageSurvivesARestart) {
  TempDir dir("language");
  // French text tagged German: the tag decides stems, translations and
  // which document frequencies weigh it; detection would say French.
  Article first = MakeArticle(
      "tagged", "Le gouvernement annonce une réforme des retraites",
      "Le premier ministre a présenté la réforme des retraites mardi.");
  first.language = "de";
  Article later = MakeArticle(
      "later", "La réforme des retraites présentée par le gouvernement",
      "Les syndicats critiquent la réforme annoncée mardi.");
  later.language = "de";
  {
    auto engine = OpenEngine(dir.path());
    ASSERT_TRUE(engine.ok()) << engine.status();
    ASSERT_TRUE((*engine)->Assign(first).ok());
  }
  ExpectAnswersAsIfNeverStopped(dir.path(), {first}, later);
}

// Issue 24: Article::collection chooses whose document frequencies weigh
// an article, so recovery must read it back (as it does the language).
TEST(RocksDbStoreTest, ACollectionSurvivesARestart) {
  TempDir dir("collection");
  auto tagged = [](const char* id, const char* title, const char* body) {
    Article a = MakeArticle(id, title, body);
    a.collection = "tenant-7";
    return a;
  };
  const Article first = tagged("first", "Quake shakes the coast",
                               "A strong quake shook the coast on Monday.");
  const Article later = tagged("later", "Coast shaken by quake",
                               "The quake damaged houses along the coast.");
  {
    auto engine = OpenEngine(dir.path());
    ASSERT_TRUE(engine.ok()) << engine.status();
    ASSERT_TRUE(
        (*engine)
            ->Assign(MakeArticle("other", "Quake news", "Quake quake coast."))
            .ok());
    ASSERT_TRUE((*engine)->Assign(first).ok());
  }
  ExpectAnswersAsIfNeverStopped(
      dir.path(),
      {MakeArticle("other", "Quake news", "Quake quake coast."), first}, later);
}

// A clock the test moves by hand, for EngineOptions::clock.
struct ManualClock {
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);  // 2027-01-15
  std::function<absl::Time()> AsFunction() {
    return [this] { return now; };
  }
};

TEST(RocksDbStoreTest, RetentionCountsFromReceptionAndKeepsStoryIds) {
  TempDir dir("retention");
  ManualClock clock;
  EngineOptions options;
  options.retention = absl::Hours(24 * 10);
  options.clock = clock.AsFunction();
  std::vector<EngineOptions::RetentionSweep> sweeps;
  options.on_retention_sweep = [&](const EngineOptions::RetentionSweep& s) {
    sweeps.push_back(s);
  };
  std::string old_story;
  {
    auto engine = OpenEngine(dir.path(), options);
    ASSERT_TRUE(engine.ok());
    // Published decades ago, received now: a backfill is kept as long as
    // fresh news.
    old_story = (*engine)
                    ->Assign(MakeArticle("old", "Harbour bridge closes", "", 0))
                    ->cluster_id;
    clock.now += absl::Hours(24 * 9);
    ASSERT_TRUE((*engine)
                    ->Assign(MakeArticle("backfill", "Election results in", "",
                                         -24 * 365))
                    .ok());
    EXPECT_TRUE((*engine)->GetArticle("old").ok());
    EXPECT_TRUE(sweeps.empty());

    clock.now += absl::Hours(24 * 2);  // "old" is 11 days old, "backfill" 2
    ASSERT_TRUE((*engine)
                    ->Assign(MakeArticle("new", "Zoo welcomes panda", "", 1))
                    .ok());
    EXPECT_EQ((*engine)->GetArticle("old").status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_TRUE((*engine)->GetArticle("backfill").ok());
    EXPECT_EQ((*engine)->stats().forgotten, 1);
    ASSERT_EQ(sweeps.size(), 1u);
    EXPECT_EQ(sweeps[0].articles, 1);
    EXPECT_EQ(sweeps[0].expired_stories, 1);
    EXPECT_EQ(sweeps[0].cutoff, clock.now - options.retention);

    // The emptied story is expired: it resolves, GetCluster says so, and
    // lists leave it out unless asked.
    auto story = (*engine)->GetCluster(old_story);
    ASSERT_TRUE(story.ok()) << story.status();
    EXPECT_TRUE(story->expired);
    EXPECT_EQ(story->size, 0);
    for (const ClusterSummary& c : (*engine)->ListClusters()) {
      EXPECT_NE(c.cluster_id, old_story);
    }
    bool listed = false;
    for (const ClusterSummary& c : (*engine)->ListClusters(true)) {
      listed |= c.cluster_id == old_story && c.expired;
    }
    EXPECT_TRUE(listed);
  }
  // After a restart the reception times are those stored: "backfill" goes
  // when its own ten days are up, through a sweep without any new article.
  auto engine = OpenEngine(dir.path(), options);
  ASSERT_TRUE(engine.ok());
  EXPECT_EQ((*engine)->stats().recovered_articles, 2);
  EXPECT_EQ(*(*engine)->ResolveClusterId(old_story), old_story);
  clock.now += absl::Hours(24 * 9);
  ASSERT_TRUE((*engine)->ForgetExpired().ok());
  EXPECT_EQ((*engine)->GetArticle("backfill").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE((*engine)->GetArticle("new").ok());
}

TEST(RocksDbStoreTest, ExpiredStoryIsForgottenARetentionAfterItsLastArticle) {
  TempDir dir("forget-story");
  ManualClock clock;
  EngineOptions options;
  options.retention = absl::Hours(24 * 10);
  options.clock = clock.AsFunction();
  int64_t swept_stories = 0;
  options.on_retention_sweep = [&](const EngineOptions::RetentionSweep& s) {
    swept_stories += s.forgotten_stories;
  };
  std::string gone, kept;
  {
    auto engine = OpenEngine(dir.path(), options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    gone = (*engine)
               ->Assign(MakeArticle("a", "Harbour bridge closes", "", 0))
               ->cluster_id;
    clock.now += absl::Hours(24 * 11);  // "a" goes, its story is emptied
    kept = (*engine)
               ->Assign(MakeArticle("b", "Zoo welcomes panda", "", 1))
               ->cluster_id;
    ASSERT_NE(gone, kept);
    auto story = (*engine)->GetCluster(gone);
    ASSERT_TRUE(story.ok()) << story.status();
    EXPECT_TRUE(story->expired);

    clock.now += absl::Hours(24 * 9);  // emptied 9 days ago: still there
    ASSERT_TRUE((*engine)->ForgetExpired().ok());
    EXPECT_TRUE((*engine)->GetCluster(gone).ok());
    EXPECT_EQ((*engine)->stats().forgotten_stories, 0);

    clock.now += absl::Hours(24 * 2);  // 11 days: forgotten; "b" goes too
    ASSERT_TRUE((*engine)->ForgetExpired().ok());
    EXPECT_EQ((*engine)->GetCluster(gone).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ((*engine)->ResolveClusterId(gone).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ((*engine)->stats().forgotten_stories, 1);
    EXPECT_EQ(swept_stories, 1);
    for (const ClusterSummary& c : (*engine)->ListClusters(true)) {
      EXPECT_NE(c.cluster_id, gone);
    }
    auto expired = (*engine)->GetCluster(kept);
    ASSERT_TRUE(expired.ok()) << expired.status();
    EXPECT_TRUE(expired->expired);
  }
  // The store forgot it too; "b"'s story goes a retention after "b".
  {
    auto engine = OpenEngine(dir.path(), options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    EXPECT_EQ((*engine)->ResolveClusterId(gone).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_TRUE((*engine)->GetCluster(kept).ok());
    clock.now += absl::Hours(24 * 11);
    ASSERT_TRUE((*engine)->ForgetExpired().ok());
    EXPECT_EQ((*engine)->ResolveClusterId(kept).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_TRUE((*engine)->ListClusters(true).empty());
  }
  // With no story left in the store, a new one still gets a number never
  // given before: an old answer's story id never names another story.
  auto engine = OpenEngine(dir.path(), options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto next =
      (*engine)->Assign(MakeArticle("c", "Harbour bridge closes", "", 2));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_NE(next->cluster_id, gone);
  EXPECT_NE(next->cluster_id, kept);
  EXPECT_EQ(next->cluster_id, "story-3");
}

// Stories are forgotten while articles keep arriving (exact duplicates,
// runner-ups, threads), and the engine
// restarts now and then: every answer it holds names stories it can
// resolve, and a restart brings back exactly the stories it had. (Two
// engines fed alike, one restarted, do not decide alike after retention:
// a restart counts document frequencies over the articles held only.)
TEST(RocksDbStoreTest, ForgettingStoriesKeepsHeldAnswersResolvable) {
  TempDir dir("forgetting");
  ManualClock clock;
  EngineOptions options;
  options.retention = absl::Hours(24);
  options.story_window = absl::Hours(24);
  // Events a day apart share a thread through any word in common, so
  // that threads outlive their first stories.
  options.thread_threshold = 0.01f;
  options.clock = clock.AsFunction();
  auto engine = OpenEngine(dir.path(), options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto stories = [](const ClusteringEngine& e) {
    std::vector<std::string> out;
    for (const ClusterSummary& c : e.ListClusters(true)) {
      out.push_back(absl::StrCat(
          c.cluster_id, " size=", c.size, " expired=", c.expired,
          " thread=", c.thread_id, " aliases=", absl::StrJoin(c.aliases, ",")));
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  std::vector<std::string> held;
  std::set<std::string> named;  // every story id an answer gave
  int64_t forgotten_stories = 0;
  // A new event every six articles (twelve hours), which ends then; next
  // events share a weekday (runner-ups, threads), variants repeat word for
  // word (exact duplicates); one more story never ends.
  const std::vector<std::string> places = {
      "Oslo",  "Lima",  "Cairo", "Hanoi", "Quito", "Dakar", "Perth",
      "Minsk", "Accra", "Doha",  "Riga",  "Sofia", "Tunis"};
  const std::vector<std::string> events = {
      "bridge collapses rescuers", "election results contested",
      "wildfire spreads evacuations", "strike shuts factories"};
  const std::vector<std::string> days = {"Monday",   "Tuesday", "Wednesday",
                                         "Thursday", "Friday",  "Saturday",
                                         "Sunday"};
  const std::vector<std::string> variants = {"", " again", " officials say"};
  const int kArticles = 6 * 50;
  int runner_ups = 0, exact = 0;
  int64_t old_events = 0;
  for (int i = 0; i < kArticles; ++i) {
    const int event = i / 6;
    Article article;
    article.id = absl::StrCat("a", i);
    article.title = absl::StrCat(
        places[event % places.size()], " ", events[event % events.size()],
        " on ", days[(event / 2) % days.size()], variants[i % variants.size()]);
    if (i % 5 == 4) {  // and one story that goes on all the time
      article.title = absl::StrCat("Mars rover finds water ice near crater ",
                                   places[(i / 5) % places.size()], " ",
                                   days[(i / 5) % days.size()]);
    }
    article.published = clock.now + absl::Hours(2);
    clock.now += absl::Hours(2);
    auto answer = (*engine)->Assign(article);
    ASSERT_TRUE(answer.ok()) << answer.status();
    named.insert(answer->cluster_id);
    runner_ups += !answer->runner_up_cluster_id.empty();
    exact += answer->relation == Relation::kExactDuplicate;
    held.push_back(article.id);
    std::vector<std::string> still_held;
    for (const std::string& id : held) {
      auto view = (*engine)->GetArticle(id);
      if (!view.ok()) continue;  // forgotten
      still_held.push_back(id);
      const Assignment& a = view->assignment;
      EXPECT_TRUE((*engine)->ResolveClusterId(a.cluster_id).ok())
          << id << " names " << a.cluster_id;
      if (!a.runner_up_cluster_id.empty()) {
        named.insert(a.runner_up_cluster_id);
        EXPECT_TRUE((*engine)->ResolveClusterId(a.runner_up_cluster_id).ok())
            << id << " names runner-up " << a.runner_up_cluster_id;
      }
    }
    held = std::move(still_held);
    for (const ClusterSummary& c : (*engine)->ListClusters(true)) {
      EXPECT_TRUE((*engine)->ResolveThreadId(c.thread_id).ok())
          << c.cluster_id << "'s thread " << c.thread_id;
      // A live story's history keeps its creation and what happened since
      // its oldest member came (within two retentions), not every event.
      if (c.size == 0) continue;
      auto story = (*engine)->GetCluster(c.cluster_id);
      ASSERT_TRUE(story.ok()) << story.status();
      for (size_t e = 1; e < story->history.size(); ++e) {
        old_events +=
            story->history[e].time < clock.now - 2 * options.retention;
      }
    }
    if (i % 37 == 36) {
      const std::vector<std::string> before = stories(**engine);
      forgotten_stories += (*engine)->stats().forgotten_stories;
      engine->reset();
      engine = OpenEngine(dir.path(), options);
      ASSERT_TRUE(engine.ok()) << engine.status();
      ASSERT_EQ(stories(**engine), before) << "restart after article " << i;
    }
  }
  forgotten_stories += (*engine)->stats().forgotten_stories;
  EXPECT_GT(forgotten_stories, 10);
  EXPECT_GT(runner_ups, 10);  // the stream did what it is meant to
  EXPECT_EQ(old_events, 0);
  EXPECT_GT(exact, 10);
  // What stays is a retention's worth (and one more of expired stories),
  // not everything ever seen.
  const size_t kept = (*engine)->ListClusters(true).size();
  EXPECT_LT(kept, named.size() / 2) << named.size() << " stories named";
}

// A thread that lives for months goes through stories long forgotten:
// their younger stories link to the thread's root instead, so a story
// stays for its retention and the answers that name it, not for as long
// as its thread lives (which kept every story ever made).
TEST(RocksDbStoreTest, AThreadOutlivesItsStoriesWithoutKeepingThem) {
  TempDir dir("long-thread");
  ManualClock clock;
  EngineOptions options;
  options.retention = absl::Hours(48);
  options.story_window = absl::Hours(36);
  options.thread_threshold = 0.01f;  // any word in common
  options.clock = clock.AsFunction();
  auto engine = OpenEngine(dir.path(), options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const std::vector<std::string> places = {
      "Oslo",  "Lima",  "Cairo", "Hanoi", "Quito", "Dakar", "Perth",
      "Minsk", "Accra", "Doha",  "Riga",  "Sofia", "Tunis", "Baku"};
  const std::vector<std::string> what = {"harbour crane", "school roof",
                                         "power station", "river ferry"};
  std::string first_thread;
  int64_t most_kept = 0;
  int later_answers = 0, in_first_thread = 0;
  const int kDays = 80;
  for (int day = 0; day < kDays; ++day) {
    // One event a day, three reports in its first hours, all of them
    // about the long drought (the thread's word).
    for (int k = 0; k < 3; ++k) {
      Article article;
      article.id = absl::StrCat("d", day, "-", k);
      article.title =
          absl::StrCat("Drought: ", places[day % places.size()], " ",
                       what[(day / places.size()) % what.size()], " closes",
                       k == 0 ? "" : (k == 1 ? " again" : " officials say"));
      article.published = clock.now;
      clock.now += absl::Hours(2);
      auto answer = (*engine)->Assign(article);
      ASSERT_TRUE(answer.ok()) << answer.status();
      if (first_thread.empty()) first_thread = answer->thread_id;
      // (A new story's first answer names its own thread: links come
      // after the answer.)
      if (k > 0) {
        ++later_answers;
        in_first_thread += answer->thread_id == first_thread;
      }
    }
    clock.now += absl::Hours(18);
    most_kept =
        std::max<int64_t>(most_kept, (*engine)->ListClusters(true).size());
    if (day % 20 == 19) {  // and the links come back alike
      std::vector<std::string> before;
      for (const ClusterSummary& c : (*engine)->ListClusters(true)) {
        before.push_back(absl::StrCat(c.cluster_id, " ", c.thread_id));
      }
      engine->reset();
      engine = OpenEngine(dir.path(), options);
      ASSERT_TRUE(engine.ok()) << engine.status();
      std::vector<std::string> after;
      for (const ClusterSummary& c : (*engine)->ListClusters(true)) {
        after.push_back(absl::StrCat(c.cluster_id, " ", c.thread_id));
      }
      EXPECT_EQ(after, before) << "restart after day " << day;
    }
  }
  // Four days' stories at most (two of retention, two more while expired),
  // and the thread's first one, which names it.
  EXPECT_LE(most_kept, 6);
  // The stream did what it is meant to: one thread all along.
  EXPECT_GE(in_first_thread, later_answers * 9 / 10);
  EXPECT_TRUE((*engine)->ResolveThreadId(first_thread).ok());
}

// A story that lives for months absorbs a story now and then: each
// absorbed id resolves for one retention and while an answer held names
// it, then it is forgotten (its record deleted, the survivor no longer
// lists it), rather than every absorbed id staying with the survivor.
TEST(RocksDbStoreTest, AbsorbedStoriesAreForgottenWhileTheirSurvivorLives) {
  TempDir dir("absorbed");
  ManualClock clock;
  EngineOptions options;
  options.retention = absl::Hours(24);
  options.story_window = absl::Hours(24);
  // No article joins; only the merge step brings stories together.
  options.short_text_threshold = 0.99f;
  options.long_text_threshold = 0.99f;
  options.near_duplicate_threshold = 1.0f;
  options.same_time_factor = 1.0f;
  options.short_text_merge_threshold = 0.3f;
  options.long_text_merge_threshold = 0.3f;
  // Days alone age the story: with the other news counted as newer
  // stories, fewer merge checks reach it than the test needs.
  options.days_per_newer_story = 0;
  options.clock = clock.AsFunction();
  int64_t absorbed = 0;
  options.on_story_change = [&](const EngineOptions::StoryChange& change) {
    absorbed += change.kind == EngineOptions::StoryChange::Kind::kMerge;
  };
  auto engine = OpenEngine(dir.path(), options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::string survivor, first_alias;
  size_t most_aliases = 0;
  std::vector<std::string> held;
  const std::vector<std::string> kOther = {
      "Central bank holds interest rates steady",
      "Striker signs new contract",
      "Pop star announces world tour dates",
      "Parliament debates pension bill",
      "Heatwave grips southern Europe",
      "Carmaker recalls electric models",
      "Chess champion wins final round",
      "Museum returns looted statue"};
  for (int i = 0; i < 50; ++i) {  // one every two hours: four days
    Article article;
    article.id = absl::StrCat("v", i);
    article.title =
        absl::StrCat("Iceland volcano erupts near Grindavik, update ", i);
    article.published = clock.now;
    clock.now += absl::Hours(2);
    auto answer = (*engine)->Assign(article);
    ASSERT_TRUE(answer.ok()) << answer.status();
    if (survivor.empty()) survivor = answer->cluster_id;
    held.push_back(article.id);
    // Other news between them, so that their shared words are rare.
    Article other;
    other.id = absl::StrCat("o", i);
    other.title = absl::StrCat(kOther[i % kOther.size()], " ", i);
    other.published = clock.now;
    ASSERT_TRUE((*engine)->Assign(other).ok());
    auto story = (*engine)->GetCluster(survivor);
    ASSERT_TRUE(story.ok()) << story.status() << " after article " << i;
    most_aliases = std::max(most_aliases, story->aliases.size());
    if (first_alias.empty() && !story->aliases.empty()) {
      first_alias = story->aliases[0];
    }
    // Every answer held names a story that resolves.
    std::vector<std::string> still_held;
    for (const std::string& id : held) {
      auto view = (*engine)->GetArticle(id);
      if (!view.ok()) continue;
      still_held.push_back(id);
      EXPECT_TRUE((*engine)->ResolveClusterId(view->assignment.cluster_id).ok())
          << id << " names " << view->assignment.cluster_id;
    }
    held = std::move(still_held);
    if (i % 20 == 19) {  // and a restart brings back the same
      auto before = (*engine)->GetCluster(survivor);
      ASSERT_TRUE(before.ok());
      engine->reset();
      engine = OpenEngine(dir.path(), options);
      ASSERT_TRUE(engine.ok()) << engine.status();
      auto after = (*engine)->GetCluster(survivor);
      ASSERT_TRUE(after.ok()) << after.status();
      EXPECT_EQ(after->aliases, before->aliases) << "restart after " << i;
    }
  }
  EXPECT_GT(absorbed, 20);  // the stream did what it is meant to
  // Two retentions' worth at most (held answers name them for one).
  EXPECT_LE(most_aliases, 26u);
  EXPECT_EQ((*engine)->ResolveClusterId(first_alias).status().code(),
            absl::StatusCode::kNotFound)
      << first_alias;
}

TEST(RocksDbStoreTest, FutureDatedArticleIsRefusedAndChangesNothing) {
  // A feed with a broken clock (an article dated 9999-12-31) is refused:
  // it must not make everything else look old.
  TempDir dir("future");
  ManualClock clock;
  EngineOptions options;
  options.max_future_skew = absl::Hours(24);  // as the server sets it
  options.retention = absl::Hours(24 * 10);
  options.clock = clock.AsFunction();
  auto engine = OpenEngine(dir.path(), options);
  ASSERT_TRUE(engine.ok());
  Article recent = MakeArticle("recent", "Harbour bridge closes");
  recent.published = clock.now - absl::Hours(1);
  ASSERT_TRUE((*engine)->Assign(recent).ok());
  Article future = MakeArticle("future", "Moon base opens");
  future.published = absl::FromCivil(absl::CivilSecond(9999, 12, 31, 0, 0, 0),
                                     absl::UTCTimeZone());
  absl::StatusOr<Assignment> refused = (*engine)->Assign(future);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("published: 9999-12-31T00:00:00Z is more than 24h"));
  EXPECT_EQ((*engine)->GetArticle("future").status().code(),
            absl::StatusCode::kNotFound);
  // Within the allowed skew is fine.
  Article early = MakeArticle("early", "Moon base opens");
  early.published = clock.now + absl::Hours(23);
  EXPECT_TRUE((*engine)->Assign(early).ok());
  EXPECT_TRUE((*engine)->GetArticle("recent").ok());
  EXPECT_EQ((*engine)->stats().forgotten, 0);
}

}  // namespace
}  // namespace newsdedup
