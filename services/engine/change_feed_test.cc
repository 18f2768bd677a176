// The change feed on the engine: every change to story state is an event,
// in one cursor order, kept through a restart from RocksDB, filtered,
// paged, and refused (OUT_OF_RANGE) once older than the feed keeps.
#include "services/engine/change_feed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "embeddings/lexical_embedder.h"
#include "services/engine/engine.h"
#include "services/storage/rocksdb_store.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Kind = FeedEvent::Kind;

std::unique_ptr<ClusteringEngine> OpenEngine(const std::string& dir,
                                             EngineOptions options = {}) {
  auto embedder = NewLexicalEmbedder(LexicalEmbedderOptions());
  EXPECT_TRUE(embedder.ok());
  if (dir.empty()) {
    auto engine = ClusteringEngine::Create(options, *std::move(embedder));
    EXPECT_TRUE(engine.ok()) << engine.status();
    return *std::move(engine);
  }
  RocksDbStoreOptions store_options;
  store_options.path = dir;
  store_options.embedder_fingerprint = (*embedder)->fingerprint();
  auto store = OpenRocksDbStore(store_options);
  EXPECT_TRUE(store.ok()) << store.status();
  auto engine = ClusteringEngine::Create(options, *std::move(embedder),
                                         *std::move(store));
  EXPECT_TRUE(engine.ok()) << engine.status();
  return *std::move(engine);
}

// Every event after `after`, page by page.
std::vector<FeedEvent> ReadAll(const ClusteringEngine& engine,
                               FeedQuery query = {}) {
  std::vector<FeedEvent> all;
  for (;;) {
    absl::StatusOr<FeedPage> page = engine.ReadFeed(query);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return all;
    all.insert(all.end(), page->events.begin(), page->events.end());
    if (page->next_cursor >= page->newest_cursor) return all;
    EXPECT_GT(page->next_cursor, query.after_cursor);  // progress
    query.after_cursor = page->next_cursor;
  }
}

// An editor's action on `cluster` (and `target`), by Ana Editor.
EditorialAction Edit(EditorialAction::Kind kind, std::string cluster,
                     std::string target, std::string reason) {
  EditorialAction action;
  action.kind = kind;
  action.cluster_id = std::move(cluster);
  action.target_cluster_id = std::move(target);
  action.editor = "Ana Editor";
  action.reason = std::move(reason);
  return action;
}

std::vector<Kind> KindsOf(const std::vector<FeedEvent>& events) {
  std::vector<Kind> kinds;
  for (const FeedEvent& e : events) kinds.push_back(e.kind);
  return kinds;
}

class ChangeFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/newsdedup_feed_", getpid());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The stories fixture, into `engine`; the feed's events it made.
  std::vector<FeedEvent> AssignFixture(ClusteringEngine* engine) {
    const uint64_t before = engine->FeedCursor();
    for (const Article& a : testing::LoadStoriesFixture().articles) {
      EXPECT_TRUE(engine->Assign(a).ok());
    }
    FeedQuery query;
    query.after_cursor = before;
    return ReadAll(*engine, query);
  }

  std::string dir_;
};

TEST_F(ChangeFeedTest, EveryArticleIsAnEventInCursorOrder) {
  auto engine = OpenEngine(dir_);
  const std::vector<FeedEvent> events = AssignFixture(engine.get());
  ASSERT_FALSE(events.empty());
  int created = 0, grew = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].cursor, i + 1) << "cursors are contiguous from 1";
    EXPECT_FALSE(events[i].cluster_id.empty());
    EXPECT_FALSE(events[i].thread_id.empty());
    if (events[i].kind == Kind::kCreated) {
      ++created;
      EXPECT_EQ(events[i].relation, Relation::kNewStory);
      EXPECT_EQ(events[i].cluster_size, 1);
    }
    if (events[i].kind == Kind::kGrew) {
      ++grew;
      EXPECT_NE(events[i].relation, Relation::kNewStory);
    }
  }
  const int articles =
      static_cast<int>(testing::LoadStoriesFixture().articles.size());
  EXPECT_EQ(created + grew, articles) << "one event per article";
  EXPECT_EQ(created, static_cast<int>(engine->ListClusters().size()));
  EXPECT_EQ(engine->FeedCursor(), events.back().cursor);
}

TEST_F(ChangeFeedTest, EditsTakedownsAndVersionsAreEvents) {
  auto engine = OpenEngine(dir_);
  AssignFixture(engine.get());
  const std::string summit = *engine->ClusterOfArticle("s1");
  const std::string quake = *engine->ClusterOfArticle("q1");
  const std::string rates = *engine->ClusterOfArticle("f1");
  const EditorialAction merge =
      Edit(EditorialAction::Kind::kMergeClusters, quake, summit, "one story");

  FeedQuery query;
  query.after_cursor = engine->FeedCursor();
  ASSERT_TRUE(engine->Edit(merge).ok());
  std::vector<FeedEvent> events = ReadAll(*engine, query);
  std::vector<Kind> kinds = KindsOf(events);
  // The edit on the absorbed story, the merge, the edit on the survivor
  // (and perhaps the threads joined, a new representative between).
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(kinds.front(), Kind::kEdited);
  EXPECT_EQ(kinds.back(), Kind::kEdited);
  auto merged = std::find(kinds.begin(), kinds.end(), Kind::kMerged);
  ASSERT_NE(merged, kinds.end()) << "a merge reaches the feed as a merge";
  const FeedEvent& m = events[merged - kinds.begin()];
  EXPECT_EQ(m.cluster_id, summit);
  EXPECT_EQ(m.related_cluster_id, quake);
  EXPECT_EQ(events.back().editor, "Ana Editor");
  EXPECT_EQ(events.back().reason, "one story");
  EXPECT_EQ(events.back().action, "merge");

  EditorialAction split = Edit(EditorialAction::Kind::kSplitCluster, summit, "",
                               "two stories after all");
  split.article_ids = {"q1", "q2"};
  query.after_cursor = engine->FeedCursor();
  auto fresh = engine->Edit(split);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  events = ReadAll(*engine, query);
  kinds = KindsOf(events);
  auto s = std::find(kinds.begin(), kinds.end(), Kind::kSplit);
  ASSERT_NE(s, kinds.end());
  EXPECT_EQ(events[s - kinds.begin()].cluster_id, fresh->cluster_id);
  EXPECT_EQ(events[s - kinds.begin()].related_cluster_id, summit);
  EXPECT_EQ(events[s - kinds.begin()].cluster_size, 2);

  EditorialAction move =
      Edit(EditorialAction::Kind::kMoveArticle, "", summit, "belongs there");
  move.article_id = "f1";
  query.after_cursor = engine->FeedCursor();
  ASSERT_TRUE(engine->Edit(move).ok());
  events = ReadAll(*engine, query);
  kinds = KindsOf(events);
  // (The story it left may have a new representative first.)
  auto moved = std::find(kinds.begin(), kinds.end(), Kind::kMoved);
  ASSERT_NE(moved, kinds.end());
  EXPECT_EQ(events[moved - kinds.begin()].article_id, "f1");
  EXPECT_EQ(events[moved - kinds.begin()].cluster_id, summit);
  EXPECT_EQ(events[moved - kinds.begin()].related_cluster_id, rates);

  query.after_cursor = engine->FeedCursor();
  ASSERT_TRUE(engine->DeleteArticle("s2").ok());
  events = ReadAll(*engine, query);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, Kind::kTakenDown);
  EXPECT_EQ(events.back().article_id, "s2");
  EXPECT_EQ(events.back().cluster_id, summit);

  Article s3 = testing::LoadStoriesFixture().articles[0];
  for (const Article& a : testing::LoadStoriesFixture().articles) {
    if (a.id == "s3") s3 = a;
  }
  s3.title += " (updated)";
  query.after_cursor = engine->FeedCursor();
  ASSERT_TRUE(engine->Assign(s3).ok());
  events = ReadAll(*engine, query);
  kinds = KindsOf(events);
  EXPECT_TRUE(std::find(kinds.begin(), kinds.end(), Kind::kUpdated) !=
                  kinds.end() ||
              kinds.front() == Kind::kCreated)
      << "a new version is UPDATED (or CREATED in a story of its own)";
}

TEST_F(ChangeFeedTest, ARestartKeepsEventsAndCursors) {
  std::vector<FeedEvent> before;
  {
    auto engine = OpenEngine(dir_);
    before = AssignFixture(engine.get());
  }
  auto engine = OpenEngine(dir_);
  EXPECT_EQ(engine->FeedCursor(), before.back().cursor);
  const std::vector<FeedEvent> after = ReadAll(*engine);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].cursor, before[i].cursor);
    EXPECT_EQ(after[i].kind, before[i].kind);
    EXPECT_EQ(after[i].cluster_id, before[i].cluster_id);
    EXPECT_EQ(after[i].article_id, before[i].article_id);
    EXPECT_EQ(after[i].time, before[i].time);
  }
  // Recovery itself is no news; the next change continues the cursors.
  ASSERT_TRUE(engine
                  ->Assign(testing::MakeArticle("new",
                                                "Volcano erupts in "
                                                "Iceland, flights halted"))
                  .ok());
  FeedQuery query;
  query.after_cursor = before.back().cursor;
  const std::vector<FeedEvent> next = ReadAll(*engine, query);
  ASSERT_FALSE(next.empty());
  EXPECT_EQ(next.front().cursor, before.back().cursor + 1);
  EXPECT_EQ(next.front().article_id, "new");
}

TEST_F(ChangeFeedTest, AStaleCursorIsOutOfRangeAndSaysToResync) {
  EngineOptions options;
  options.feed_events = 8;
  auto engine = OpenEngine(dir_, options);
  AssignFixture(engine.get());
  const uint64_t newest = engine->FeedCursor();
  ASSERT_GT(newest, 10u);
  FeedQuery query;
  query.after_cursor = 1;
  absl::StatusOr<FeedPage> stale = engine->ReadFeed(query);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(stale.status().message(), HasSubstr("ListClusters"));
  // From the oldest kept: the newest `feed_events` (and at most a
  // sixteenth more), ending with the newest.
  const std::vector<FeedEvent> kept = ReadAll(*engine);
  ASSERT_FALSE(kept.empty());
  EXPECT_GE(kept.size(), 8u);
  EXPECT_LE(kept.size(), 9u);
  EXPECT_EQ(kept.back().cursor, newest);
  // So it stays across a restart.
  engine.reset();
  engine = OpenEngine(dir_, options);
  EXPECT_EQ(engine->ReadFeed(query).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ReadAll(*engine).size(), kept.size());
}

TEST_F(ChangeFeedTest, FiltersAndPagesSkipWhatTheyDoNotTake) {
  auto engine = OpenEngine(dir_);
  Article a =
      testing::MakeArticle("a", "Wildfire forces evacuations in Greece");
  a.collection = "tenant-a";
  Article b = testing::MakeArticle("b", "Central bank raises rates again");
  b.collection = "tenant-b";
  ASSERT_TRUE(engine->Assign(a).ok());
  ASSERT_TRUE(engine->Assign(b).ok());
  FeedQuery query;
  query.collection = "tenant-b";
  std::vector<FeedEvent> events = ReadAll(*engine, query);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].article_id, "b");
  EXPECT_THAT(events[0].collections, ElementsAre("tenant-b"));

  query = FeedQuery();
  query.kinds = {Kind::kTakenDown};
  EXPECT_TRUE(ReadAll(*engine, query).empty());
  ASSERT_TRUE(engine->DeleteArticle("a").ok());
  events = ReadAll(*engine, query);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].article_id, "a");

  query = FeedQuery();
  query.max_events = 1;
  absl::StatusOr<FeedPage> page = engine->ReadFeed(query);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->next_cursor, 1u);
  EXPECT_EQ(page->newest_cursor, 3u);
  query.max_events = 0;
  EXPECT_EQ(engine->ReadFeed(query).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ChangeFeedMemoryTest, AStoryEventNamesItsMembersCollections) {
  auto engine = OpenEngine("");
  Article a =
      testing::MakeArticle("a", "Wildfire forces evacuations in Greece");
  a.collection = "tenant-a";
  Article b = testing::MakeArticle("b", "Central bank raises rates again");
  b.collection = "tenant-b";
  Article b2 = testing::MakeArticle("b2", "Central bank raises rates again!");
  b2.collection = "tenant-b";
  const std::string fire = engine->Assign(a)->cluster_id;
  const std::string rates = engine->Assign(b)->cluster_id;
  ASSERT_EQ(engine->Assign(b2)->cluster_id, rates);
  const EditorialAction merge =
      Edit(EditorialAction::Kind::kMergeClusters, fire, rates, "an example");
  FeedQuery query;
  query.after_cursor = engine->FeedCursor();
  query.kinds = {Kind::kMerged};
  ASSERT_TRUE(engine->Edit(merge).ok());
  const std::vector<FeedEvent> events = ReadAll(*engine, query);
  ASSERT_EQ(events.size(), 1u);
  // Most members first: a consumer of either tenant sees the merge.
  EXPECT_THAT(events[0].collections, ElementsAre("tenant-b", "tenant-a"));
  query.collection = "tenant-a";
  EXPECT_EQ(ReadAll(*engine, query).size(), 1u);
}

TEST(ChangeFeedMemoryTest, AWatcherWakesOnTheNextEvent) {
  auto engine = OpenEngine("");
  EXPECT_EQ(engine->FeedCursor(), 0u);
  EXPECT_FALSE(engine->AwaitFeed(0, absl::Milliseconds(20)));
  ASSERT_TRUE(
      engine->Assign(testing::MakeArticle("a", "Wildfire forces evacuations"))
          .ok());
  EXPECT_TRUE(engine->AwaitFeed(0, absl::Milliseconds(20)));
  EXPECT_FALSE(engine->AwaitFeed(1, absl::Milliseconds(20)));
  const std::vector<FeedEvent> events = ReadAll(*engine);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kCreated);
}

TEST(ChangeFeedMemoryTest, AStoryWhoseLastArticleExpiresIsExpired) {
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  EngineOptions options;
  options.retention = absl::Hours(24 * 10);
  options.clock = [&now] { return now; };
  auto engine = OpenEngine("", options);
  Article old = testing::MakeArticle("old", "Harbour bridge closes");
  old.collection = "city-desk";
  const std::string story = engine->Assign(old)->cluster_id;
  now += absl::Hours(24 * 11);
  ASSERT_TRUE(engine->ForgetExpired().ok());
  const std::vector<FeedEvent> events = ReadAll(*engine);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].kind, Kind::kExpired);
  EXPECT_EQ(events[1].cluster_id, story);
  EXPECT_EQ(events[1].cluster_size, 0);
  EXPECT_EQ(events[1].time, now);
  EXPECT_THAT(events[1].collections, ElementsAre("city-desk"));
}

TEST(ChangeFeedKindTest, NamesParseBack) {
  for (int k = static_cast<int>(FeedEvent::kFirstKind);
       k <= static_cast<int>(FeedEvent::kLastKind); ++k) {
    const auto kind = static_cast<Kind>(k);
    EXPECT_EQ(*ParseFeedEventKind(FeedEventKindName(kind)), kind);
  }
  EXPECT_EQ(*ParseFeedEventKind("merged"), Kind::kMerged);
  EXPECT_THAT(ParseFeedEventKind("MERGE").status().message(),
              HasSubstr("MERGED"));
}

}  // namespace
}  // namespace newsdedup
