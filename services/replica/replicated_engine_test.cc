#include "services/replica/replicated_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "embeddings/lexical_embedder.h"
#include "newsdedup/replication/v1/log.pb.h"
#include "newsdedup/storage/v1/state.pb.h"
#include "services/engine/state_digest.h"
#include "services/replica/log_entries.h"
#include "services/replica/replica_checkpoints.h"
#include "services/storage/rocksdb_store.h"
#include "tests/support/replica_support.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;
using testing::LoadStoriesFixture;
using testing::MakeArticle;

using testing::FastReplicationOptions;
using testing::StartTestReplica;

std::unique_ptr<ReplicatedEngine> StartReplica(
    ReplicationLog* log, EngineOptions engine_options = EngineOptions()) {
  auto replica =
      StartTestReplica(log, engine_options, FastReplicationOptions());
  EXPECT_TRUE(replica.ok()) << replica.status();
  return replica.ok() ? *std::move(replica) : nullptr;
}

// An editor's pin of `article_id` as `cluster_id`'s representative.
EditorialAction PinAction(const std::string& cluster_id,
                          const std::string& article_id) {
  EditorialAction pin;
  pin.kind = EditorialAction::Kind::kPinRepresentative;
  pin.cluster_id = cluster_id;
  pin.article_id = article_id;
  pin.editor = "Ana Editor";
  pin.reason = "best";
  return pin;
}

// An empty directory of this test process's own under the tests' temporary
// directory.
std::filesystem::path FreshTestDir(absl::string_view name) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) /
      absl::StrCat(name, "-", getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

bool WaitWritable(const ReplicatedEngine& replica) {
  for (int i = 0; i < 6000 && !replica.Writable().ok(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  return replica.Writable().ok();
}

// A replica's change feed from `after` on, one line per event, for
// comparing replicas.
std::vector<std::string> FeedOf(const ClusteringEngine& engine,
                                uint64_t after = 0) {
  std::vector<std::string> lines;
  FeedQuery query;
  query.after_cursor = after;
  for (;;) {
    absl::StatusOr<FeedPage> page = engine.ReadFeed(query);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return lines;
    for (const FeedEvent& e : page->events) {
      lines.push_back(absl::StrCat(e.cursor, " ", FeedEventKindName(e.kind),
                                   " ", e.cluster_id, " ", e.article_id, " ",
                                   e.related_cluster_id, " ",
                                   absl::FormatTime(e.time)));
    }
    if (page->next_cursor >= page->newest_cursor) return lines;
    query.after_cursor = page->next_cursor;
  }
}

class ReplicatedEngineTest : public ::testing::Test {
 protected:
  // Every entry is stamped an hour after the last, from the fixture's day:
  // the replicas' clock is the log's, not the machine's.
  std::unique_ptr<InMemoryLog> log_ = NewInMemoryLog([this] {
    return absl::FromUnixSeconds(1761091200) + absl::Hours(++entries_);
  });
  int entries_ = 0;
};

TEST_F(ReplicatedEngineTest, ReplicasAnswerAlikeAndAgreeOnEveryStoryId) {
  auto a = StartReplica(log_.get());
  auto b = StartReplica(log_.get());
  ASSERT_TRUE(WaitWritable(*a) && WaitWritable(*b));
  const auto fixture = LoadStoriesFixture();
  for (size_t i = 0; i < fixture.articles.size(); ++i) {
    // Alternate replicas, as a load balancer would.
    ReplicatedEngine& via = i % 2 == 0 ? *a : *b;
    ReplicatedEngine& other = i % 2 == 0 ? *b : *a;
    auto answer = via.Assign(fixture.articles[i]);
    ASSERT_TRUE(answer.ok()) << answer.status();
    ASSERT_TRUE(other.WaitForSequence(via.applied_sequence(),
                                      absl::Now() + absl::Seconds(10)));
    // The other replica holds the same answer.
    auto there = other.ClusterOfArticle(fixture.articles[i].id);
    ASSERT_TRUE(there.ok());
    EXPECT_EQ(*there, *via.ClusterOfArticle(fixture.articles[i].id));
  }
  EXPECT_EQ(a->stats().live_clusters, 4);
  EXPECT_EQ(ComputeStateDigest(*a).digest, ComputeStateDigest(*b).digest);
  EXPECT_EQ(ComputeStateDigest(*a).articles, 13);

  // A resend through the other replica is stored once and answered alike.
  const uint64_t before = *log_->LastSequence(absl::Seconds(1));
  auto first = a->Assign(fixture.articles[0]);
  auto again = b->Assign(fixture.articles[0]);
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(first->cluster_id, again->cluster_id);
  EXPECT_LE(*log_->LastSequence(absl::Seconds(1)), before + 1);

  // A takedown through one replica reaches both.
  ASSERT_TRUE(b->DeleteArticle(fixture.articles[3].id).ok());
  ASSERT_TRUE(a->WaitForSequence(b->applied_sequence(),
                                 absl::Now() + absl::Seconds(10)));
  EXPECT_EQ(a->GetArticle(fixture.articles[3].id).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(b->DeleteArticle(fixture.articles[3].id).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ComputeStateDigest(*a).digest, ComputeStateDigest(*b).digest);
}

TEST_F(ReplicatedEngineTest, EditorialActionsAreLogEntriesEveryReplicaApplies) {
  auto a = StartReplica(log_.get());
  auto b = StartReplica(log_.get());
  ASSERT_TRUE(WaitWritable(*a) && WaitWritable(*b));
  for (const Article& article : LoadStoriesFixture().articles) {
    ASSERT_TRUE(a->Assign(article).ok());
  }
  const std::string summit = *a->ClusterOfArticle("s1");
  const std::string quake = *a->ClusterOfArticle("q1");
  EditorialAction split;
  split.kind = EditorialAction::Kind::kSplitCluster;
  split.cluster_id = summit;
  split.article_ids = {"s4"};
  split.editor = "Ana Editor";
  split.reason = "another event";
  auto fresh = b->Edit(split);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  const EditorialAction pin = PinAction(quake, "q3");
  ASSERT_TRUE(a->Edit(pin).ok());
  // A refusal is the same everywhere: the log entry is refused alike.
  EditorialAction into_itself = pin;
  into_itself.kind = EditorialAction::Kind::kMergeClusters;
  into_itself.target_cluster_id = quake;
  EXPECT_EQ(b->Edit(into_itself).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(a->WaitForSequence(b->applied_sequence(),
                                 absl::Now() + absl::Seconds(10)));
  ASSERT_TRUE(b->WaitForSequence(a->applied_sequence(),
                                 absl::Now() + absl::Seconds(10)));
  for (ReplicatedEngine* replica : {a.get(), b.get()}) {
    EXPECT_EQ(*replica->ClusterOfArticle("s4"), fresh->cluster_id);
    EXPECT_EQ(replica->GetCluster(quake)->representative_id, "q3");
    const std::vector<ClusterEvent> history =
        replica->GetCluster(summit)->history;
    ASSERT_FALSE(history.empty());
    EXPECT_EQ(history.back().action, "split");
    EXPECT_EQ(history.back().editor, "Ana Editor");
  }
  EXPECT_EQ(ComputeStateDigest(*a).digest, ComputeStateDigest(*b).digest);
  // The same change feed, cursor for cursor: the split reaches both.
  const std::vector<std::string> feed = FeedOf(*a);
  EXPECT_EQ(FeedOf(*b), feed);
  EXPECT_TRUE(std::any_of(feed.begin(), feed.end(), [](const std::string& e) {
    return absl::StrContains(e, " SPLIT ");
  }));
  // A replica that starts later replays the edits to the same state.
  auto late = StartReplica(log_.get());
  ASSERT_TRUE(WaitWritable(*late));
  EXPECT_EQ(ComputeStateDigest(*late).digest, ComputeStateDigest(*a).digest);
  EXPECT_EQ(FeedOf(*late), feed);
  EXPECT_EQ(late->GetCluster(quake)->representative_id, "q3");
}

TEST_F(ReplicatedEngineTest, ALateReplicaReplaysTheLogToTheSameState) {
  auto a = StartReplica(log_.get());
  ASSERT_TRUE(WaitWritable(*a));
  for (const Article& article : LoadStoriesFixture().articles) {
    ASSERT_TRUE(a->Assign(article).ok());
  }
  auto late = StartReplica(log_.get());
  ASSERT_TRUE(WaitWritable(*late));
  EXPECT_EQ(late->applied_sequence(), a->applied_sequence());
  EXPECT_EQ(ComputeStateDigest(*late).digest, ComputeStateDigest(*a).digest);
}

TEST_F(ReplicatedEngineTest, ReplicasThatJoinLateBuildTheSameGraphs) {
  // 9,000 articles in one story window: the index shard becomes an HNSW
  // graph at 8,192 vectors, so approximate searches decide from then on.
  // One replica applies them live; one starts half-way (replays, then
  // live); one starts at the end (replays everything).
  auto live = StartReplica(log_.get());
  ASSERT_TRUE(WaitWritable(*live));
  std::mt19937 rng(11);
  auto article = [&rng](int i) {
    std::string title = absl::StrCat("Event ", i % 1500, " in");
    for (int w = 0; w < 5; ++w) {
      absl::StrAppend(&title, " w", rng() % 4000);
    }
    return MakeArticle(absl::StrCat("g", i), title, "", i / 3600.0);
  };
  std::unique_ptr<ReplicatedEngine> halfway;
  constexpr int kArticles = 9000;
  for (int i = 0; i < kArticles; ++i) {
    if (i == kArticles / 2) {
      halfway = StartReplica(log_.get());
      ASSERT_TRUE(WaitWritable(*halfway));
    }
    ASSERT_TRUE(live->Assign(article(i)).ok());
  }
  EXPECT_GE(live->stats().indexed_vectors, 8192);
  auto last = StartReplica(log_.get());
  ASSERT_TRUE(WaitWritable(*last));
  ASSERT_TRUE(halfway->WaitForSequence(live->applied_sequence(),
                                       absl::Now() + absl::Seconds(60)));
  const StateDigest expected = ComputeStateDigest(*live);
  EXPECT_EQ(expected.articles, kArticles);
  EXPECT_EQ(ComputeStateDigest(*halfway).digest, expected.digest);
  EXPECT_EQ(ComputeStateDigest(*last).digest, expected.digest);
}

// An engine on a RocksDB store where the replica's checkpoints say, on the
// replica's clock; `wrap`, if set, stands between the engine and its store.
using StoreWrapper =
    std::function<std::unique_ptr<EngineStore>(std::unique_ptr<EngineStore>)>;
ReplicatedEngine::EngineBuilder DurableBuilder(StoreWrapper wrap = nullptr) {
  return [wrap](const ReplicatedEngine::LogPosition& position)
             -> absl::StatusOr<std::unique_ptr<ClusteringEngine>> {
    EngineOptions options;
    options.clock = position.clock;
    options.log_sequence = position.log_sequence;
    options.exact_search_limit = 1000;  // shards become graphs sooner
    ASSIGN_OR_RETURN(std::unique_ptr<Embedder> embedder,
                     NewLexicalEmbedder(LexicalEmbedderOptions()));
    RocksDbStoreOptions store;
    store.path = position.store_path;
    store.sync = SyncPolicy::kNone;
    store.index_snapshot = false;  // as serve's replicas
    store.embedder_fingerprint = embedder->fingerprint();
    ASSIGN_OR_RETURN(std::unique_ptr<EngineStore> opened,
                     OpenRocksDbStore(store));
    if (wrap) opened = wrap(std::move(opened));
    return ClusteringEngine::Create(options, std::move(embedder),
                                    std::move(opened));
  };
}

// A store whose disk runs low while `*low` is set: Writable() says so, as
// RocksDbStore's does below --min-free-mb.
class LowDiskStore final : public EngineStore {
 public:
  LowDiskStore(std::unique_ptr<EngineStore> inner,
               std::shared_ptr<std::atomic<bool>> low)
      : inner_(std::move(inner)), low_(std::move(low)) {}
  absl::Status Load(const Visitor& visitor) override {
    return inner_->Load(visitor);
  }
  uint64_t Stage(Batch batch) override {
    return inner_->Stage(std::move(batch));
  }
  absl::Status WaitDurable(uint64_t ticket) override {
    return inner_->WaitDurable(ticket);
  }
  int64_t pending() const override { return inner_->pending(); }
  absl::Status Writable() const override {
    if (low_->load()) {
      return absl::UnavailableError(
          "the store cannot take changes now: only 3 MiB free (test)");
    }
    return inner_->Writable();
  }
  uint64_t failed_writes() const override { return inner_->failed_writes(); }
  absl::Status Resume() override { return inner_->Resume(); }
  absl::StatusOr<BackupInfo> Backup(const std::string& backup_dir) override {
    if (low_->load()) return absl::ResourceExhaustedError("no space (test)");
    return inner_->Backup(backup_dir);
  }

 private:
  const std::unique_ptr<EngineStore> inner_;
  const std::shared_ptr<std::atomic<bool>> low_;
};

// Issue 23.1: a replica whose disk ran low refused the entries it could
// not store, moved on, reported ready at its peers' sequence and never
// applied them (12,469 articles against a peer's 21,950 at one sequence).
TEST_F(ReplicatedEngineTest, AReplicaLowOnDiskHoldsAtTheEntryAndCatchesUp) {
  const std::filesystem::path root = FreshTestDir("low-disk");
  auto low = std::make_shared<std::atomic<bool>>(false);
  auto start = [&](const std::string& name, bool on_small_disk) {
    ReplicationOptions options = FastReplicationOptions();
    options.checkpoints = NewStoreCheckpoints((root / name).string());
    options.checkpoint_every = 40;
    ReplicatedEngine::EngineBuilder build = DurableBuilder();
    if (on_small_disk) {
      build = DurableBuilder([low](std::unique_ptr<EngineStore> store) {
        return std::make_unique<LowDiskStore>(std::move(store), low);
      });
    }
    auto replica = ReplicatedEngine::Start(
        std::make_unique<testing::SharedLog>(log_.get()), build, options);
    EXPECT_TRUE(replica.ok()) << replica.status();
    return replica.ok() ? *std::move(replica) : nullptr;
  };
  auto healthy = start("healthy", false);
  auto small = start("small", true);
  ASSERT_TRUE(healthy != nullptr && small != nullptr);
  ASSERT_TRUE(WaitWritable(*healthy) && WaitWritable(*small));
  auto assign = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      ASSERT_TRUE(healthy
                      ->Assign(MakeArticle(
                          absl::StrCat("d", i),
                          absl::StrCat("Report ", i % 17, " on item ", i)))
                      .ok());
    }
  };
  assign(0, 30);
  ASSERT_TRUE(small->WaitForSequence(healthy->applied_sequence(),
                                     absl::Now() + absl::Seconds(30)));
  low->store(true);
  assign(30, 130);  // with checkpoints among them
  const uint64_t held = small->applied_sequence();
  absl::SleepFor(absl::Milliseconds(500));
  // It holds at the first entry it could not apply, and says so.
  EXPECT_EQ(small->applied_sequence(), held);
  EXPECT_LT(held, healthy->applied_sequence());
  EXPECT_EQ(small->Writable().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(small->Writable().message(),
              HasSubstr(absl::StrCat("cannot apply log entry ", held + 1)));
  EXPECT_TRUE(healthy->Writable().ok());

  low->store(false);  // space is back
  const uint64_t last = *log_->LastSequence(absl::Seconds(1));
  ASSERT_TRUE(small->WaitForSequence(last, absl::Now() + absl::Seconds(30)));
  ASSERT_TRUE(healthy->WaitForSequence(last, absl::Now() + absl::Seconds(30)));
  EXPECT_TRUE(WaitWritable(*small));
  const StateDigest expected = ComputeStateDigest(*healthy);
  EXPECT_EQ(expected.articles, 130);
  EXPECT_EQ(ComputeStateDigest(*small).digest, expected.digest);
  // Its checkpoints hold no gap either: a replica that starts from them
  // reaches the same state.
  small.reset();
  auto restarted = start("small", true);
  ASSERT_TRUE(restarted != nullptr);
  ASSERT_TRUE(
      restarted->WaitForSequence(last, absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(ComputeStateDigest(*restarted).digest, expected.digest);
  restarted.reset();
  healthy.reset();
  std::filesystem::remove_all(root);
}

TEST_F(ReplicatedEngineTest, RestartsFromACheckpointToTheSameState) {
  // Three replicas with stores and checkpoints every 1,000 entries: one
  // runs throughout, one stops half-way and restarts from its newest
  // checkpoint, one starts at the end from nothing. 4,000 articles in one
  // window, past the 1,000 vectors where a shard becomes a graph.
  const std::filesystem::path root = FreshTestDir("checkpoints");
  auto start = [&](const std::string& name) {
    const std::string dir = (root / name).string();
    ReplicationOptions options = FastReplicationOptions();
    options.checkpoints = NewStoreCheckpoints(dir);
    options.checkpoint_every = 1000;
    auto replica = ReplicatedEngine::Start(
        std::make_unique<testing::SharedLog>(log_.get()), DurableBuilder(),
        options);
    EXPECT_TRUE(replica.ok()) << replica.status();
    return replica.ok() ? *std::move(replica) : nullptr;
  };
  auto live = start("live");
  auto restarted = start("restarted");
  ASSERT_TRUE(live != nullptr && restarted != nullptr);
  ASSERT_TRUE(WaitWritable(*live) && WaitWritable(*restarted));
  std::mt19937 rng(5);
  constexpr int kArticles = 4000;
  for (int i = 0; i < kArticles; ++i) {
    if (i == kArticles / 2) {
      ASSERT_TRUE(restarted->WaitForSequence(live->applied_sequence(),
                                             absl::Now() + absl::Seconds(60)));
      restarted.reset();  // stops
    }
    std::string title = absl::StrCat("Event ", i % 700, " in");
    for (int w = 0; w < 5; ++w) absl::StrAppend(&title, " w", rng() % 3000);
    ASSERT_TRUE(
        live->Assign(MakeArticle(absl::StrCat("c", i), title, "", i / 3600.0))
            .ok());
  }
  restarted = start("restarted");
  auto fresh = start("fresh");
  ASSERT_TRUE(restarted != nullptr && fresh != nullptr);
  ASSERT_TRUE(WaitWritable(*restarted) && WaitWritable(*fresh));
  // Checkpoints were taken, and the restart began from one.
  EXPECT_TRUE(
      std::filesystem::exists(root / "restarted" / "checkpoints" / "LATEST"));
  const uint64_t last = *log_->LastSequence(absl::Seconds(1));
  EXPECT_GT(last, static_cast<uint64_t>(kArticles));  // checkpoint entries
  for (ReplicatedEngine* r : {live.get(), restarted.get(), fresh.get()}) {
    ASSERT_TRUE(r->WaitForSequence(last, absl::Now() + absl::Seconds(60)));
  }
  const StateDigest expected = ComputeStateDigest(*live);
  EXPECT_EQ(expected.articles, kArticles);
  EXPECT_EQ(ComputeStateDigest(*restarted).digest, expected.digest);
  EXPECT_EQ(ComputeStateDigest(*fresh).digest, expected.digest);
  // The same change feed on each, through checkpoints and a restart: a
  // consumer that read half from one replica resumes on another.
  const std::vector<std::string> feed = FeedOf(*live);
  ASSERT_GE(feed.size(), static_cast<size_t>(kArticles));
  EXPECT_EQ(FeedOf(*restarted), feed);
  EXPECT_EQ(FeedOf(*fresh), feed);
  std::vector<std::string> switched(feed.begin(),
                                    feed.begin() + feed.size() / 2);
  // (Cursors count from 1: the first half ends at cursor size / 2.)
  const std::vector<std::string> rest = FeedOf(*restarted, feed.size() / 2);
  switched.insert(switched.end(), rest.begin(), rest.end());
  EXPECT_EQ(switched, feed);
  // Each store holds the same state, and says which entry it reflects:
  // the last article's (at most one checkpoint entry follows it).
  live.reset();
  restarted.reset();
  fresh.reset();
  for (const char* name : {"live", "restarted", "fresh"}) {
    const std::string store = ReplicaStorePath((root / name).string());
    auto check = CheckStore(store);
    ASSERT_TRUE(check.ok()) << check.status();
    EXPECT_THAT(check->problems, ::testing::IsEmpty()) << name;
    auto embedder = NewLexicalEmbedder(LexicalEmbedderOptions());
    ASSERT_TRUE(embedder.ok());
    auto reading =
        OpenRocksDbStoreForReading(store, (*embedder)->fingerprint());
    ASSERT_TRUE(reading.ok()) << reading.status();
    auto recovered = ClusteringEngine::Create(
        EngineOptions(), *std::move(embedder), *std::move(reading));
    ASSERT_TRUE(recovered.ok()) << recovered.status();
    EXPECT_EQ(ComputeStateDigest(**recovered).digest, expected.digest) << name;
    EXPECT_GE(check->log_sequence, last - 1) << name;
    EXPECT_LE(check->log_sequence, last) << name;
  }
  std::filesystem::remove_all(root);
}

// A log whose readers can be held (a replica paused, cut off), and whose
// entries before `purged_before` are gone, as JetStream purges them once a
// newer checkpoint is shared.
struct PurgeableLogState {
  std::atomic<bool> paused{false};
  std::atomic<uint64_t> purged_before{0};
  // Entries the next `skipping_readers` readers leave out (a
  // subscription that drops messages).
  std::atomic<int> skipping_readers{0};
  std::atomic<uint64_t> skipped_from{0};
  std::atomic<uint64_t> skipped_to{0};
};

class PurgeableLog final : public testing::SharedLog {
 public:
  PurgeableLog(ReplicationLog* log, std::shared_ptr<PurgeableLogState> state)
      : SharedLog(log), log_(log), state_(std::move(state)) {}
  absl::StatusOr<uint64_t> FirstSequence(absl::Duration) override {
    return std::max<uint64_t>(1, state_->purged_before.load());
  }
  absl::StatusOr<std::unique_ptr<LogReader>> Read(uint64_t first) override {
    ASSIGN_OR_RETURN(std::unique_ptr<LogReader> inner, log_->Read(first));
    const bool skips = state_->skipping_readers.fetch_sub(1) > 0;
    return std::unique_ptr<LogReader>(
        std::make_unique<Reader>(std::move(inner), state_, skips));
  }

 private:
  class Reader final : public LogReader {
   public:
    Reader(std::unique_ptr<LogReader> inner,
           std::shared_ptr<PurgeableLogState> state, bool skips)
        : inner_(std::move(inner)), state_(std::move(state)), skips_(skips) {}
    absl::StatusOr<std::optional<LogRecord>> Next(
        absl::Duration timeout) override {
      if (state_->paused.load()) {
        absl::SleepFor(timeout);
        return std::nullopt;
      }
      for (;;) {
        ASSIGN_OR_RETURN(std::optional<LogRecord> record,
                         inner_->Next(timeout));
        const bool skipped = skips_ && record.has_value() &&
                             record->sequence >= state_->skipped_from.load() &&
                             record->sequence <= state_->skipped_to.load();
        if (!record.has_value() ||
            (record->sequence >= state_->purged_before.load() && !skipped)) {
          return record;
        }
      }
    }

   private:
    std::unique_ptr<LogReader> inner_;
    std::shared_ptr<PurgeableLogState> state_;
    const bool skips_;
  };
  ReplicationLog* const log_;
  const std::shared_ptr<PurgeableLogState> state_;
};

// Checkpoints shared through a directory.
class DirectoryShelf final : public CheckpointShelf {
 public:
  explicit DirectoryShelf(std::filesystem::path root) : root_(std::move(root)) {
    std::filesystem::create_directories(root_);
  }
  absl::Status Publish(const ReplicaCheckpoints::Point& point,
                       const std::string& dir) override {
    absl::MutexLock lock(&mu_);
    if (point.sequence <= newest_.sequence) return absl::OkStatus();
    const std::filesystem::path to = root_ / absl::StrCat(point.sequence);
    std::filesystem::remove_all(to);
    std::filesystem::copy(dir, to, std::filesystem::copy_options::recursive);
    newest_ = point;
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> NewestSequence() override {
    absl::MutexLock lock(&mu_);
    if (down_) return absl::UnavailableError("shelf down");
    return newest_.sequence;
  }
  absl::StatusOr<ReplicaCheckpoints::Point> FetchNewest(
      const std::string& dir) override {
    absl::MutexLock lock(&mu_);
    if (down_) return absl::UnavailableError("shelf down");
    if (newest_.sequence == 0) return newest_;
    std::filesystem::copy(root_ / absl::StrCat(newest_.sequence), dir,
                          std::filesystem::copy_options::recursive);
    return newest_;
  }
  // Forgets every checkpoint (what a newcomer met after NATS servers had
  // been killed and come back: no index, no error).
  void Lose() {
    absl::MutexLock lock(&mu_);
    newest_ = ReplicaCheckpoints::Point();
  }
  // Reads fail while down (NATS electing leaders), publishing still works.
  void SetDown(bool down) {
    absl::MutexLock lock(&mu_);
    down_ = down;
  }

 private:
  const std::filesystem::path root_;
  absl::Mutex mu_;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  ReplicaCheckpoints::Point newest_;
};

// Issue 23.4: a replica paused for 30 s came back NOT_SERVING, the log
// purged past it, and needed a restart by hand.
TEST_F(ReplicatedEngineTest, APausedReplicaPastThePurgeCatchesUpByItself) {
  const std::filesystem::path root = FreshTestDir("purged");
  auto shelf = std::make_shared<DirectoryShelf>(root / "shelf");
  auto paused_state = std::make_shared<PurgeableLogState>();
  auto start = [&](const std::string& name,
                   std::shared_ptr<PurgeableLogState> state) {
    ReplicationOptions options = FastReplicationOptions();
    options.checkpoints = NewStoreCheckpoints((root / name).string(), shelf);
    options.checkpoint_every = 40;
    auto replica = ReplicatedEngine::Start(
        std::make_unique<PurgeableLog>(log_.get(), std::move(state)),
        DurableBuilder(), options);
    EXPECT_TRUE(replica.ok()) << replica.status();
    return replica.ok() ? *std::move(replica) : nullptr;
  };
  auto live = start("live", std::make_shared<PurgeableLogState>());
  auto paused = start("paused", paused_state);
  ASSERT_TRUE(live != nullptr && paused != nullptr);
  ASSERT_TRUE(WaitWritable(*live) && WaitWritable(*paused));
  auto assign = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      ASSERT_TRUE(live->Assign(MakeArticle(absl::StrCat("p", i),
                                           absl::StrCat("Storm ", i % 13,
                                                        " hits town ", i)))
                      .ok());
    }
  };
  assign(0, 20);
  ASSERT_TRUE(paused->WaitForSequence(live->applied_sequence(),
                                      absl::Now() + absl::Seconds(30)));
  paused_state->paused.store(true);
  assign(20, 200);
  // Checkpoints were shared; the log forgets what the newest covers.
  uint64_t shared = 0;
  for (int i = 0; i < 500 && shared < 120; ++i) {
    shared = *shelf->NewestSequence();
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_GE(shared, 120u);
  paused_state->purged_before.store(shared);
  // The shelf cannot answer when the replica first looks (an election):
  // it holds, NOT_SERVING, and looks again instead of stopping for good.
  shelf->SetDown(true);
  paused_state->paused.store(false);
  const uint64_t last = *log_->LastSequence(absl::Seconds(1));
  for (int i = 0; i < 3000 && !absl::StrContains(paused->Writable().message(),
                                                 "trying again");
       ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(paused->Writable().message(), HasSubstr("trying again"));
  EXPECT_LT(paused->applied_sequence(), shared);
  shelf->SetDown(false);

  ASSERT_TRUE(paused->WaitForSequence(last, absl::Now() + absl::Seconds(30)))
      << paused->Writable();
  ASSERT_TRUE(live->WaitForSequence(last, absl::Now() + absl::Seconds(30)));
  EXPECT_TRUE(WaitWritable(*paused));
  const StateDigest expected = ComputeStateDigest(*live);
  EXPECT_EQ(expected.articles, 200);
  EXPECT_EQ(ComputeStateDigest(*paused).digest, expected.digest);

  // Past the purge again, and the shelf has lost every checkpoint: no
  // peer would share one until the log grows, so the replica asks for one.
  paused_state->paused.store(true);
  assign(200, 300);
  for (int i = 0; i < 500 && shared < 260; ++i) {
    shared = *shelf->NewestSequence();
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_GE(shared, 260u);
  ASSERT_TRUE(live->WaitForSequence(*log_->LastSequence(absl::Seconds(1)),
                                    absl::Now() + absl::Seconds(30)));
  paused_state->purged_before.store(shared);
  shelf->Lose();
  paused_state->paused.store(false);
  ASSERT_TRUE(
      paused->WaitForSequence(shared + 1, absl::Now() + absl::Seconds(30)))
      << paused->Writable();
  EXPECT_GT(*shelf->NewestSequence(), shared);  // the asked-for one
  const uint64_t end = *log_->LastSequence(absl::Seconds(1));
  ASSERT_TRUE(paused->WaitForSequence(end, absl::Now() + absl::Seconds(30)));
  ASSERT_TRUE(live->WaitForSequence(end, absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(ComputeStateDigest(*paused).digest,
            ComputeStateDigest(*live).digest);
  EXPECT_EQ(ComputeStateDigest(*live).articles, 300);
  paused.reset();
  live.reset();
  std::filesystem::remove_all(root);
}

// A log whose server lost entry `lost` after peers had read it (nats-server
// 2.9's skipped messages, nats-server#4365): this replica's readers never
// deliver it, and the server lists the number as deleted.
class LostEntryLog final : public testing::SharedLog {
 public:
  LostEntryLog(ReplicationLog* log, uint64_t lost)
      : SharedLog(log), log_(log), lost_(lost) {}
  absl::StatusOr<bool> Holds(uint64_t sequence,
                             absl::Duration timeout) override {
    if (sequence == lost_) return false;
    return SharedLog::Holds(sequence, timeout);
  }
  absl::StatusOr<std::unique_ptr<LogReader>> Read(uint64_t first) override {
    ASSIGN_OR_RETURN(std::unique_ptr<LogReader> inner, log_->Read(first));
    return std::unique_ptr<LogReader>(
        std::make_unique<Reader>(std::move(inner), lost_));
  }

 private:
  class Reader final : public LogReader {
   public:
    Reader(std::unique_ptr<LogReader> inner, uint64_t lost)
        : inner_(std::move(inner)), lost_(lost) {}
    absl::StatusOr<std::optional<LogRecord>> Next(
        absl::Duration timeout) override {
      for (;;) {
        ASSIGN_OR_RETURN(std::optional<LogRecord> record,
                         inner_->Next(timeout));
        if (!record.has_value() || record->sequence != lost_) return record;
      }
    }

   private:
    std::unique_ptr<LogReader> inner_;
    const uint64_t lost_;
  };
  ReplicationLog* const log_;
  const uint64_t lost_;
};

// Issue 33: the failover check's newcomer, started from a shared
// checkpoint, ended one acknowledged article short of its peers: it
// stepped over an entry its log server no longer listed, which the peers
// had applied. It now starts from a peer's checkpoint past the gap.
TEST_F(ReplicatedEngineTest,
       AnEntryLostByTheLogsServerComesFromAPeersCheckpoint) {
  const std::filesystem::path root = FreshTestDir("lost-entry");
  auto shelf = std::make_shared<DirectoryShelf>(root / "shelf");
  auto start = [&](const std::string& name,
                   std::unique_ptr<ReplicationLog> log) {
    ReplicationOptions options = FastReplicationOptions();
    options.checkpoints = NewStoreCheckpoints((root / name).string(), shelf);
    auto replica =
        ReplicatedEngine::Start(std::move(log), DurableBuilder(), options);
    EXPECT_TRUE(replica.ok()) << replica.status();
    return replica.ok() ? *std::move(replica) : nullptr;
  };
  auto live = start("live", std::make_unique<testing::SharedLog>(log_.get()));
  ASSERT_TRUE(live != nullptr && WaitWritable(*live));
  uint64_t lost = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(live->Assign(MakeArticle(absl::StrCat("l", i),
                                         absl::StrCat("Harbour fire ", i)))
                    .ok());
    if (i == 4) lost = live->applied_sequence();
  }
  auto late = start("late", std::make_unique<LostEntryLog>(log_.get(), lost));
  ASSERT_TRUE(late != nullptr);
  const uint64_t end = live->applied_sequence();
  ASSERT_TRUE(late->WaitForSequence(end, absl::Now() + absl::Seconds(60)))
      << late->Writable();
  EXPECT_TRUE(late->GetArticle("l4").ok());
  const uint64_t last = *log_->LastSequence(absl::Seconds(1));
  ASSERT_TRUE(live->WaitForSequence(last, absl::Now() + absl::Seconds(30)));
  ASSERT_TRUE(late->WaitForSequence(last, absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(ComputeStateDigest(*late).digest, ComputeStateDigest(*live).digest);
  EXPECT_EQ(ComputeStateDigest(*late).articles, 10);
  late.reset();
  live.reset();
  std::filesystem::remove_all(root);
}

// Seen in the failover check: a fresh subscription delivered entries
// after a hole although the log held them (not purged). The replica reads
// them again, never moves past them, and never takes them for a purge.
TEST_F(ReplicatedEngineTest, EntriesAReaderSkippedAreReadAgain) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(log_->Append(absl::StrCat("e", i),
                             AssignEntry(MakeArticle(absl::StrCat("s", i),
                                                     absl::StrCat("Flood ", i)))
                                 .SerializeAsString(),
                             absl::Seconds(1))
                    .ok());
  }
  auto state = std::make_shared<PurgeableLogState>();
  state->skipped_from.store(4);
  state->skipped_to.store(6);
  state->skipping_readers.store(3);  // the first one and two fresh ones
  int purged = 0;
  ReplicationOptions options = FastReplicationOptions();
  options.on_purged = [&](uint64_t, const absl::Status&) { ++purged; };
  auto replica = ReplicatedEngine::Start(
      std::make_unique<PurgeableLog>(log_.get(), state),
      [](const ReplicatedEngine::LogPosition& position)
          -> absl::StatusOr<std::unique_ptr<ClusteringEngine>> {
        EngineOptions engine_options;
        engine_options.clock = position.clock;
        engine_options.log_sequence = position.log_sequence;
        return testing::MakeEngine(engine_options);
      },
      options);
  ASSERT_TRUE(replica.ok()) << replica.status();
  ASSERT_TRUE(WaitWritable(**replica)) << (*replica)->Writable();
  EXPECT_EQ((*replica)->applied_sequence(), 10u);
  EXPECT_EQ((*replica)->stats().articles, 10);
  EXPECT_EQ(purged, 0);
}

// Checkpoints whose Save waits until the test lets it go.
class HeldCheckpoints final : public ReplicaCheckpoints {
 public:
  explicit HeldCheckpoints(std::unique_ptr<ReplicaCheckpoints> inner)
      : inner_(std::move(inner)) {}
  std::string StorePath() const override { return inner_->StorePath(); }
  absl::StatusOr<Point> Restore() override { return inner_->Restore(); }
  absl::Status Save(const Point& point, const BackupFunction& backup) override {
    saving.Notify();
    release.WaitForNotification();
    return inner_->Save(point, backup);
  }
  void RemoveOldStores() override { inner_->RemoveOldStores(); }

  absl::Notification saving, release;

 private:
  std::unique_ptr<ReplicaCheckpoints> inner_;
};

TEST_F(ReplicatedEngineTest, ReadsGoOnWhileACheckpointIsTaken) {
  const std::filesystem::path root = FreshTestDir("held-checkpoint");
  auto held =
      std::make_shared<HeldCheckpoints>(NewStoreCheckpoints(root.string()));
  ReplicationOptions options = FastReplicationOptions();
  options.checkpoints = held;
  options.checkpoint_every = 10;
  auto replica =
      ReplicatedEngine::Start(std::make_unique<testing::SharedLog>(log_.get()),
                              DurableBuilder(), options);
  ASSERT_TRUE(replica.ok()) << replica.status();
  ASSERT_TRUE(WaitWritable(**replica));
  const auto fixture = LoadStoriesFixture();
  for (const Article& article : fixture.articles) {
    ASSERT_TRUE((*replica)->Assign(article).ok());
  }
  ASSERT_TRUE(held->saving.WaitForNotificationWithTimeout(absl::Seconds(30)));

  // While the checkpoint is saved, the engine answers reads.
  absl::Notification answered;
  StateDigest during;
  std::thread reader([&] {
    EXPECT_TRUE((*replica)->GetArticle(fixture.articles[0].id).ok());
    during = ComputeStateDigest(**replica);
    answered.Notify();
  });
  EXPECT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  held->release.Notify();
  reader.join();

  // Then the replica goes on with the engine rebuilt from the checkpoint,
  // in a store directory of its own: same state, the old store gone.
  const uint64_t last = *log_->LastSequence(absl::Seconds(1));
  ASSERT_TRUE(
      (*replica)->WaitForSequence(last, absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(ComputeStateDigest(**replica).digest, during.digest);
  EXPECT_EQ(during.articles, static_cast<int64_t>(fixture.articles.size()));
  std::vector<std::string> stores;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "store")) stores.push_back(name);
  }
  EXPECT_THAT(stores, ::testing::ElementsAre(::testing::StartsWith("store-")));
  EXPECT_NE(stores.front(), "store-0");
  EXPECT_TRUE((*replica)->Assign(MakeArticle("after", "Storm hits")).ok());
  replica->reset();
  std::filesystem::remove_all(root);
}

TEST_F(ReplicatedEngineTest, WithoutTheLogWritesAreRefusedAndReadsGoOn) {
  auto a = StartReplica(log_.get());
  ASSERT_TRUE(WaitWritable(*a));
  ASSERT_TRUE(a->Assign(MakeArticle("x1", "Volcano erupts in Iceland")).ok());
  log_->SetAvailable(false);
  auto refused = a->Assign(MakeArticle("x2", "Central bank raises rates"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("not acknowledged"));
  EXPECT_EQ(a->DeleteArticle("x1").code(), absl::StatusCode::kUnavailable);
  auto batch = a->AssignBatch({MakeArticle("x3", "Storm hits the coast")});
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].status().code(), absl::StatusCode::kUnavailable);
  // Nothing changed, reads go on, health says why.
  EXPECT_EQ(a->stats().articles, 1);
  EXPECT_TRUE(a->GetArticle("x1").ok());
  for (int i = 0; i < 200 && a->Writable().ok(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(a->Writable().code(), absl::StatusCode::kUnavailable);
  log_->SetAvailable(true);
  ASSERT_TRUE(WaitWritable(*a));
  EXPECT_TRUE(a->Assign(MakeArticle("x2", "Central bank raises rates")).ok());
  EXPECT_EQ(a->stats().articles, 2);
}

TEST_F(ReplicatedEngineTest, TheEnginesClockIsTheLogs) {
  // Retention of 30 hours on the log's clock: entries are an hour apart,
  // so the first article is forgotten after 31 more entries, however
  // little wall time passes.
  EngineOptions options;
  options.retention = absl::Hours(30);
  options.story_window = absl::Hours(24);
  auto a = StartReplica(log_.get(), options);
  ASSERT_TRUE(WaitWritable(*a));
  ASSERT_TRUE(
      a->Assign(MakeArticle("first", "Volcano erupts in Iceland")).ok());
  for (int i = 0; i < 32; ++i) {
    ASSERT_TRUE(
        a->Assign(MakeArticle(absl::StrCat("n", i),
                              absl::StrCat("Unrelated headline number ", i), "",
                              i + 1))
            .ok());
  }
  EXPECT_EQ(a->GetArticle("first").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(a->GetArticle("n31").ok());
}

// Issue 23.5: the applier validated entries again with the default limits,
// so with --max-article-bytes above 4 MiB every replica refused articles
// the front door had accepted.
TEST_F(ReplicatedEngineTest, EntriesAreAppliedAsTheFrontDoorAcceptedThem) {
  auto a = StartReplica(log_.get());
  ASSERT_TRUE(a != nullptr && WaitWritable(*a));
  std::string body;
  while (body.size() < (5u << 20)) absl::StrAppend(&body, "long report ");
  auto answer = a->Assign(MakeArticle("big", "Dam bursts after rain", body));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_TRUE(a->GetArticle("big").ok());
}

// Issue 23.5: editorial action numbers were clamped to the last one this
// build knew. An action from a newer release must hold the replica (it
// needs the upgrade), never be skipped or read as another action.
TEST_F(ReplicatedEngineTest, AnEditorialActionOfANewerReleaseHoldsTheReplica) {
  auto a = StartReplica(log_.get());
  ASSERT_TRUE(a != nullptr && WaitWritable(*a));
  ASSERT_TRUE(a->Assign(MakeArticle("n1", "Volcano erupts")).ok());
  replication::v1::LogEntry entry;
  entry.mutable_edit()->set_kind(
      static_cast<replication::v1::EditorialAction::Kind>(99));
  entry.mutable_edit()->set_cluster_id("story-1");
  entry.set_stamp((uint64_t{0x4E44} << 48) | (kLogFormat + 1));
  const uint64_t sequence =
      *log_->Append("newer", entry.SerializeAsString(), absl::Seconds(1));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(a->applied_sequence(), sequence - 1);
  EXPECT_EQ(a->Writable().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(a->Writable().message(), HasSubstr("upgrade"));
  // Issue 33.2: the operator's way past it is deleting the entry; a
  // replica started afterwards steps over the hole it left as well.
  ASSERT_TRUE(log_->Delete(sequence, absl::Seconds(1)).ok());
  ASSERT_TRUE(WaitWritable(*a));
  EXPECT_EQ(a->applied_sequence(), sequence);
  ASSERT_TRUE(a->Assign(MakeArticle("n2", "Volcano erupts again")).ok());
  auto b = StartReplica(log_.get());
  ASSERT_TRUE(b != nullptr && WaitWritable(*b));
  EXPECT_EQ(b->applied_sequence(), a->applied_sequence());
  EXPECT_EQ(ComputeStateDigest(*a).digest, ComputeStateDigest(*b).digest);
  // The two numbers of the log and the store are fixed: a change would
  // misread every log and store written so far.
  EXPECT_EQ(replication::v1::EditorialAction::ALLOW_MERGING, 6);
  EXPECT_EQ(storage::v1::StoredAnswer::EXACT_DUPLICATE, 3);
  EXPECT_EQ(storage::v1::StoredClusterEvent::EDITED, 3);
}

// A log whose Holds says "not held" once for `sequence` though it is: the
// answer of a server that has not caught up, around a change of leader.
class OneWrongHoldsAnswer : public testing::SharedLog {
 public:
  OneWrongHoldsAnswer(ReplicationLog* log, uint64_t sequence)
      : SharedLog(log), sequence_(sequence) {}
  absl::StatusOr<bool> Holds(uint64_t sequence,
                             absl::Duration timeout) override {
    if (sequence == sequence_ && !answered_wrong_.exchange(true)) return false;
    return SharedLog::Holds(sequence, timeout);
  }

 private:
  const uint64_t sequence_;
  std::atomic<bool> answered_wrong_{false};
};

// Issue 33 (failover check: one replica one acknowledged article short):
// a step over cannot be undone, so one "not held" answer is not enough.
TEST_F(ReplicatedEngineTest, OneWrongAnswerOfTheLogStepsOverNothing) {
  const uint64_t held = 2;  // the newer release's entry below
  auto replica =
      StartTestReplica(std::make_unique<OneWrongHoldsAnswer>(log_.get(), held),
                       EngineOptions(), FastReplicationOptions());
  ASSERT_TRUE(replica.ok()) << replica.status();
  ASSERT_TRUE(WaitWritable(**replica));
  ASSERT_TRUE((*replica)->Assign(MakeArticle("w1", "Volcano erupts")).ok());
  replication::v1::LogEntry entry = AssignEntry(MakeArticle("w2", "Later"));
  entry.set_stamp((uint64_t{0x4E44} << 48) | (kLogFormat + 1));
  ASSERT_EQ(*log_->Append("newer", entry.SerializeAsString(), absl::Seconds(1)),
            held);
  // The replica holds at the entry and asks the log about it after every
  // failed try (50 ms, then doubling): the wrong answer comes first.
  absl::SleepFor(absl::Milliseconds(600));
  EXPECT_EQ((*replica)->applied_sequence(), held - 1);
  EXPECT_EQ((*replica)->Writable().code(), absl::StatusCode::kUnavailable);
}

// A log that confirms a write at the number of another entry and stores
// the write nowhere, as JetStream 2.9 did after NATS servers were killed
// (the failover check: a replica aborted on a checkpoint request's answer,
// "An OK status is not a valid constructor argument to StatusOr<T>").
class MisplacingLog final : public testing::SharedLog {
 public:
  explicit MisplacingLog(ReplicationLog* log) : SharedLog(log) {}

  // The next write is answered with the number of `entry`, stored instead.
  void MisplaceNextWrite(const replication::v1::LogEntry& entry) {
    absl::MutexLock lock(&mu_);
    instead_ = EncodeEntry(entry);
  }

  absl::StatusOr<uint64_t> Append(absl::string_view id, absl::string_view data,
                                  absl::Duration timeout) override {
    std::optional<std::string> instead;
    {
      absl::MutexLock lock(&mu_);
      instead.swap(instead_);
    }
    if (instead.has_value()) {
      return SharedLog::Append(absl::StrCat("instead-", id), *instead, timeout);
    }
    return SharedLog::Append(id, data, timeout);
  }

 private:
  absl::Mutex mu_;
  std::optional<std::string> instead_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ReplicatedEngineTest, AWriteIsNeverAnsweredWithAnotherEntrysAnswer) {
  auto owned = std::make_unique<MisplacingLog>(log_.get());
  MisplacingLog* misplacing = owned.get();
  // A misplaced write is looked for nearby until answers time out.
  ReplicationOptions options = FastReplicationOptions();
  options.apply_timeout = absl::Milliseconds(300);
  auto replica = StartTestReplica(std::move(owned), EngineOptions(), options);
  ASSERT_TRUE(replica.ok()) << replica.status();
  ReplicatedEngine& engine = **replica;
  ASSERT_TRUE(WaitWritable(engine));
  ASSERT_TRUE(engine.Assign(MakeArticle("w1", "Volcano erupts")).ok());
  const std::string story = *engine.ClusterOfArticle("w1");

  // A checkpoint request's answer (an OK status, no assignment).
  misplacing->MisplaceNextWrite(CheckpointEntry(7));
  EXPECT_EQ(
      engine.Assign(MakeArticle("w2", "Dam bursts after rain")).status().code(),
      absl::StatusCode::kUnavailable);
  // Another article's assignment.
  misplacing->MisplaceNextWrite(
      AssignEntry(MakeArticle("w3", "Storm hits coast")));
  EXPECT_EQ(
      engine.Assign(MakeArticle("w4", "Quake shakes city")).status().code(),
      absl::StatusCode::kUnavailable);
  // An editorial action confirmed at an article's number.
  misplacing->MisplaceNextWrite(
      AssignEntry(MakeArticle("w5", "Flood warning issued")));
  const EditorialAction pin = PinAction(story, "w1");
  EXPECT_EQ(engine.Edit(pin).status().code(), absl::StatusCode::kUnavailable);

  // The misplaced writes were not applied; resent, they go in.
  EXPECT_FALSE(engine.GetArticle("w2").ok());
  EXPECT_TRUE(engine.GetArticle("w3").ok());
  auto resent = engine.Assign(MakeArticle("w2", "Dam bursts after rain"));
  ASSERT_TRUE(resent.ok()) << resent.status();
  EXPECT_EQ(resent->article_id, "w2");
  auto pinned = engine.Edit(pin);
  EXPECT_TRUE(pinned.ok()) << pinned.status();
}

// The log as a NATS server that stored entry `copied` twice numbers it:
// everything after it one higher (nats-server 2.9.10's followers after
// kill -9, the same last message as their leader's under a higher number).
class CopiedEntryLog final : public testing::SharedLog {
 public:
  CopiedEntryLog(ReplicationLog* log, uint64_t copied)
      : SharedLog(log), copied_(copied) {}

  absl::StatusOr<uint64_t> LastSequence(absl::Duration timeout) override {
    ASSIGN_OR_RETURN(const uint64_t last, SharedLog::LastSequence(timeout));
    return last >= copied_ ? last + 1 : last;
  }

  absl::StatusOr<std::unique_ptr<LogReader>> Read(uint64_t first) override {
    const uint64_t from =
        first <= copied_ + 1 ? std::min(first, copied_) : first - 1;
    ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader, SharedLog::Read(from));
    return std::make_unique<Reader>(std::move(reader), copied_, first);
  }

 private:
  class Reader final : public LogReader {
   public:
    Reader(std::unique_ptr<LogReader> reader, uint64_t copied, uint64_t first)
        : reader_(std::move(reader)), copied_(copied), first_(first) {}

    absl::StatusOr<std::optional<LogRecord>> Next(
        absl::Duration timeout) override {
      if (copy_.has_value()) return *std::exchange(copy_, std::nullopt);
      ASSIGN_OR_RETURN(std::optional<LogRecord> record, reader_->Next(timeout));
      if (!record.has_value()) return record;
      if (record->sequence > copied_) ++record->sequence;
      if (record->sequence != copied_) return record;
      LogRecord copy = *record;
      copy.sequence = copied_ + 1;
      if (first_ > copied_) return copy;  // it starts at the copy
      copy_ = copy;
      return record;
    }

   private:
    const std::unique_ptr<LogReader> reader_;
    const uint64_t copied_;
    const uint64_t first_;
    std::optional<LogRecord> copy_;
  };

  const uint64_t copied_;
};

// The log as a NATS server that stamped each entry a nanosecond later
// than the others did: the entries cannot be told apart by time.
class RestampedLog final : public testing::SharedLog {
 public:
  explicit RestampedLog(ReplicationLog* log) : SharedLog(log) {}

  absl::StatusOr<std::unique_ptr<LogReader>> Read(uint64_t first) override {
    ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader, SharedLog::Read(first));
    return std::make_unique<Reader>(std::move(reader));
  }

 private:
  class Reader final : public LogReader {
   public:
    explicit Reader(std::unique_ptr<LogReader> reader)
        : reader_(std::move(reader)) {}

    absl::StatusOr<std::optional<LogRecord>> Next(
        absl::Duration timeout) override {
      ASSIGN_OR_RETURN(std::optional<LogRecord> record, reader_->Next(timeout));
      if (record.has_value()) record->time += absl::Nanoseconds(1);
      return record;
    }

   private:
    const std::unique_ptr<LogReader> reader_;
  };
};

// A replica that checkpointed while reading through a server that held
// entry 3 twice restarts reading `restart_view` (the log as its leader
// numbers it). It must read on after the checkpoint's entry, not after
// its number: it skipped an article before (the failover check's seeded
// replica, one acknowledged article short).
class RenumberedLogTest : public ReplicatedEngineTest {
 protected:
  void RestartThrough(std::unique_ptr<ReplicationLog> restart_view) {
    const std::filesystem::path root = FreshTestDir("renumbered");
    auto start = [&](std::unique_ptr<ReplicationLog> view) {
      ReplicationOptions options = FastReplicationOptions();
      options.checkpoints = NewStoreCheckpoints(root.string());
      options.checkpoint_every = 10;
      auto replica =
          ReplicatedEngine::Start(std::move(view), DurableBuilder(), options);
      EXPECT_TRUE(replica.ok()) << replica.status();
      return replica.ok() ? *std::move(replica) : nullptr;
    };
    auto live = StartReplica(log_.get());
    auto copying = start(std::make_unique<CopiedEntryLog>(log_.get(), 3));
    ASSERT_TRUE(live != nullptr && copying != nullptr);
    ASSERT_TRUE(WaitWritable(*live) && WaitWritable(*copying));
    int articles = 0;
    auto assign = [&] {
      const int i = articles++;
      ASSERT_TRUE(live->Assign(MakeArticle(absl::StrCat("r", i),
                                           absl::StrCat("Event ", i, " w",
                                                        i * 7, " v", i * 13)))
                      .ok());
    };
    for (int i = 0; i < 15; ++i) assign();
    // Its checkpoint, at its own number for the checkpoint entry.
    const std::filesystem::path latest = root / "checkpoints" / "LATEST";
    for (int i = 0; i < 500 && !std::filesystem::exists(latest); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_TRUE(std::filesystem::exists(latest));
    for (int i = 0; i < 5; ++i) assign();
    ASSERT_TRUE(
        copying->WaitForSequence(*log_->LastSequence(absl::Seconds(1)) + 1,
                                 absl::Now() + absl::Seconds(10)));
    copying.reset();

    auto restarted = start(std::move(restart_view));
    ASSERT_TRUE(restarted != nullptr && WaitWritable(*restarted));
    const uint64_t last = *log_->LastSequence(absl::Seconds(1));
    ASSERT_TRUE(live->WaitForSequence(last, absl::Now() + absl::Seconds(10)));
    ASSERT_TRUE(
        restarted->WaitForSequence(last, absl::Now() + absl::Seconds(10)));
    const StateDigest expected = ComputeStateDigest(*live);
    EXPECT_EQ(expected.articles, articles);
    EXPECT_EQ(ComputeStateDigest(*restarted).articles, articles);
    EXPECT_EQ(ComputeStateDigest(*restarted).digest, expected.digest);
    EXPECT_EQ(restarted->applied_sequence(), last);
    restarted.reset();
    std::filesystem::remove_all(root);
  }
};

TEST_F(RenumberedLogTest, AReplicaReadsOnAfterItsEntryWhereverALogNumbersIt) {
  RestartThrough(std::make_unique<testing::SharedLog>(log_.get()));
}

// When its entry cannot be found by time, the replica applies the entries
// before it again (resends, refused edits) rather than step over one.
TEST_F(RenumberedLogTest, WithoutItsEntryAReplicaAppliesTheOnesBeforeAgain) {
  RestartThrough(std::make_unique<RestampedLog>(log_.get()));
}

// Writes through a replica that reads a server numbering the log one
// higher than the one that confirms them get their own answers.
TEST_F(ReplicatedEngineTest,
       WritesAreAnsweredThroughAServerThatNumbersOtherwise) {
  auto replica =
      StartTestReplica(std::make_unique<CopiedEntryLog>(log_.get(), 3),
                       EngineOptions(), FastReplicationOptions());
  ASSERT_TRUE(replica.ok()) << replica.status();
  ASSERT_TRUE(WaitWritable(**replica));
  for (int i = 0; i < 8; ++i) {
    const std::string id = absl::StrCat("n", i);
    auto assigned = (*replica)->Assign(
        MakeArticle(id, absl::StrCat("Event ", i, " w", i * 7, " v", i * 13)));
    ASSERT_TRUE(assigned.ok()) << id << ": " << assigned.status();
    EXPECT_EQ(assigned->article_id, id);
  }
}

// Issue 33.2: an empty message, one holding only a field nobody knows, and
// entries stamped by a foreign writer or with an action number their own
// format does not have were taken for a newer release's and held every
// replica for good. They are malformed: refused alike, the replicas go on.
TEST_F(ReplicatedEngineTest, StrayMessagesAreRefusedAndNeverHold) {
  std::vector<uint64_t> rejected;
  ReplicationOptions options = FastReplicationOptions();
  options.on_rejected = [&](uint64_t sequence, const absl::Status&) {
    rejected.push_back(sequence);
  };
  auto a = StartTestReplica(log_.get(), EngineOptions(), options);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(WaitWritable(**a));
  ASSERT_TRUE((*a)->Assign(MakeArticle("s1", "Volcano erupts")).ok());
  replication::v1::LogEntry unknown_action;
  unknown_action.mutable_edit()->set_kind(
      static_cast<replication::v1::EditorialAction::Kind>(99));
  replication::v1::LogEntry foreign = AssignEntry(MakeArticle("f", "Forged"));
  foreign.set_stamp(0x1234);
  const std::vector<std::string> strays = {
      "",
      std::string("\x98\x06\x01", 3),      // field 99 = 1: unknown to us
      EncodeEntry(unknown_action),         // this format has no action 99
      unknown_action.SerializeAsString(),  // nor had any format before it
      foreign.SerializeAsString(),
      EncodeEntry(replication::v1::LogEntry()),
  };
  std::vector<uint64_t> sequences;
  for (size_t i = 0; i < strays.size(); ++i) {
    sequences.push_back(
        *log_->Append(absl::StrCat("stray", i), strays[i], absl::Seconds(1)));
  }
  ASSERT_TRUE((*a)->Assign(MakeArticle("s2", "Dam bursts after rain")).ok());
  EXPECT_TRUE((*a)->Writable().ok());
  EXPECT_EQ(rejected, sequences);
  EXPECT_FALSE((*a)->GetArticle("f").ok());
  auto b = StartReplica(log_.get());
  ASSERT_TRUE(b != nullptr && WaitWritable(*b));
  EXPECT_EQ(ComputeStateDigest(**a).digest, ComputeStateDigest(*b).digest);
  // Entries of releases before the stamp still replay.
  ASSERT_TRUE(
      log_->Append(
              "old",
              AssignEntry(MakeArticle("o", "Old entry")).SerializeAsString(),
              absl::Seconds(1))
          .ok());
  ASSERT_TRUE((*a)->Assign(MakeArticle("s3", "Storm hits coast")).ok());
  EXPECT_TRUE((*a)->GetArticle("o").ok());
}

TEST_F(ReplicatedEngineTest, BadEntriesAreRefusedAlikeEverywhere) {
  std::vector<uint64_t> rejected;
  ReplicationOptions options = FastReplicationOptions();
  options.on_rejected = [&](uint64_t sequence, const absl::Status&) {
    rejected.push_back(sequence);
  };
  ASSERT_TRUE(
      log_->Append("junk", "\xff\xff not a log entry", absl::Seconds(1)).ok());
  auto a = StartTestReplica(log_.get(), EngineOptions(), options);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(WaitWritable(**a));
  EXPECT_EQ(rejected, std::vector<uint64_t>{1});
  EXPECT_EQ((*a)->stats().articles, 0);
  EXPECT_TRUE((*a)->Assign(MakeArticle("ok", "Volcano erupts")).ok());
}

}  // namespace
}  // namespace newsdedup
