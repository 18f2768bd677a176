// Threads (storylines): stories of one topic share a thread id beside
// their own cluster ids; threads join with look-alike stories and merges,
// and the older id survives.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "embeddings/lexical_embedder.h"
#include "services/engine/engine.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using testing::MakeArticle;
using testing::MakeEngine;

// Options under which no article joins another's story and no story
// merges: each headline starts a story, so only threads can link them.
EngineOptions ApartStories() {
  EngineOptions options;
  options.short_text_threshold = 0.99f;
  options.long_text_threshold = 0.99f;
  options.near_duplicate_threshold = 1.0f;
  options.short_text_merge_threshold = 1.0f;
  options.long_text_merge_threshold = 1.0f;
  return options;
}

constexpr char kQuake[] = "Magnitude 7 earthquake strikes off the Chile coast";
constexpr char kQuakeAgain[] =
    "Magnitude 7 earthquake strikes off the Chile coast, tsunami warning";
constexpr char kRates[] = "Central bank raises interest rates again";

TEST(EngineThreadsTest, LookAlikeStoriesShareAThreadNamedAfterTheOldest) {
  auto engine = MakeEngine(ApartStories());
  auto quake = engine->Assign(MakeArticle("q1", kQuake, "", 0));
  auto rates = engine->Assign(MakeArticle("r1", kRates, "", 1));
  // Days later: a look-alike event, a story of its own (threads link
  // stories the candidate search finds: within the story window).
  auto again = engine->Assign(MakeArticle("q2", kQuakeAgain, "", 24 * 3));
  ASSERT_TRUE(quake.ok() && rates.ok() && again.ok());
  EXPECT_NE(again->cluster_id, quake->cluster_id);
  EXPECT_EQ(quake->thread_id, "thread-1");  // quake is story-1
  EXPECT_EQ(again->thread_id, quake->thread_id);
  EXPECT_NE(rates->thread_id, quake->thread_id);
  EXPECT_EQ(engine->GetCluster(again->cluster_id)->thread_id, quake->thread_id);
  EXPECT_EQ(engine->GetCluster(rates->cluster_id)->thread_id, rates->thread_id);
}

TEST(EngineThreadsTest, ZeroThresholdKeepsEveryStoryInItsOwnThread) {
  EngineOptions options = ApartStories();
  options.thread_threshold = 0.0f;
  auto engine = MakeEngine(options);
  auto quake = engine->Assign(MakeArticle("q1", kQuake, "", 0));
  auto again = engine->Assign(MakeArticle("q2", kQuakeAgain, "", 24 * 3));
  ASSERT_TRUE(quake.ok() && again.ok());
  EXPECT_NE(again->thread_id, quake->thread_id);
}

TEST(EngineThreadsTest, MergedStoriesKeepTheOlderThread) {
  EngineOptions options = ApartStories();
  options.thread_threshold = 0.0f;  // threads join only through the merge
  options.short_text_merge_threshold = 0.3f;
  options.long_text_merge_threshold = 0.3f;
  options.same_time_factor = 1.0f;
  auto engine = MakeEngine(options);
  auto rates = engine->Assign(MakeArticle("r1", kRates, "", 0));
  auto quake = engine->Assign(MakeArticle("q1", kQuake, "", 1));
  auto again = engine->Assign(MakeArticle("q2", kQuakeAgain, "", 2));
  ASSERT_TRUE(rates.ok() && quake.ok() && again.ok());
  ASSERT_EQ(again->cluster_id, quake->cluster_id) << "expected a merge";
  EXPECT_EQ(again->thread_id, quake->thread_id);  // thread-2, the older
  EXPECT_EQ(quake->thread_id, "thread-2");
  // The absorbed story's own thread id resolves to the survivor's.
  EXPECT_EQ(*engine->ResolveThreadId("thread-3"), "thread-2");
  EXPECT_EQ(*engine->ResolveThreadId("thread-1"), "thread-1");
}

TEST(EngineThreadsTest, UnknownThreadIdsAreNotFound) {
  auto engine = MakeEngine();
  ASSERT_TRUE(engine->Assign(MakeArticle("q1", kQuake)).ok());
  EXPECT_EQ(*engine->ResolveThreadId("thread-1"), "thread-1");
  for (const char* id : {"thread-2", "thread-0", "thread-", "story-1", "",
                         "thread-1x", "thread--1"}) {
    EXPECT_EQ(engine->ResolveThreadId(id).status().code(),
              absl::StatusCode::kNotFound)
        << id;
  }
}

TEST(EngineThreadsTest, RejectsAThresholdOutsideZeroToOne) {
  for (float threshold : {-0.1f, 1.5f}) {
    EngineOptions options;
    options.thread_threshold = threshold;
    auto embedder = NewLexicalEmbedder({});
    ASSERT_TRUE(embedder.ok());
    auto engine = ClusteringEngine::Create(options, *std::move(embedder));
    EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(engine.status().message(),
                ::testing::HasSubstr("thread_threshold"));
  }
}

}  // namespace
}  // namespace newsdedup
