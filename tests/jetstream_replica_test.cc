// Replicas on a real NATS JetStream server (a nats-server child process on
// a free loopback port, stopped by pid): what anyone who can publish on the
// stream's subjects can do to them, and the operator's way out.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "newsdedup/replication/v1/log.pb.h"
#include "services/engine/state_digest.h"
#include "services/replica/log_entries.h"
#include "services/replica/replica_checkpoints.h"
#include "services/replica/replicated_engine.h"
#include "services/replication/jetstream_log.h"
#include "services/server/jetstream_feed.h"
#include "tests/support/replica_support.h"
#include "tests/support/server_process.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;
using testing::MakeArticle;

// A port nothing listens on now (the kernel's choice for port 0).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

bool Listening(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool ok =
      connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return ok;
}

bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 1500; ++i) {  // 30 s
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return done();
}

// Runs `use` with the JetStream context of a plain client (no user) of
// the NATS server at `port`, as any process on the network could open.
void AsPlainClient(int port, const std::function<void(jsCtx*)>& use) {
  natsConnection* conn = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(
                &conn, absl::StrCat("nats://127.0.0.1:", port).c_str()),
            NATS_OK);
  jsCtx* js = nullptr;
  ASSERT_EQ(natsConnection_JetStream(&js, conn, nullptr), NATS_OK);
  use(js);
  jsCtx_Destroy(js);
  natsConnection_Destroy(conn);
}

constexpr char kReplicaPassword[] = "replica-password-for-tests";
constexpr char kAppPassword[] = "app-password-for-tests";

class JetStreamReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override { StartNats(/*authorization=*/false); }

  // With `authorization`, the shipped deploy/nats/authorization.conf
  // (passwords kReplicaPassword and kAppPassword), replicas connecting as
  // its user `newsdedup` to the default stream.
  void StartNats(bool authorization) {
    dir_ = testing::FreshTempDir("jetstream");
    port_ = FreePort();
    ASSERT_GT(port_, 0);
    const std::string port = absl::StrCat(port_);
    const std::string store = (dir_ / "nats").string();
    const std::string config =
        absl::StrCat(NEWSDEDUP_SOURCE_DIR, "/deploy/nats/authorization.conf");
    nats_pid_ = fork();
    ASSERT_GE(nats_pid_, 0);
    if (nats_pid_ == 0) {
      freopen((dir_ / "nats.log").c_str(), "w", stderr);
      if (authorization) {
        setenv("NEWSDEDUP_NATS_PASSWORD", kReplicaPassword, 1);
        setenv("APP_NATS_PASSWORD", kAppPassword, 1);
        execlp("nats-server", "nats-server", "-c", config.c_str(), "-a",
               "127.0.0.1", "-p", port.c_str(), "-js", "-sd", store.c_str(),
               nullptr);
      } else {
        execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p",
               port.c_str(), "-js", "-sd", store.c_str(), nullptr);
      }
      _exit(127);
    }
    ASSERT_TRUE(Eventually([this] { return Listening(port_); }))
        << testing::ReadFile((dir_ / "nats.log").string());
    options_.servers = {absl::StrCat(
        "nats://",
        authorization ? absl::StrCat("newsdedup:", kReplicaPassword, "@") : "",
        "127.0.0.1:", port_)};
    options_.stream = authorization ? "newsdedup" : "jstest";
    options_.replicas = 1;
    options_.connect_timeout = absl::Seconds(20);
  }

  void TearDown() override {
    replicas_.clear();
    logs_.clear();
    if (nats_pid_ > 0) {
      kill(nats_pid_, SIGTERM);
      int status = 0;
      waitpid(nats_pid_, &status, 0);
    }
  }

  // A log handle of its own: as another process would have.
  ReplicationLog* OpenLog() {
    auto log = OpenJetStreamLog(options_);
    EXPECT_TRUE(log.ok()) << log.status();
    if (!log.ok()) return nullptr;
    logs_.push_back(*std::move(log));
    return logs_.back().get();
  }

  ReplicatedEngine* StartReplica() {
    ReplicationLog* log = OpenLog();
    if (log == nullptr) return nullptr;
    auto replica = testing::StartTestReplica(log, EngineOptions(),
                                             testing::FastReplicationOptions());
    EXPECT_TRUE(replica.ok()) << replica.status();
    if (!replica.ok()) return nullptr;
    replicas_.push_back(*std::move(replica));
    ReplicatedEngine* started = replicas_.back().get();
    EXPECT_TRUE(Eventually([started] { return started->Writable().ok(); }))
        << started->Writable();
    return started;
  }

  // Both replicas applied everything the log holds and hold one state.
  void ExpectSameState(ReplicatedEngine* a, ReplicatedEngine* b) {
    ASSERT_TRUE(Eventually([&] {
      return a->Writable().ok() && b->Writable().ok() &&
             a->applied_sequence() == b->applied_sequence();
    })) << a->Writable()
        << " / " << b->Writable();
    EXPECT_EQ(ComputeStateDigest(*a).digest, ComputeStateDigest(*b).digest);
  }

  std::filesystem::path dir_;
  int port_ = 0;
  pid_t nats_pid_ = -1;
  JetStreamLogOptions options_;
  std::vector<std::unique_ptr<ReplicationLog>> logs_;
  std::vector<std::unique_ptr<ReplicatedEngine>> replicas_;
};

// Issue 33.2: one stray publish (empty, an unknown field only, random
// bytes) held every replica for good. Every replica refuses it alike and
// goes on serving.
TEST_F(JetStreamReplicaTest, StrayPublishesAreRefusedAlikeByEveryReplica) {
  ReplicatedEngine* a = StartReplica();
  ReplicatedEngine* b = StartReplica();
  ASSERT_TRUE(a != nullptr && b != nullptr);
  ASSERT_TRUE(a->Assign(MakeArticle("j1", "Volcano erupts near town")).ok());
  ReplicationLog* stranger = OpenLog();
  ASSERT_NE(stranger, nullptr);
  std::mt19937 random(33);
  std::string noise(64, '\0');
  for (char& c : noise) c = static_cast<char>(random());
  const std::vector<std::string> strays = {"", std::string("\x98\x06\x01", 3),
                                           noise};
  for (size_t i = 0; i < strays.size(); ++i) {
    ASSERT_TRUE(
        stranger->Append(absl::StrCat("stray-", i), strays[i], absl::Seconds(5))
            .ok());
  }
  auto answer = b->Assign(MakeArticle("j2", "Dam bursts after heavy rain"));
  ASSERT_TRUE(answer.ok()) << answer.status();
  ExpectSameState(a, b);
  EXPECT_EQ(ComputeStateDigest(*a).articles, 2);
}

// The change feed of every event, as a JetStream stream holds it: the
// cursor of each message in stream order (0 where one has none).
std::vector<uint64_t> CursorsIn(jsCtx* js, const std::string& stream) {
  std::vector<uint64_t> cursors;
  jsStreamInfo* info = nullptr;
  if (js_GetStreamInfo(&info, js, stream.c_str(), nullptr, nullptr) !=
      NATS_OK) {
    return cursors;
  }
  const uint64_t messages = info->State.Msgs;
  jsStreamInfo_Destroy(info);
  for (uint64_t seq = 1; seq <= messages; ++seq) {
    natsMsg* m = nullptr;
    uint64_t cursor = 0;
    if (js_GetMsg(&m, js, stream.c_str(), seq, nullptr, nullptr) == NATS_OK) {
      const char* header = nullptr;
      if (natsMsgHeader_Get(m, "Newsdedup-Cursor", &header) != NATS_OK ||
          !absl::SimpleAtoi(header, &cursor)) {
        cursor = 0;
      }
      natsMsg_Destroy(m);
    }
    cursors.push_back(cursor);
  }
  return cursors;
}

// Issue 36: every replica may publish the change feed to one stream; it
// holds each cursor once, in order, whichever replica stored it, also when
// one publisher starts late and when writes go through either replica.
TEST_F(JetStreamReplicaTest, ReplicasPublishTheFeedToOneStreamOnce) {
  ReplicatedEngine* a = StartReplica();
  ReplicatedEngine* b = StartReplica();
  ASSERT_TRUE(a != nullptr && b != nullptr);
  for (const Article& article : testing::LoadStoriesFixture().articles) {
    ASSERT_TRUE(a->Assign(article).ok());
  }
  ExpectSameState(a, b);
  JetStreamFeedOptions feed;
  feed.nats.servers = options_.servers;
  feed.nats.connect_timeout = absl::Seconds(20);
  feed.stream = "feed";
  auto from_a = JetStreamFeed::Start(feed, a);
  ASSERT_TRUE(from_a.ok()) << from_a.status();
  auto expect_every_cursor_once = [&](uint64_t newest) {
    AsPlainClient(port_, [&](jsCtx* js) {
      std::vector<uint64_t> cursors;
      ASSERT_TRUE(Eventually([&] {
        cursors = CursorsIn(js, "feed");
        return cursors.size() >= newest;
      }));
      absl::SleepFor(absl::Milliseconds(300));  // nothing more comes
      cursors = CursorsIn(js, "feed");
      ASSERT_EQ(cursors.size(), newest);
      for (size_t i = 0; i < cursors.size(); ++i) {
        EXPECT_EQ(cursors[i], i + 1) << "once each, in order";
      }
    });
  };
  expect_every_cursor_once(a->FeedCursor());
  // A second replica's publisher joins late; writes go through both.
  auto from_b = JetStreamFeed::Start(feed, b);
  ASSERT_TRUE(from_b.ok()) << from_b.status();
  for (int i = 0; i < 20; ++i) {
    ReplicatedEngine* via = i % 2 == 0 ? a : b;
    ASSERT_TRUE(via->Assign(MakeArticle(absl::StrCat("late", i),
                                        absl::StrCat("Storm ", i, " floods ",
                                                     "coastal town ", i * 7)))
                    .ok());
  }
  ExpectSameState(a, b);
  ASSERT_EQ(a->FeedCursor(), b->FeedCursor());
  expect_every_cursor_once(a->FeedCursor());
  (*from_a)->Stop();
  (*from_b)->Stop();
}

// Issue 33.2: an entry stamped by a newer release holds every replica;
// `newsdedup admin delete-log-entry` (the documented way) deletes it, and
// every replica steps over the hole alike, a newcomer too.
TEST_F(JetStreamReplicaTest, ADeletedEntryIsSteppedOverByEveryReplica) {
  ReplicatedEngine* a = StartReplica();
  ReplicatedEngine* b = StartReplica();
  ASSERT_TRUE(a != nullptr && b != nullptr);
  ASSERT_TRUE(a->Assign(MakeArticle("k1", "Volcano erupts near town")).ok());
  replication::v1::LogEntry newer;
  newer.set_checkpoint(1);
  newer.set_stamp((uint64_t{0x4E44} << 48) | (kLogFormat + 1));
  auto sequence =
      OpenLog()->Append("newer", newer.SerializeAsString(), absl::Seconds(5));
  ASSERT_TRUE(sequence.ok()) << sequence.status();
  ASSERT_TRUE(
      Eventually([&] { return !a->Writable().ok() && !b->Writable().ok(); }));
  EXPECT_THAT(a->Writable().message(), HasSubstr("upgrade"));
  std::string output;
  ASSERT_EQ(testing::RunCommand(
                absl::StrCat(NEWSDEDUP_CLI_PATH,
                             " admin delete-log-entry --replication-url "
                             "nats://127.0.0.1:",
                             port_, " --replication-stream jstest --sequence ",
                             *sequence),
                (dir_ / "admin.out").string(), &output),
            0)
      << output;
  EXPECT_THAT(output, HasSubstr(absl::StrCat("deleted entry ", *sequence)));
  ExpectSameState(a, b);
  EXPECT_EQ(a->applied_sequence(), *sequence);
  ASSERT_TRUE(b->Assign(MakeArticle("k2", "Dam bursts after rain")).ok());
  ReplicatedEngine* late = StartReplica();
  ASSERT_NE(late, nullptr);
  ExpectSameState(a, late);
  ExpectSameState(b, late);
  // Deleting it twice says there is nothing to delete.
  EXPECT_NE(testing::RunCommand(
                absl::StrCat(NEWSDEDUP_CLI_PATH,
                             " admin delete-log-entry --replication-url "
                             "nats://127.0.0.1:",
                             port_, " --replication-stream jstest --sequence ",
                             *sequence),
                (dir_ / "admin.out").string(), &output),
            0);
}

// Replicas step over a number only where the stream lists it deleted. A
// number past the stream's end (as a server that has not caught up sees
// an entry) or a stream that is not found is no answer: "no message" was
// taken for "deleted", and one replica that stepped over a held entry lost
// its change (the failover check saw two state digests, one acknowledged
// article missing).
TEST_F(JetStreamReplicaTest, OnlyNumbersTheStreamListsDeletedAreSteppedOver) {
  ReplicationLog* log = OpenLog();
  ASSERT_NE(log, nullptr);
  for (const char* id : {"h1", "h2", "h3"}) {
    ASSERT_TRUE(log->Append(id, id, absl::Seconds(5)).ok());
  }
  ASSERT_TRUE(log->Delete(2, absl::Seconds(5)).ok());
  EXPECT_TRUE(*log->Holds(1, absl::Seconds(5)));
  EXPECT_FALSE(*log->Holds(2, absl::Seconds(5)));
  EXPECT_TRUE(*log->Holds(3, absl::Seconds(5)));
  EXPECT_FALSE(log->Holds(4, absl::Seconds(5)).ok());  // not written yet
  // The stream gone: the log cannot say, for any number.
  AsPlainClient(port_, [](jsCtx* js) {
    EXPECT_EQ(js_DeleteStream(js, "jstest", nullptr, nullptr), NATS_OK);
  });
  for (uint64_t sequence : {1, 2, 3}) {
    EXPECT_FALSE(log->Holds(sequence, absl::Seconds(5)).ok()) << sequence;
  }
}

// Publishes `data` on `subject` with `headers` through JetStream, as any
// client with publish rights could.
void PublishRaw(
    int port, const std::string& subject, const std::string& data,
    const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  AsPlainClient(port, [&](jsCtx* js) {
    natsMsg* msg = nullptr;
    ASSERT_EQ(natsMsg_Create(&msg, subject.c_str(), nullptr, data.data(),
                             static_cast<int>(data.size())),
              NATS_OK);
    for (const auto& [key, value] : headers) {
      natsMsgHeader_Set(msg, key.c_str(), value.c_str());
    }
    jsPubAck* ack = nullptr;
    EXPECT_EQ(js_PublishMsg(&ack, js, msg, nullptr, nullptr), NATS_OK);
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(msg);
  });
}

// Issue 33.3: a chunk whose Path was absolute was written at that path,
// outside the data directory, and a forged index with a high sequence
// stopped every later checkpoint. Both are refused (and logged); the
// replica replays the log instead, and checkpoints go on.
TEST_F(JetStreamReplicaTest, ForgedCheckpointsAreRefused) {
  ReplicatedEngine* a = StartReplica();
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->Assign(MakeArticle("c1", "Volcano erupts near town")).ok());
  ASSERT_TRUE(a->Assign(MakeArticle("c2", "Dam bursts after rain")).ok());
  auto shelf = OpenJetStreamShelf(options_);
  ASSERT_TRUE(shelf.ok()) << shelf.status();
  std::shared_ptr<CheckpointShelf> shared = *std::move(shelf);
  const std::filesystem::path outside = dir_ / "outside" / "written";
  const std::string chunks = "jstest.checkpoints.2_00000000000000ab.data";
  PublishRaw(port_, chunks, "forged",
             {{"Path", outside.string()}, {"Offset", "0"}});
  PublishRaw(port_, "jstest.checkpoints.index",
             absl::StrCat("2 0 1 6 ", chunks));
  auto newest = shared->NewestSequence();
  ASSERT_TRUE(newest.ok());
  EXPECT_EQ(*newest, 2u);  // a plausible index: read, then its chunk refused
  auto checkpoints = NewStoreCheckpoints((dir_ / "replica").string(), shared);
  auto restored = checkpoints->Restore();
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->sequence, 0u);  // replays the log instead
  EXPECT_FALSE(std::filesystem::exists(outside));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "outside"));
  int attempt = 0;
  for (const char* path : {"../../escape", "a/../../escape", ""}) {
    const std::string subject =
        absl::StrCat("jstest.checkpoints.2_", ++attempt, ".data");
    PublishRaw(port_, subject, "forged", {{"Path", path}, {"Offset", "0"}});
    PublishRaw(port_, "jstest.checkpoints.index",
               absl::StrCat("2 0 1 6 ", subject));
    restored = checkpoints->Restore();
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_EQ(restored->sequence, 0u) << path;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "escape"));
  // An index of an entry the log does not have is not taken for the
  // newest checkpoint: it would stop every later one.
  PublishRaw(port_, "jstest.checkpoints.index",
             absl::StrCat("999999 0 1 6 ", chunks));
  newest = shared->NewestSequence();
  ASSERT_TRUE(newest.ok()) << newest.status();
  EXPECT_EQ(*newest, 0u);
  // A real checkpoint is still published, and becomes the newest.
  const std::filesystem::path files = dir_ / "real-checkpoint";
  std::filesystem::create_directories(files);
  std::ofstream(files / "f") << "checkpoint";
  ASSERT_TRUE(shared->Publish({2, absl::Now()}, files.string()).ok());
  newest = shared->NewestSequence();
  ASSERT_TRUE(newest.ok());
  EXPECT_EQ(*newest, 2u);
}

// Issue 37: Ctrl-C of scripts/replicated.sh stops the NATS servers and the
// replicas together, and each replica took 15 s to stop (killed then): its
// reader's unsubscribe asked the gone server to delete the consumer and
// waited out the request's timeout (the connect timeout, 20 s here).
TEST_F(JetStreamReplicaTest, AReplicaStopsAtOnceWhenItsNatsServerIsGone) {
  ReplicatedEngine* a = StartReplica();
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->Assign(MakeArticle("s1", "Volcano erupts near town")).ok());
  kill(nats_pid_, SIGTERM);
  int status = 0;
  waitpid(nats_pid_, &status, 0);
  nats_pid_ = -1;
  ASSERT_TRUE(Eventually([a] { return !a->Writable().ok(); }));
  const absl::Time start = absl::Now();
  replicas_.clear();
  logs_.clear();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

class JetStreamAuthorizationTest : public JetStreamReplicaTest {
 protected:
  void SetUp() override { StartNats(/*authorization=*/true); }
};

// Issue 33.3: anyone who could reach NATS could publish on the log. With
// the shipped permissions (deploy/nats/authorization.conf) the replicas
// write as before, and another client can neither publish on the stream's
// subjects nor delete its messages through the JetStream API.
TEST_F(JetStreamAuthorizationTest, OnlyReplicasMayPublishOnTheStream) {
  ReplicatedEngine* a = StartReplica();
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->Assign(MakeArticle("p1", "Volcano erupts near town")).ok());
  ReplicationLog* log = OpenLog();
  ASSERT_NE(log, nullptr);
  const uint64_t before = *log->LastSequence(absl::Seconds(5));

  natsConnection* conn = nullptr;
  ASSERT_EQ(
      natsConnection_ConnectTo(
          &conn, absl::StrCat("nats://app:", kAppPassword, "@127.0.0.1:", port_)
                     .c_str()),
      NATS_OK);
  jsCtx* js = nullptr;
  ASSERT_EQ(natsConnection_JetStream(&js, conn, nullptr), NATS_OK);
  jsPubOptions pub;
  jsPubOptions_Init(&pub);
  pub.MaxWait = 1000;
  jsPubAck* ack = nullptr;
  EXPECT_NE(js_Publish(&ack, js, "newsdedup.log", "", 0, &pub, nullptr),
            NATS_OK);
  jsPubAck_Destroy(ack);
  // A plain publish is dropped by the server (an asynchronous error).
  natsConnection_PublishString(conn, "newsdedup.log", "stray");
  natsConnection_PublishString(conn, "newsdedup.checkpoints.index",
                               "999999 0 1 6 newsdedup.checkpoints.1_x.data");
  natsConnection_Flush(conn);
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = 1000;
  EXPECT_NE(js_DeleteMsg(js, "newsdedup", before, &o, nullptr), NATS_OK);
  jsCtx_Destroy(js);
  natsConnection_Destroy(conn);
  // Nobody connects without a user.
  conn = nullptr;
  EXPECT_NE(natsConnection_ConnectTo(
                &conn, absl::StrCat("nats://127.0.0.1:", port_).c_str()),
            NATS_OK);
  natsConnection_Destroy(conn);

  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(*log->LastSequence(absl::Seconds(5)), before);
  EXPECT_TRUE(*log->Holds(before, absl::Seconds(5)));
  ASSERT_TRUE(a->Assign(MakeArticle("p2", "Dam bursts after rain")).ok());
  EXPECT_EQ(*log->LastSequence(absl::Seconds(5)), before + 1);
}

}  // namespace
}  // namespace newsdedup

namespace newsdedup {
namespace {

// The ingest stream's durable consumer, as the server left it.
struct ConsumerState {
  uint64_t delivered = 0;   // stream sequence of the last delivered
  int64_t ack_pending = 0;  // delivered, not acknowledged
  uint64_t pending = 0;     // not delivered yet
};

ConsumerState ConsumerOf(jsCtx* js) {
  ConsumerState state;
  jsConsumerInfo* info = nullptr;
  if (js_GetConsumerInfo(&info, js, "ingest", "newsdedup-ingest", nullptr,
                         nullptr) == NATS_OK) {
    state.delivered = info->Delivered.Stream;
    state.ack_pending = info->NumAckPending;
    state.pending = info->NumPending;
    jsConsumerInfo_Destroy(info);
  }
  return state;
}

// Issue 36.4: `serve --ingest-stream` consumes articles from JetStream.
// Killed (-9) mid-stream and restarted, it has assigned every article
// exactly once; each malformed message is in the dead-letter stream with
// its error, and none is redelivered for ever.
TEST_F(JetStreamReplicaTest, IngestAssignsEachArticleOnceAcrossAKill) {
  const std::string data = (dir_ / "ingest-data").string();
  const std::string log = (dir_ / "ingest-server.log").string();
  const std::string args =
      absl::StrCat("--data-dir ", data, " --ingest-stream ingest --ingest-url ",
                   options_.servers[0], " --ingest-connect-timeout-seconds 20",
                   " --feed-stream feed");
  auto server = std::make_unique<testing::ServerProcess>();
  ASSERT_TRUE(server->Start(NEWSDEDUP_CLI_PATH, args, log))
      << testing::ReadFile(log);
  constexpr int kArticles = 600;
  // Answers are published (at least once) as articles are assigned.
  natsConnection* listener = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&listener, options_.servers[0].c_str()),
            NATS_OK);
  natsSubscription* answers = nullptr;
  ASSERT_EQ(natsConnection_SubscribeSync(&answers, listener, "ingest.answers"),
            NATS_OK);
  const std::vector<std::string> malformed = {
      "not json", R"({"title": "An article without an id"})",
      R"({"id": "empty", "title": "   "})"};
  AsPlainClient(port_, [&](jsCtx* js) {
    // The server creates its streams once it serves.
    ASSERT_TRUE(Eventually([js] {
      jsStreamInfo* info = nullptr;
      const bool found = js_GetStreamInfo(&info, js, "ingest_dead_letter",
                                          nullptr, nullptr) == NATS_OK;
      jsStreamInfo_Destroy(info);
      return found;
    })) << testing::ReadFile(log);
    std::mt19937 random(36);
    auto publish = [&](int i) {
      std::string title = absl::StrCat("Event ", i % 150, " in");
      for (int w = 0; w < 5; ++w)
        absl::StrAppend(&title, " w", random() % 2000);
      const std::string json =
          absl::StrCat(R"({"id": "i)", i, R"(", "title": ")", title, R"("})");
      ASSERT_EQ(js_Publish(nullptr, js, "ingest.articles", json.data(),
                           static_cast<int>(json.size()), nullptr, nullptr),
                NATS_OK);
      if (i % 200 == 100) {
        const std::string& bad = malformed[i / 200];
        ASSERT_EQ(js_Publish(nullptr, js, "ingest.articles", bad.data(),
                             static_cast<int>(bad.size()), nullptr, nullptr),
                  NATS_OK);
      }
    };
    for (int i = 0; i < kArticles / 2; ++i) publish(i);
    // Killed while it consumes (some delivered, maybe not yet
    // acknowledged); the rest is published while it is down.
    ASSERT_TRUE(Eventually([js] { return ConsumerOf(js).delivered > 50; }));
    server->Stop(SIGKILL);
    for (int i = kArticles / 2; i < kArticles; ++i) publish(i);

    server = std::make_unique<testing::ServerProcess>();
    ASSERT_TRUE(server->Start(NEWSDEDUP_CLI_PATH, args, log))
        << testing::ReadFile(log);
    ASSERT_TRUE(Eventually([js] {
      const ConsumerState s = ConsumerOf(js);
      return s.pending == 0 && s.ack_pending == 0;
    })) << testing::ReadFile(log);

    // Each malformed message, once, with its error (in any order: one
    // delivered before the kill comes again after the others).
    jsStreamInfo* info = nullptr;
    ASSERT_EQ(
        js_GetStreamInfo(&info, js, "ingest_dead_letter", nullptr, nullptr),
        NATS_OK);
    EXPECT_EQ(info->State.Msgs, malformed.size());
    jsStreamInfo_Destroy(info);
    std::vector<std::string> letters;
    for (uint64_t seq = 1; seq <= malformed.size(); ++seq) {
      natsMsg* letter = nullptr;
      ASSERT_EQ(
          js_GetMsg(&letter, js, "ingest_dead_letter", seq, nullptr, nullptr),
          NATS_OK);
      const char* error = nullptr;
      EXPECT_EQ(natsMsgHeader_Get(letter, "Newsdedup-Error", &error), NATS_OK);
      EXPECT_THAT(error == nullptr ? "" : error,
                  ::testing::AnyOf(HasSubstr("the message: not a JSON Article"),
                                   HasSubstr("article.")));
      letters.emplace_back(natsMsg_GetData(letter),
                           natsMsg_GetDataLength(letter));
      natsMsg_Destroy(letter);
    }
    EXPECT_THAT(letters, ::testing::UnorderedElementsAreArray(malformed));
  });
  std::set<std::string> answered;
  for (natsMsg* answer = nullptr;
       natsSubscription_NextMsg(&answer, answers, 500) == NATS_OK;
       natsMsg_Destroy(answer)) {
    const char* id = nullptr;
    if (natsMsgHeader_Get(answer, "Newsdedup-Article-Id", &id) == NATS_OK) {
      answered.insert(id);
    }
  }
  natsSubscription_Destroy(answers);
  natsConnection_Destroy(listener);
  EXPECT_EQ(answered.size(), static_cast<size_t>(kArticles));

  // The change feed, published to the stream `feed` across the kill: each
  // cursor once, in order from 1, and each article's arrival (CREATED or
  // GREW) once.
  AsPlainClient(port_, [&](jsCtx* js) {
    auto cursor_of = [js](uint64_t seq) -> uint64_t {
      natsMsg* m = nullptr;
      if (js_GetMsg(&m, js, "feed", seq, nullptr, nullptr) != NATS_OK) {
        return 0;
      }
      const char* cursor = nullptr;
      uint64_t value = 0;
      if (natsMsgHeader_Get(m, "Newsdedup-Cursor", &cursor) == NATS_OK) {
        EXPECT_TRUE(absl::SimpleAtoi(cursor, &value));
      }
      natsMsg_Destroy(m);
      return value;
    };
    auto stored = [js] {
      jsStreamInfo* info = nullptr;
      uint64_t msgs = 0;
      if (js_GetStreamInfo(&info, js, "feed", nullptr, nullptr) == NATS_OK) {
        msgs = info->State.Msgs;
      }
      jsStreamInfo_Destroy(info);
      return msgs;
    };
    // Caught up once the stream stops growing past the articles.
    uint64_t before = 0;
    ASSERT_TRUE(Eventually([&] {
      const uint64_t now = stored();
      const bool still = now >= kArticles && now == before;
      before = now;
      return still;
    })) << testing::ReadFile(log);
    std::set<std::string> arrived;
    int arrivals = 0;
    for (uint64_t seq = 1; seq <= before; ++seq) {
      natsMsg* m = nullptr;
      ASSERT_EQ(js_GetMsg(&m, js, "feed", seq, nullptr, nullptr), NATS_OK);
      const nlohmann::json event = nlohmann::json::parse(
          std::string(natsMsg_GetData(m), natsMsg_GetDataLength(m)));
      natsMsg_Destroy(m);
      EXPECT_EQ(event["cursor"], std::to_string(seq)) << "once, in order";
      if (event["kind"] == "CREATED" || event["kind"] == "GREW") {
        ++arrivals;
        arrived.insert(event["article_id"].get<std::string>());
      }
    }
    EXPECT_EQ(cursor_of(before), before);
    EXPECT_EQ(arrivals, kArticles);
    EXPECT_EQ(arrived.size(), static_cast<size_t>(kArticles));
  });
  server->Stop(SIGTERM);
  // Every article once: the store holds exactly the articles published.
  std::string out;
  ASSERT_EQ(testing::RunCommand(absl::StrCat(NEWSDEDUP_CLI_PATH,
                                             " admin check --data-dir ", data),
                                (dir_ / "check.out").string(), &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat(kArticles, " articles")));
}

}  // namespace
}  // namespace newsdedup
