#include "embeddings/embedder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "embeddings/lexical_embedder.h"
#include "embeddings/normalizer.h"

namespace newsdedup {
namespace {

class LexicalEmbedderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = NewLexicalEmbedder(LexicalEmbedderOptions());
    ASSERT_TRUE(e.ok()) << e.status();
    embedder_ = *std::move(e);
    // Some background so that document frequencies mean something.
    for (const char* t :
         {"stocks fall as oil prices rise", "football club signs striker",
          "storm brings heavy rain to the coast", "election results announced",
          "new smartphone released with bigger screen"}) {
      ASSERT_TRUE(embedder_->Embed({t, ""}, EmbedMode::kObserve).ok());
    }
  }

  Embedding Embed(absl::string_view title, absl::string_view body = "") {
    auto e = embedder_->Embed({title, body}, EmbedMode::kReadOnly);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : Embedding();
  }

  static double Norm(const std::vector<float>& v) {
    return std::sqrt(std::inner_product(v.begin(), v.end(), v.begin(), 0.0));
  }

  std::unique_ptr<Embedder> embedder_;
};

TEST_F(LexicalEmbedderTest, VectorsAreUnitLength) {
  const Embedding e = Embed("putin trump summit in budapest on hold",
                            "the white house said there were no plans");
  EXPECT_EQ(static_cast<int>(e.dense.size()), embedder_->dimension());
  EXPECT_NEAR(Norm(e.dense), 1.0, 1e-4);
  EXPECT_NEAR(Norm(e.sparse.weights), 1.0, 1e-4);
  EXPECT_TRUE(std::is_sorted(e.sparse.ids.begin(), e.sparse.ids.end()));
  EXPECT_EQ(e.num_words, 7 + 8);
}

TEST_F(LexicalEmbedderTest, ForgetTakesADocumentOutOfTheStatistics) {
  // What a restart that observes only the documents held would see.
  auto fresh = NewLexicalEmbedder(LexicalEmbedderOptions());
  ASSERT_TRUE(fresh.ok());
  for (const char* t :
       {"stocks fall as oil prices rise", "football club signs striker",
        "storm brings heavy rain to the coast", "election results announced",
        "new smartphone released with bigger screen"}) {
    ASSERT_TRUE((*fresh)->Embed({t, ""}, EmbedMode::kObserve).ok());
  }
  const int64_t before = embedder_->num_documents();
  auto gone = embedder_->Embed({"oil prices rise again in budapest", ""},
                               EmbedMode::kObserve);
  ASSERT_TRUE(gone.ok());
  EXPECT_GE(gone->statistics, 0);
  EXPECT_EQ(embedder_->num_documents(), before + 1);
  embedder_->Forget(*gone);
  EXPECT_EQ(embedder_->num_documents(), before);
  auto kept =
      (*fresh)->Embed({"oil prices in budapest", ""}, EmbedMode::kReadOnly);
  ASSERT_TRUE(kept.ok());
  const Embedding now = Embed("oil prices in budapest");
  EXPECT_EQ(now.sparse.ids, kept->sparse.ids);
  EXPECT_EQ(now.sparse.weights, kept->sparse.weights);
  // A read-only embedding was counted nowhere: forgetting it changes
  // nothing.
  EXPECT_EQ(now.statistics, -1);
  embedder_->Forget(now);
  EXPECT_EQ(embedder_->num_documents(), before);
}

// A page whose body is only its site's notice: what it says is its title.
constexpr absl::string_view kNotice =
    "Your notification has been saved. Email notifications are only sent "
    "once a day.";

TEST_F(LexicalEmbedderTest, StockPassagesStopCountingOnceOtherTitlesHoldThem) {
  const std::string body =
      absl::StrCat(kNotice, " The mayor opened the new bridge on Friday.");
  auto embed_fourth = [&] {
    return Embed("bridge opens downtown", body).sparse.ids;
  };
  const std::vector<uint32_t> own_words_only =
      Embed("bridge opens downtown",
            "The mayor opened the new bridge on Friday.")
          .sparse.ids;
  std::vector<Embedding> pages;
  for (const char* title : {"storm closes schools", "council passes budget",
                            "team wins the final"}) {
    EXPECT_NE(embed_fourth(), own_words_only) << "held by " << pages.size();
    auto page = embedder_->Embed({title, kNotice}, EmbedMode::kObserve);
    ASSERT_TRUE(page.ok());
    pages.push_back(*std::move(page));
  }
  // Three pages under other titles hold the notice: it no longer counts.
  EXPECT_EQ(embed_fourth(), own_words_only);
  // The statistics follow the pages held: forgotten, the notice is text
  // again.
  embedder_->Forget(pages.back());
  EXPECT_NE(embed_fourth(), own_words_only);
}

TEST_F(LexicalEmbedderTest, ASiteNameAfterOtherHeadlinesStopsCounting) {
  // As the engine embeds a title: normalised, with its names.
  auto embed_title = [&](absl::string_view raw, EmbedMode mode) {
    const std::string title = *NormalizeText(raw);
    const std::vector<std::string> names = *ExtractNameWords(raw);
    auto e = embedder_->Embed({title, "", names}, mode);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? e->sparse.ids : std::vector<uint32_t>();
  };
  const std::string site = " - KSLA News 12 Shreveport, Louisiana";
  const std::string title = absl::StrCat("Bridge opens downtown", site);
  const std::vector<uint32_t> headline_only =
      embed_title("Bridge opens downtown", EmbedMode::kReadOnly);
  for (const char* headline : {"Storm closes schools", "Council passes budget",
                               "Team wins the final"}) {
    EXPECT_NE(embed_title(title, EmbedMode::kReadOnly), headline_only);
    embed_title(absl::StrCat(headline, site), EmbedMode::kObserve);
  }
  // Three other headlines carried it: the site's name, and its names
  // ("KSLA", "Shreveport"), no longer count; the headline does.
  EXPECT_EQ(embed_title(title, EmbedMode::kReadOnly), headline_only);
}

TEST_F(LexicalEmbedderTest, TheNamesViewHoldsATitlesNamesAndFigures) {
  const std::string raw = "Shares of Sbarro fall 11% after the filing";
  const std::vector<std::string> names = *ExtractNameWords(raw);
  ASSERT_FALSE(names.empty());
  auto e =
      embedder_->Embed({*NormalizeText(raw), "", names}, EmbedMode::kReadOnly);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->names().ids.size(), names.size());
  EXPECT_NEAR(Norm(e->names().weights), 1.0, 1e-5);
}

TEST_F(LexicalEmbedderTest, CopiesUnderOneTitleKeepTheirSentences) {
  // Syndicated copies share their sentences and their headline: they are
  // the report, not a site's boilerplate.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(
        embedder_
            ->Embed({"bridge opens downtown", kNotice}, EmbedMode::kObserve)
            .ok());
  }
  EXPECT_NE(Embed("bridge opens downtown", kNotice).sparse.ids,
            Embed("bridge opens downtown").sparse.ids);
  // Under another title, four holders make it stock.
  EXPECT_EQ(Embed("storm closes schools", kNotice).sparse.ids,
            Embed("storm closes schools").sparse.ids);
}

TEST_F(LexicalEmbedderTest, IdenticalTextHasCosineOne) {
  const Embedding a = Embed("putin trump summit in budapest on hold");
  const Embedding b = Embed("putin trump summit in budapest on hold");
  EXPECT_NEAR(Similarity(a, b), 1.0, 1e-5);
}

TEST_F(LexicalEmbedderTest, UnrelatedTextHasLowCosine) {
  const Embedding a = Embed("putin trump summit in budapest on hold");
  const Embedding b = Embed("heavy rain floods coastal towns");
  EXPECT_LT(Similarity(a, b), 0.1);
}

TEST_F(LexicalEmbedderTest, RelatedTextScoresBetweenUnrelatedAndIdentical) {
  const Embedding a = Embed("putin trump summit in budapest on hold");
  const Embedding related = Embed("budapest summit of trump and putin delayed");
  const Embedding unrelated = Embed("football club signs new striker");
  const float s = Similarity(a, related);
  EXPECT_GT(s, 0.3);
  EXPECT_LT(s, 0.95);
  EXPECT_GT(s, Similarity(a, unrelated) + 0.2);
}

TEST_F(LexicalEmbedderTest, HeadlineWeighsMoreThanBody) {
  const Embedding query = Embed("earthquake");
  const Embedding in_title = Embed("earthquake", "markets were calm today");
  const Embedding in_body = Embed("markets were calm today", "earthquake");
  EXPECT_GT(Similarity(query, in_title), Similarity(query, in_body));
}

TEST_F(LexicalEmbedderTest, ObserveUpdatesDocumentFrequencies) {
  const int64_t before = embedder_->num_documents();
  Embed("read only does not count");
  EXPECT_EQ(embedder_->num_documents(), before);
  // A word seen in many documents loses weight against a rare one.
  const Embedding fresh = Embed("zeppelin budapest");
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(
        embedder_->Embed({"budapest news", ""}, EmbedMode::kObserve).ok());
  }
  EXPECT_EQ(embedder_->num_documents(), before + 20);
  const Embedding aged = Embed("zeppelin budapest");
  const Embedding budapest = Embed("budapest");
  EXPECT_LT(Similarity(aged, budapest), Similarity(fresh, budapest));
}

// Issue 24: a stream of earthquake reports made "quake" common for every
// other stream too, so two look-alike quakes elsewhere fused on it. Each
// collection keeps its own document frequencies.
TEST_F(LexicalEmbedderTest, DocumentFrequenciesAreKeptPerCollection) {
  auto in = [this](absl::string_view collection, absl::string_view title) {
    EmbedInput input{title, ""};
    input.collection = collection;
    auto e = embedder_->Embed(input, EmbedMode::kReadOnly);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : Embedding();
  };
  for (int i = 0; i < 30; ++i) {
    EmbedInput report{"quake shakes the region", ""};
    report.collection = "seismic-feed";
    ASSERT_TRUE(embedder_->Embed(report, EmbedMode::kObserve).ok());
  }
  // Enough news of its own that its table is warm (a cold one weighs no
  // word above the largest table:
  // ColdCollectionLearnsStopWordsFromTheLargestTable).
  for (int i = 0; i < 12; ++i) {
    const std::string title =
        absl::StrCat("council approves budget number ", i);
    EmbedInput news{title, ""};
    news.collection = "general-news";
    ASSERT_TRUE(embedder_->Embed(news, EmbedMode::kObserve).ok());
  }
  // Where quakes are everyday news the shared word means little; in a
  // collection that has seen none it still means a lot.
  const float busy = Similarity(in("seismic-feed", "quake in chile"),
                                in("seismic-feed", "quake in iran"));
  const float quiet = Similarity(in("general-news", "quake in chile"),
                                 in("general-news", "quake in iran"));
  EXPECT_LT(busy, quiet - 0.1f);
}

// Issue 34: the first document of a new collection has a table of one
// document, where every feature is equally frequent; its vector was as
// much "the of in" as names, and a full-text page joined a story of
// another collection on stop words. Until its table warms up, a feature
// weighs at most what it weighs in the largest table of its language.
TEST(LexicalEmbedderWarmTableTest,
     ColdCollectionLearnsStopWordsFromTheLargestTable) {
  // The squared weight of the first page of a new collection on stop words.
  auto stop_word_share = [](int warm_table_documents) -> double {
    LexicalEmbedderOptions options;
    options.warm_table_documents = warm_table_documents;
    auto made = NewLexicalEmbedder(options);
    EXPECT_TRUE(made.ok()) << made.status();
    if (!made.ok()) return -1.0;
    Embedder& embedder = **made;
    for (int i = 0; i < 40; ++i) {
      const std::string title = absl::StrCat("report ", i, " of the day");
      const std::string body = absl::StrCat(
          "the mayor of town ", i, " said a word in the council and left");
      EmbedInput report{title, body};
      report.collection = "wire";
      EXPECT_TRUE(embedder.Embed(report, EmbedMode::kObserve).ok());
    }
    EmbedInput page{"jewellery heist in paris",
                    "thieves of the gang drove a car into the store and fled"};
    page.collection = "archive";
    absl::StatusOr<Embedding> first = embedder.Embed(page, EmbedMode::kObserve);
    EXPECT_TRUE(first.ok()) << first.status();
    if (!first.ok()) return -1.0;
    double share = 0.0;
    for (size_t i = 0; i < first->sparse.size(); ++i) {
      const std::vector<std::string> word =
          embedder.DescribeFeatures({first->sparse.ids[i]});
      if (word.size() == 1 &&
          (word[0] == "the" || word[0] == "of" || word[0] == "in" ||
           word[0] == "a" || word[0] == "and")) {
        share += first->sparse.weights[i] * first->sparse.weights[i];
      }
    }
    return share;
  };
  const double alone = stop_word_share(0);
  const double warmed = stop_word_share(10);
  EXPECT_GT(alone, 0.1);  // as heavy as any other word of the page
  EXPECT_LT(warmed, 0.01);
}

// A cold table reads the largest table as it is: a document forgotten
// there weighs as it would after a restart that never saw it.
TEST(LexicalEmbedderWarmTableTest, ACountForgottenInTheLargestTableIsGone) {
  auto observe = [](Embedder& embedder, absl::string_view collection,
                    absl::string_view title) -> absl::StatusOr<Embedding> {
    EmbedInput input{title, ""};
    input.collection = collection;
    return embedder.Embed(input, EmbedMode::kObserve);
  };
  auto kept = NewLexicalEmbedder(LexicalEmbedderOptions());
  auto restarted = NewLexicalEmbedder(LexicalEmbedderOptions());
  ASSERT_TRUE(kept.ok() && restarted.ok());
  for (Embedder* embedder : {kept->get(), restarted->get()}) {
    ASSERT_TRUE(observe(*embedder, "wire", "the vote of the council").ok());
    ASSERT_TRUE(observe(*embedder, "archive", "a storm in the bay").ok());
  }
  absl::StatusOr<Embedding> gone =
      observe(**kept, "wire", "the heist of the year in paris");
  ASSERT_TRUE(gone.ok());
  (*kept)->Forget(*gone);
  EmbedInput page{"heist in the bay of paris", ""};
  page.collection = "archive";
  auto after_forget = (*kept)->Embed(page, EmbedMode::kReadOnly);
  auto never_seen = (*restarted)->Embed(page, EmbedMode::kReadOnly);
  ASSERT_TRUE(after_forget.ok() && never_seen.ok());
  EXPECT_EQ(after_forget->sparse.ids, never_seen->sparse.ids);
  EXPECT_EQ(after_forget->sparse.weights, never_seen->sparse.weights);
  // Without the Forget, the largest table still holds "heist" and
  // "paris", which the cold archive table then weighs lower.
  absl::StatusOr<Embedding> again =
      observe(**kept, "wire", "the heist of the year in paris");
  ASSERT_TRUE(again.ok());
  auto remembered = (*kept)->Embed(page, EmbedMode::kReadOnly);
  ASSERT_TRUE(remembered.ok());
  EXPECT_NE(remembered->sparse.weights, never_seen->sparse.weights);
}

TEST_F(LexicalEmbedderTest, EmptyTextGivesZeroVector) {
  const Embedding e = Embed("", "");
  EXPECT_TRUE(e.sparse.empty());
  EXPECT_EQ(Norm(e.dense), 0.0);
  EXPECT_EQ(e.num_words, 0);
}

TEST_F(LexicalEmbedderTest, MultiMegabyteBodyIsTruncatedNotRejected) {
  std::string body;
  while (body.size() < 5 * 1024 * 1024) body += "ünïcödé filler words here ";
  const Embedding e = Embed("huge article", body);
  EXPECT_NEAR(Norm(e.dense), 1.0, 1e-4);
}

TEST_F(LexicalEmbedderTest, DescribesWordFeatures) {
  auto e = embedder_->Embed({"zanzibar", ""}, EmbedMode::kObserve);
  ASSERT_TRUE(e.ok());
  std::vector<std::string> names = embedder_->DescribeFeatures(e->sparse.ids);
  EXPECT_NE(std::find(names.begin(), names.end(), "zanzibar"), names.end());
}

TEST(LexicalEmbedderFactoryTest, RejectsBadOptions) {
  LexicalEmbedderOptions options;
  options.dimension = 0;
  EXPECT_EQ(NewLexicalEmbedder(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = LexicalEmbedderOptions();
  options.tokenizer_model_path = "/nonexistent.model";
  EXPECT_EQ(NewLexicalEmbedder(options).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(SparseDotTest, MatchesOnlySharedIds) {
  SparseVector a{{1, 3, 5}, {1.0f, 2.0f, 3.0f}};
  SparseVector b{{2, 3, 5, 9}, {4.0f, 5.0f, 6.0f, 7.0f}};
  EXPECT_FLOAT_EQ(SparseDot(a, b), 2 * 5 + 3 * 6);
}

}  // namespace
}  // namespace newsdedup
