#include "services/engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <set>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "embeddings/lexical_embedder.h"
#include "embeddings/normalizer.h"
#include "services/index/vector_index.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;
using testing::MakeArticle;
using testing::MakeEngine;
using testing::MakeUndatedArticle;

constexpr char kSummaryBody[] =
    "The White House said on Tuesday that there are no plans for President "
    "Trump to meet President Putin in the near future, putting the planned "
    "summit in Budapest on hold after a call between the foreign ministers "
    "Marco Rubio and Sergei Lavrov.";

// Feeds the labelled fixture, so that document frequencies look like those
// of a running service rather than of an empty one.
void AddBackground(ClusteringEngine& engine) {
  for (const Article& a : testing::LoadStoriesFixture().articles) {
    ASSERT_TRUE(engine.Assign(a).ok());
  }
}

TEST(EngineTest, RejectsBadInputWithFieldNames) {
  auto engine = MakeEngine();
  auto no_id = engine->Assign(MakeArticle("", "title"));
  EXPECT_EQ(no_id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_id.status().message(), HasSubstr("id"));

  auto empty = engine->Assign(MakeArticle("a", "  <p></p> ", "\t"));
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(), HasSubstr("no text"));

  auto bad_title = engine->Assign(MakeArticle("b", "bad \xC3\x28 utf8"));
  EXPECT_EQ(bad_title.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_title.status().message(), HasSubstr("title"));
  auto bad_body = engine->Assign(MakeArticle("c", "ok", "bad \xFF body"));
  EXPECT_THAT(bad_body.status().message(), HasSubstr("body"));

  for (const std::string& collection :
       {std::string(kMaxCollectionBytes + 1, 'c'), std::string("a\0b", 3),
        std::string("bad \xC3\x28")}) {
    Article tagged = MakeArticle("d", "Harbour bridge closes");
    tagged.collection = collection;
    auto refused = engine->Assign(tagged);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(refused.status().message(), HasSubstr("collection"));
  }

  // Nothing bad was stored.
  EXPECT_EQ(engine->stats().articles, 0);
}

TEST(EngineTest, RefusesNewArticlesPastItsLimitButAnswersResends) {
  EngineOptions options;
  options.max_articles = 2;
  auto engine = MakeEngine(options);
  const Article first = MakeArticle("a", "Harbour bridge closes for repairs");
  ASSERT_TRUE(engine->Assign(first).ok());
  ASSERT_TRUE(
      engine->Assign(MakeArticle("b", "Election results announced")).ok());
  auto refused = engine->Assign(MakeArticle("c", "Volcano erupts in Iceland"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  // An exact copy under a new id is a new article too.
  Article copy = first;
  copy.id = "a-copy";
  EXPECT_EQ(engine->Assign(copy).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(engine->Assign(first).ok());  // a resend
  Article update = first;
  update.title += " until May";
  EXPECT_TRUE(engine->Assign(update).ok());  // a new version
  EXPECT_EQ(engine->stats().articles, 2);
  ASSERT_TRUE(engine->DeleteArticle("b").ok());
  EXPECT_TRUE(
      engine->Assign(MakeArticle("c", "Volcano erupts in Iceland")).ok());
}

TEST(EngineTest, RejectsBadOptions) {
  EngineOptions options;
  options.story_window = absl::ZeroDuration();
  auto embedder = NewLexicalEmbedder({});
  ASSERT_TRUE(embedder.ok());
  EXPECT_EQ(
      ClusteringEngine::Create(options, *std::move(embedder)).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ClusteringEngine::Create(EngineOptions(), nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// An index that counts the engine's changes to it, over the exact one.
class CountingIndex final : public VectorIndex {
 public:
  struct Counts {
    int adds = 0, removes = 0, relabels = 0, searches = 0;
  };
  CountingIndex(std::unique_ptr<VectorIndex> inner, Counts* counts)
      : inner_(std::move(inner)), counts_(counts) {}

  int dimension() const override { return inner_->dimension(); }
  absl::Status Add(int64_t id, int64_t bucket,
                   absl::Span<const float> vector) override {
    ++counts_->adds;
    return inner_->Add(id, bucket, vector);
  }
  absl::Status Add(int64_t id, int64_t bucket, absl::Span<const float> vector,
                   const InsertHint& hint) override {
    ++counts_->adds;
    return inner_->Add(id, bucket, vector, hint);
  }
  absl::StatusOr<std::vector<Neighbor>> Search(
      absl::Span<const float> query, int k, int64_t min_bucket,
      int64_t max_bucket) const override {
    ++counts_->searches;
    return inner_->Search(query, k, min_bucket, max_bucket);
  }
  absl::StatusOr<std::vector<Neighbor>> SearchBeforeAdd(
      absl::Span<const float> query, int k, int64_t min_bucket,
      int64_t max_bucket, int64_t bucket, InsertHint* hint) const override {
    ++counts_->searches;
    return inner_->SearchBeforeAdd(query, k, min_bucket, max_bucket, bucket,
                                   hint);
  }
  absl::StatusOr<bool> Remove(int64_t id, int64_t bucket) override {
    ++counts_->removes;
    return inner_->Remove(id, bucket);
  }
  bool Relabel(int64_t old_id, int64_t new_id, int64_t bucket) override {
    ++counts_->relabels;
    return inner_->Relabel(old_id, new_id, bucket);
  }
  int64_t DropBucketsBefore(int64_t bucket) override {
    return inner_->DropBucketsBefore(bucket);
  }
  void SetSearchBreadth(int breadth) override {
    inner_->SetSearchBreadth(breadth);
  }
  int64_t size() const override { return inner_->size(); }
  int num_shards() const override { return inner_->num_shards(); }
  int64_t waypoints() const override { return inner_->waypoints(); }
  std::vector<std::pair<int64_t, int64_t>> ShardSizes() const override {
    return inner_->ShardSizes();
  }

 private:
  const std::unique_ptr<VectorIndex> inner_;
  Counts* const counts_;
};

// Issue 13: the engine takes its index from its options, so a test can
// watch what the engine does to it.
TEST(EngineTest, UsesTheIndexItsOptionsBuild) {
  CountingIndex::Counts counts;
  EngineOptions options;
  options.new_index = [&counts](const VectorIndexOptions& index_options)
      -> absl::StatusOr<std::unique_ptr<VectorIndex>> {
    auto exact = NewTimeShardedFlatIndex(index_options.dimension);
    if (!exact.ok()) return exact.status();
    return std::make_unique<CountingIndex>(*std::move(exact), &counts);
  };
  auto engine = MakeEngine(options);
  ASSERT_TRUE(
      engine->Assign(MakeArticle("a", "Harbour bridge closes for repairs"))
          .ok());
  ASSERT_TRUE(
      engine->Assign(MakeArticle("copy", "Harbour bridge closes for repairs"))
          .ok());  // an exact duplicate shares the original's vector
  ASSERT_TRUE(
      engine->Assign(MakeArticle("b", "Election results announced")).ok());
  EXPECT_EQ(counts.adds, 2);
  EXPECT_EQ(engine->stats().indexed_vectors, 2);
  // A new version replaces its vector; deleting an original hands its
  // vector to its exact copy.
  ASSERT_TRUE(
      engine->Assign(MakeArticle("b", "Election results announced today"))
          .ok());
  EXPECT_EQ(counts.adds, 3);
  EXPECT_EQ(counts.removes, 1);
  ASSERT_TRUE(engine->DeleteArticle("a").ok());
  EXPECT_EQ(counts.relabels, 1);
  EXPECT_EQ(engine->stats().indexed_vectors, 2);
  EXPECT_GT(counts.searches, 0);
}

TEST(EngineTest, FirstArticleStartsAStory) {
  auto engine = MakeEngine();
  auto a = engine->Assign(MakeArticle("a", "Putin-Trump summit on hold"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->relation, Relation::kNewStory);
  EXPECT_FALSE(a->cluster_id.empty());
  EXPECT_EQ(a->representative_id, "a");
  EXPECT_EQ(a->cluster_size, 1);
  EXPECT_TRUE(a->nearest_article_id.empty());
}

TEST(EngineTest, ExactDuplicateIgnoresMarkupCaseAndSpacing) {
  auto engine = MakeEngine();
  auto a = engine->Assign(MakeArticle("a", "Summit on hold", kSummaryBody));
  auto b = engine->Assign(MakeArticle(
      "b", "<b>SUMMIT</b>   on  HOLD",
      absl::StrCat("<p>", kSummaryBody, "</p> https://example.com/track?x=1")));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->relation, Relation::kExactDuplicate);
  EXPECT_EQ(b->duplicate_of, "a");
  EXPECT_EQ(b->cluster_id, a->cluster_id);
  EXPECT_EQ(b->cluster_size, 2);
  EXPECT_EQ(engine->stats().exact_duplicates, 1);
}

TEST(EngineTest, LightlyEditedCopyIsNearDuplicate) {
  auto engine = MakeEngine();
  AddBackground(*engine);
  auto a = engine->Assign(
      MakeArticle("a", "Trump-Putin summit on hold", kSummaryBody));
  auto b = engine->Assign(
      MakeArticle("b", "Trump-Putin summit on hold",
                  absl::StrCat(kSummaryBody, " Reporting by Steve Holland.")));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->relation, Relation::kNearDuplicate);
  EXPECT_EQ(b->duplicate_of, "a");
  EXPECT_EQ(b->nearest_article_id, "a");
  EXPECT_GE(b->nearest_similarity, engine->options().near_duplicate_threshold);
  EXPECT_EQ(b->cluster_id, a->cluster_id);
}

TEST(EngineTest, ResendIsIdempotent) {
  auto engine = MakeEngine();
  auto first = engine->Assign(MakeArticle("a", "Summit on hold"));
  auto again = engine->Assign(MakeArticle("a", "Summit on hold"));
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(again->cluster_id, first->cluster_id);
  EXPECT_EQ(again->relation, first->relation);
  EXPECT_EQ(again->version, 1);
  EXPECT_EQ(engine->stats().articles, 1);
}

TEST(EngineTest, ChangedContentIsANewVersionInTheSameStory) {
  auto engine = MakeEngine();
  AddBackground(*engine);
  auto v1 = engine->Assign(MakeArticle(
      "v", "Trump Putin Budapest summit on hold", kSummaryBody, 14));
  ASSERT_TRUE(v1.ok());
  auto v2 = engine->Assign(MakeArticle(
      "v", "Trump Putin Budapest summit on hold (updated)",
      absl::StrCat(kSummaryBody, " Officials gave no new date."), 15));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->cluster_id, v1->cluster_id);
  EXPECT_EQ(engine->stats().updates, 1);
  EXPECT_EQ(*engine->ClusterOfArticle("v"), v1->cluster_id);
  // Only the new text is known: the old one is no longer a duplicate source.
  auto old_text = engine->Assign(MakeArticle(
      "w", "Trump Putin Budapest summit on hold", kSummaryBody, 16));
  ASSERT_TRUE(old_text.ok());
  EXPECT_NE(old_text->relation, Relation::kExactDuplicate);
  // Resending the current version is idempotent.
  auto again = engine->Assign(MakeArticle(
      "v", "Trump Putin Budapest summit on hold (updated)",
      absl::StrCat(kSummaryBody, " Officials gave no new date."), 15));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version, 2);
}

TEST(EngineTest, NewVersionAboutAnotherStoryMoves) {
  auto engine = MakeEngine();
  AddBackground(*engine);
  auto v1 = engine->Assign(MakeArticle(
      "x", "Trump Putin Budapest summit on hold, White House says", "", 14));
  ASSERT_TRUE(v1.ok());
  ASSERT_EQ(v1->cluster_id, *engine->ClusterOfArticle("s1"));
  // The outlet reused the id for an article about the earthquake.
  auto v2 = engine->Assign(MakeArticle(
      "x", "Chile earthquake: tsunami warning after magnitude 6.1 quake", "",
      14));
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->cluster_id, *engine->ClusterOfArticle("q1"));
}

TEST(EngineTest, AnswersExplainTheDecision) {
  auto engine = MakeEngine();
  AddBackground(*engine);
  auto a = engine->Assign(
      MakeArticle("e", "Putin and Trump summit in Budapest on hold", "", 14));
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->relation, Relation::kSameStory);
  EXPECT_GE(a->cluster_similarity, a->threshold);
  EXPECT_FALSE(a->nearest_article_id.empty());
  EXPECT_GT(a->nearest_similarity, 0.0f);
  // Shared terms are words of the article that the story also uses.
  ASSERT_FALSE(a->shared_terms.empty());
  for (const std::string& term : a->shared_terms) {
    EXPECT_THAT("putin and trump summit in budapest on hold", HasSubstr(term));
  }
  if (!a->runner_up_cluster_id.empty()) {
    EXPECT_NE(a->runner_up_cluster_id, a->cluster_id);
    EXPECT_LT(a->runner_up_similarity / a->threshold,
              a->cluster_similarity / a->threshold);
  }
}

TEST(EngineTest, FindSimilarChangesNothing) {
  auto engine = MakeEngine();
  AddBackground(*engine);
  const EngineStats before = engine->stats();
  auto result = engine->FindSimilar(
      MakeArticle("probe", "Budapest summit of Trump and Putin on hold", "",
                  14),
      3);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_FALSE(result->neighbors.empty());
  EXPECT_LE(result->neighbors.size(), 3u);
  EXPECT_EQ(result->neighbors[0].cluster_id, *engine->ClusterOfArticle("s1"));
  for (size_t i = 1; i < result->neighbors.size(); ++i) {
    EXPECT_GE(result->neighbors[i - 1].similarity,
              result->neighbors[i].similarity);
  }
  EXPECT_EQ(result->would_be.cluster_id, *engine->ClusterOfArticle("s1"));
  EXPECT_EQ(result->would_be.article_id, "probe");
  EXPECT_EQ(engine->stats().articles, before.articles);
  EXPECT_EQ(engine->ClusterOfArticle("probe").status().code(),
            absl::StatusCode::kNotFound);

  auto novel = engine->FindSimilar(
      MakeArticle("probe2", "Volcano erupts in Iceland", "", 14), 3);
  ASSERT_TRUE(novel.ok());
  EXPECT_EQ(novel->would_be.relation, Relation::kNewStory);
  EXPECT_TRUE(novel->would_be.cluster_id.empty());
  auto exact = engine->FindSimilar(
      MakeArticle("probe3", "Budapest summit between Trump and Putin on hold"),
      1);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->would_be.relation, Relation::kExactDuplicate);
  EXPECT_EQ(exact->would_be.duplicate_of, "s4");
}

// Issue 37: the dashboard's search listed stories at similarity 0.00,
// articles that share no word with the query.
TEST(EngineTest, FindSimilarListsOnlyArticlesThatShareAWord) {
  auto engine = MakeEngine();
  ASSERT_TRUE(engine->Assign(MakeArticle("a", "ECB keeps rates on hold")).ok());
  ASSERT_TRUE(
      engine->Assign(MakeArticle("b", "Chile earthquake triggers tsunami"))
          .ok());
  ASSERT_TRUE(
      engine->Assign(MakeArticle("c", "Apple unveils a larger iPhone")).ok());
  auto result = engine->FindSimilar(MakeArticle("q", "ECB sterilisation"), 10);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->neighbors.size(), 1u);
  EXPECT_EQ(result->neighbors[0].article_id, "a");
  EXPECT_GT(result->neighbors[0].similarity, 0);
}

TEST(EngineTest, DeleteRemovesArticleAndReelectsRepresentative) {
  auto engine = MakeEngine();
  AddBackground(*engine);
  const std::string summit = *engine->ClusterOfArticle("s1");
  const ClusterSummary before = *engine->GetCluster(summit);
  const std::string rep = before.representative_id;
  ASSERT_TRUE(engine->DeleteArticle(rep).ok());
  EXPECT_EQ(engine->stats().deletions, 1);
  EXPECT_EQ(engine->GetArticle(rep).status().code(),
            absl::StatusCode::kNotFound);
  const ClusterSummary after = *engine->GetCluster(summit);
  EXPECT_EQ(after.size, before.size - 1);
  EXPECT_NE(after.representative_id, rep);
  EXPECT_FALSE(after.representative_id.empty());
  // It is no longer found as a neighbour.
  auto result =
      engine->FindSimilar(MakeArticle("p", "probe summit", "", 14), 50);
  ASSERT_TRUE(result.ok());
  for (const SimilarArticle& n : result->neighbors)
    EXPECT_NE(n.article_id, rep);
  EXPECT_EQ(engine->DeleteArticle(rep).code(), absl::StatusCode::kNotFound);
  // The id may be used again.
  ASSERT_TRUE(
      engine->Assign(MakeArticle(rep, "A different article", "", 15)).ok());
}

// Word statistics follow the articles held (as a restart rebuilds them),
// so that memory stays bounded at the article cap; a replica's engine
// keeps a removed article's counts until a checkpoint rebuilds every
// replica's alike.
TEST(EngineTest, WordCountsFollowTheArticlesHeldExceptOnAReplica) {
  for (const bool replica : {false, true}) {
    SCOPED_TRACE(replica ? "replica" : "single node");
    auto embedder = NewLexicalEmbedder({});
    ASSERT_TRUE(embedder.ok()) << embedder.status();
    const Embedder* statistics = embedder->get();
    EngineOptions options;
    if (replica) options.log_sequence = [] { return uint64_t{7}; };
    auto engine = ClusteringEngine::Create(options, *std::move(embedder));
    ASSERT_TRUE(engine.ok()) << engine.status();
    for (const auto& [id, title] :
         {std::pair("a", "Volcano erupts near Grindavik"),
          std::pair("b", "Central bank raises interest rates"),
          std::pair("c", "Ferry sinks off the coast of Crete")}) {
      ASSERT_TRUE((*engine)->Assign(MakeUndatedArticle(id, title, "")).ok());
    }
    ASSERT_EQ(statistics->num_documents(), 3);
    ASSERT_TRUE((*engine)->DeleteArticle("b").ok());
    EXPECT_EQ(statistics->num_documents(), replica ? 3 : 2);
  }
}

TEST(EngineTest, DeletingTheOriginalKeepsItsExactDuplicates) {
  auto engine = MakeEngine();
  AddBackground(*engine);
  ASSERT_TRUE(
      engine->Assign(MakeArticle("o", "Volcano erupts in Iceland", "", 14))
          .ok());
  ASSERT_TRUE(
      engine->Assign(MakeArticle("d", "VOLCANO erupts in Iceland", "", 15))
          .ok());
  const std::string cluster = *engine->ClusterOfArticle("o");
  ASSERT_TRUE(engine->DeleteArticle("o").ok());
  EXPECT_EQ(engine->GetCluster(cluster)->size, 1);
  EXPECT_EQ(engine->GetCluster(cluster)->representative_id, "d");
  // The duplicate still stands for the text: a third copy finds it.
  auto third =
      engine->Assign(MakeArticle("t", "Volcano erupts in iceland", "", 16));
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->relation, Relation::kExactDuplicate);
  EXPECT_EQ(third->duplicate_of, "d");
  // And it is still in the index: a similar headline joins the story.
  ASSERT_TRUE(engine->DeleteArticle("t").ok());
  auto similar = engine->FindSimilar(
      MakeArticle("q", "Iceland volcano erupts again", "", 16), 5);
  ASSERT_TRUE(similar.ok());
  ASSERT_FALSE(similar->neighbors.empty());
  EXPECT_EQ(similar->neighbors[0].article_id, "d");
  // Deleting the last member empties the cluster: no longer listed.
  ASSERT_TRUE(engine->DeleteArticle("d").ok());
  EXPECT_EQ(engine->GetCluster(cluster)->size, 0);
  for (const ClusterSummary& c : engine->ListClusters()) {
    EXPECT_NE(c.cluster_id, cluster);
  }
}

TEST(EngineTest, ClustersLabelledFixtureIntoItsStories) {
  auto fixture = testing::LoadStoriesFixture();
  auto engine = MakeEngine();
  std::vector<size_t> order(fixture.articles.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return fixture.articles[a].published < fixture.articles[b].published;
  });
  for (size_t i : order) {
    auto a = engine->Assign(fixture.articles[i]);
    ASSERT_TRUE(a.ok()) << a.status();
  }
  // Same gold story <=> same final cluster, for every pair.
  for (size_t i = 0; i < fixture.articles.size(); ++i) {
    for (size_t j = i + 1; j < fixture.articles.size(); ++j) {
      const std::string ci = *engine->ClusterOfArticle(fixture.articles[i].id);
      const std::string cj = *engine->ClusterOfArticle(fixture.articles[j].id);
      EXPECT_EQ(fixture.labels[i] == fixture.labels[j], ci == cj)
          << fixture.articles[i].id << " vs " << fixture.articles[j].id;
    }
  }
  EXPECT_EQ(engine->ListClusters().size(), 4u);
}

TEST(EngineTest, RepresentativeIsMostCentralMemberAndStable) {
  auto engine = MakeEngine();
  // The second and third articles share the story's core vocabulary; the
  // first carries an extra aside, so it ends up less central.
  std::vector<Article> articles = {
      MakeArticle("r1",
                  "Budapest summit on hold; markets shrug, oil flat, "
                  "gold steady",
                  "", 0),
      MakeArticle("r2", "Trump Putin Budapest summit on hold", "", 1),
      MakeArticle("r3", "Trump and Putin Budapest summit on hold", "", 2),
      MakeArticle("r4", "Trump Putin summit in Budapest on hold", "", 3),
  };
  std::string cluster;
  for (const Article& a : articles) {
    auto answer = engine->Assign(a);
    ASSERT_TRUE(answer.ok());
    if (cluster.empty()) cluster = answer->cluster_id;
  }
  auto summary = engine->GetCluster(cluster);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->size, 4);
  EXPECT_NE(summary->representative_id, "r1");
  const std::string rep = summary->representative_id;
  // An exact copy of a member does not move the representative.
  ASSERT_TRUE(engine
                  ->Assign(MakeArticle(
                      "r5", "Trump Putin Budapest summit on hold", "", 4))
                  .ok());
  EXPECT_EQ(engine->GetCluster(cluster)->representative_id, rep);
}

TEST(EngineTest, SingleArticleClusterTiesToEarliest) {
  auto engine = MakeEngine();
  auto a =
      engine->Assign(MakeArticle("e1", "Volcano erupts in Iceland", "", 0));
  auto b =
      engine->Assign(MakeArticle("e2", "Volcano erupts in Iceland!", "", 1));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->representative_id, "e1");
}

TEST(EngineTest, StoryWindowKeepsDistantEventsApartAndExpiresShards) {
  EngineOptions options;
  options.story_window = absl::Hours(48);
  auto engine = MakeEngine(options);
  const char* title = "Gunman opens fire at shopping mall in Springfield";
  auto early = engine->Assign(MakeArticle("w1", title, "", 0));
  auto late = engine->Assign(
      MakeArticle("w2", absl::StrCat(title, " again"), "", 24 * 30));
  ASSERT_TRUE(early.ok() && late.ok());
  EXPECT_NE(early->cluster_id, late->cluster_id);
  EXPECT_EQ(late->relation, Relation::kNewStory);
  EXPECT_TRUE(late->nearest_article_id.empty());  // expired: not searched
  EXPECT_EQ(engine->stats().indexed_vectors, 1);

  // Within the window, the same text joins.
  auto close = engine->Assign(
      MakeArticle("w3", absl::StrCat(title, " again!"), "", 24 * 30 + 2));
  ASSERT_TRUE(close.ok());
  EXPECT_EQ(*engine->ClusterOfArticle("w3"), *engine->ClusterOfArticle("w2"));
}

TEST(EngineTest, UndatedArticlesAreComparedWithEverything) {
  auto engine = MakeEngine();
  auto a =
      engine->Assign(MakeUndatedArticle("u1", "Trump Putin summit on hold"));
  auto b = engine->Assign(
      MakeArticle("u2", "Trump Putin summit on hold now", "", 24 * 365));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*engine->ClusterOfArticle("u2"), *engine->ClusterOfArticle("u1"));
}

TEST(EngineTest, MergedClusterIdStaysResolvable) {
  EngineOptions options;
  // Joining is made impossible so that only the merge step can bring the
  // two clusters together.
  options.short_text_threshold = 0.99f;
  options.long_text_threshold = 0.99f;
  options.near_duplicate_threshold = 1.0f;
  options.same_time_factor = 1.0f;
  options.short_text_merge_threshold = 0.3f;
  options.long_text_merge_threshold = 0.3f;
  // Issue 13: merges are reported (the server logs them).
  std::vector<EngineOptions::StoryChange> changes;
  options.on_story_change = [&](const EngineOptions::StoryChange& change) {
    changes.push_back(change);
  };
  auto engine = MakeEngine(options);
  AddBackground(*engine);
  const int64_t background_merges = engine->stats().merges;
  changes.clear();
  auto a = engine->Assign(
      MakeArticle("m1", "Iceland volcano erupts near Grindavik", "", 0));
  auto b = engine->Assign(MakeArticle(
      "m2", "Iceland volcano erupts near Grindavik, town evacuated", "", 1));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(engine->stats().merges, background_merges + 1);
  // The older id survives; the absorbed id resolves to it.
  EXPECT_EQ(b->cluster_id, a->cluster_id);
  auto summary = engine->GetCluster(a->cluster_id);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->size, 2);
  ASSERT_EQ(summary->aliases.size(), 1u);
  EXPECT_EQ(*engine->ResolveClusterId(summary->aliases[0]), a->cluster_id);
  // The merge is in the survivor's history.
  ASSERT_GE(summary->history.size(), 2u);
  EXPECT_EQ(summary->history[0].kind, ClusterEvent::Kind::kCreated);
  EXPECT_EQ(summary->history[0].article_id, "m1");
  bool absorbed = false;
  for (const ClusterEvent& e : summary->history) {
    absorbed |= e.kind == ClusterEvent::Kind::kAbsorbed &&
                e.cluster_id == summary->aliases[0];
  }
  EXPECT_TRUE(absorbed);
  EXPECT_EQ(engine->GetCluster(summary->aliases[0])->cluster_id, a->cluster_id);
  EXPECT_EQ(*engine->ClusterOfArticle("m2"), a->cluster_id);
  bool merge_reported = false;
  for (const EngineOptions::StoryChange& change : changes) {
    merge_reported |= change.kind == EngineOptions::StoryChange::Kind::kMerge &&
                      change.story_id == a->cluster_id &&
                      change.absorbed_id == summary->aliases[0];
  }
  EXPECT_TRUE(merge_reported);
  EXPECT_EQ(engine->ResolveClusterId("story-999").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(engine->ClusterOfArticle("nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(EngineTest, HugeArticleIsAccepted) {
  auto engine = MakeEngine();
  std::string body;
  while (body.size() < 4 * 1024 * 1024) body += "a very long article body. ";
  auto a = engine->Assign(MakeArticle("huge", "Huge article", body));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->relation, Relation::kNewStory);
}

// A stand-in for a neural encoder: dense vectors only (hashed words), no
// sparse part. The engine must score and cluster with those alone.
class DenseOnlyEmbedder final : public Embedder {
 public:
  std::string fingerprint() const override { return "dense-only-test"; }
  int dimension() const override { return 1024; }
  absl::StatusOr<Embedding> Embed(const EmbedInput& input, EmbedMode) override {
    Embedding e;
    e.dense.assign(1024, 0.0f);
    // Named: the words are views into it.
    const std::string text = absl::StrCat(input.title, " ", input.body);
    for (absl::string_view w : SplitWords(text)) {
      e.dense[std::hash<std::string>()(std::string(w)) % 1024] += 1.0f;
      ++e.num_words;
    }
    float norm = 0;
    for (float v : e.dense) norm += v * v;
    for (float& v : e.dense) v /= std::sqrt(norm);
    return e;
  }
  std::vector<std::string> DescribeFeatures(
      absl::Span<const uint32_t>) const override {
    return {};
  }
  int64_t num_documents() const override { return 0; }
};

TEST(EngineTest, WorksWithADenseOnlyEmbedder) {
  auto engine = ClusteringEngine::Create(EngineOptions(),
                                         std::make_unique<DenseOnlyEmbedder>());
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto a = (*engine)->Assign(
      MakeArticle("a", "volcano erupts near grindavik", "", 0));
  auto b = (*engine)->Assign(
      MakeArticle("b", "volcano erupts near grindavik iceland", "", 1));
  auto c = (*engine)->Assign(
      MakeArticle("c", "central bank raises interest rates", "", 2));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_GT(b->nearest_similarity, 0.5f);
  EXPECT_EQ(b->nearest_article_id, "a");
  EXPECT_EQ(b->cluster_id, a->cluster_id);
  EXPECT_GT(b->cluster_similarity, 0.5f);
  EXPECT_NE(c->cluster_id, a->cluster_id);
}

TEST(EngineTest, ConcurrentCallersGetConsistentAnswers) {
  auto engine = MakeEngine();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 60;
  const std::vector<std::string> topics = {
      "Trump Putin Budapest summit on hold",
      "Chile earthquake triggers tsunami warning",
      "Central bank raises interest rates",
      "Real Madrid beat Juventus in Champions League"};
  std::vector<std::vector<Assignment>> answers(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Every thread also resends a shared id to exercise the resend path.
        const std::string id =
            i % 10 == 0 ? absl::StrCat("shared-", i) : absl::StrCat(t, "-", i);
        const std::string title =
            i % 10 == 0
                ? topics[0]
                : absl::StrCat(topics[i % topics.size()], " update ", i);
        auto a = engine->Assign(MakeArticle(id, title, "", i * 0.1));
        ASSERT_TRUE(a.ok()) << a.status();
        answers[t].push_back(*a);
      }
    });
  }
  for (auto& th : threads) th.join();
  // Every distinct id stored once.
  std::set<std::string> ids;
  for (const auto& per_thread : answers) {
    for (const Assignment& a : per_thread) ids.insert(a.article_id);
  }
  EXPECT_EQ(engine->stats().articles, static_cast<int64_t>(ids.size()));
  // Every answer's cluster still resolves, and resends agree on the story.
  absl::flat_hash_map<std::string, std::string> story_of;
  for (const auto& per_thread : answers) {
    for (const Assignment& a : per_thread) {
      auto resolved = engine->ResolveClusterId(a.cluster_id);
      ASSERT_TRUE(resolved.ok());
      EXPECT_EQ(*resolved, *engine->ClusterOfArticle(a.article_id));
    }
  }
  int64_t total = 0;
  for (const ClusterSummary& c : engine->ListClusters()) total += c.size;
  EXPECT_EQ(total, engine->stats().articles);
}

// A lone caller's answers never depend on readers. Each article here
// arrives as the oldest one passes the retention, and what expires must be
// forgotten before the new article's embedding reads the word statistics,
// whether or not a reader holds the engine's lock at that moment (the
// assign's fast path may be skipped only while another assign is under
// way).
TEST(EngineTest, ALoneCallersAnswersDoNotDependOnReaders) {
  const std::vector<std::string> words = {"harbour", "bridge", "council",
                                          "storm",   "budget", "school",
                                          "closes",  "opens",  "vote"};
  auto run = [&](bool with_reader) {
    std::atomic<int64_t> hours{0};
    EngineOptions options;
    options.retention = options.story_window;
    options.clock = [&hours] {
      return absl::FromUnixSeconds(1'761'091'200) + absl::Hours(hours.load());
    };
    auto engine = MakeEngine(options);
    std::atomic<bool> stop{false};
    std::thread reader;
    if (with_reader) {
      reader = std::thread([&] {
        while (!stop.load()) engine->ListClusters();
      });
    }
    std::vector<std::string> answers;
    for (int i = 0; i < 600; ++i) {
      hours += 2;  // 84 articles within the retention: one expires each time
      const size_t n = words.size();
      const std::string title =
          absl::StrCat(words[i % n], " ", words[(i / 3) % n], " ",
                       words[(i / 7) % n], " ", i % 5);
      auto answer = engine->Assign(
          MakeArticle(absl::StrCat("a", i), title, "", hours.load()));
      EXPECT_TRUE(answer.ok()) << answer.status();
      if (!answer.ok()) break;
      answers.push_back(absl::StrCat(answer->cluster_id, " ",
                                     answer->cluster_similarity, " ",
                                     answer->nearest_similarity));
    }
    stop = true;
    if (reader.joinable()) reader.join();
    return answers;
  };
  const std::vector<std::string> alone = run(false);
  ASSERT_EQ(alone.size(), 600u);
  EXPECT_EQ(run(true), alone);
}

TEST(EngineTest, BatchAnswersAsOneAtATime) {
  // Stories, an exact copy, a resend, a new version of an id, a rejected
  // article and an undated one, all in one batch.
  std::vector<Article> articles = testing::LoadStoriesFixture().articles;
  articles.push_back(MakeArticle("copy", articles[0].title, "", 1));
  articles.push_back(articles[1]);
  articles.push_back(MakeArticle(articles[2].id, "Chile earthquake update"));
  articles.push_back(MakeArticle("", "no id"));
  articles.push_back(MakeUndatedArticle("undated", articles[3].title));
  articles.push_back(
      MakeArticle("copy-of-new-version", "Chile earthquake update", "", 2));
  auto one_at_a_time = MakeEngine();
  auto batched = MakeEngine();
  const std::vector<absl::StatusOr<Assignment>> batch =
      batched->AssignBatch(articles);
  ASSERT_EQ(batch.size(), articles.size());
  for (size_t i = 0; i < articles.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("article ", i, " ", articles[i].id));
    const absl::StatusOr<Assignment> single =
        one_at_a_time->Assign(articles[i]);
    ASSERT_EQ(batch[i].status(), single.status());
    if (!single.ok()) continue;
    EXPECT_EQ(batch[i]->article_id, single->article_id);
    EXPECT_EQ(batch[i]->cluster_id, single->cluster_id);
    EXPECT_EQ(batch[i]->relation, single->relation);
    EXPECT_EQ(batch[i]->duplicate_of, single->duplicate_of);
    EXPECT_EQ(batch[i]->nearest_article_id, single->nearest_article_id);
    EXPECT_EQ(batch[i]->nearest_similarity, single->nearest_similarity);
    EXPECT_EQ(batch[i]->cluster_similarity, single->cluster_similarity);
    EXPECT_EQ(batch[i]->shared_terms, single->shared_terms);
    EXPECT_EQ(batch[i]->representative_id, single->representative_id);
    EXPECT_EQ(batch[i]->version, single->version);
  }
  EXPECT_EQ(batched->stats().articles, one_at_a_time->stats().articles);
  EXPECT_EQ(batched->stats().exact_duplicates, 3);  // copy, undated, last
  EXPECT_EQ(batched->stats().updates, 1);
  EXPECT_TRUE(batched->AssignBatch({}).empty());
}

}  // namespace
}  // namespace newsdedup
