#include "embeddings/language.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "embeddings/english_glossary.h"
#include "embeddings/lexical_embedder.h"

namespace newsdedup {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(LanguageTest, DetectsTheLanguageOfNewsText) {
  EXPECT_EQ(DetectLanguage("Die Bundesregierung hat am Dienstag neue "
                           "Impfstoffe bestellt, teilte das Ministerium mit."),
            "de");
  EXPECT_EQ(DetectLanguage("The government ordered new vaccines on Tuesday, "
                           "the ministry said in a statement."),
            "en");
  EXPECT_EQ(DetectLanguage("El gobierno encargó nuevas vacunas el martes, "
                           "informó el ministerio."),
            "es");
  EXPECT_EQ(DetectLanguage(""), "");
}

TEST(LanguageTest, AShortHeadlineOfNamesIsNotTakenForAnotherLanguage) {
  // CLD2 calls each of these reliable: Malay, French, Sesotho, German.
  EXPECT_EQ(DetectLanguage("Malaysia Airlines Flight 370"), "");
  EXPECT_EQ(DetectLanguage("Eau Claire Leader-Telegram"), "");
  EXPECT_EQ(DetectLanguage("Lena Dunham does Lena Dunham on 'SNL'"), "");
  EXPECT_EQ(
      DetectLanguage("Titanfall review: drop zone Tomnod Titanfall Zimmerman"),
      "");
  // A foreign headline of a sentence's length still is.
  EXPECT_EQ(DetectLanguage("Wybory prezydenckie w Polsce odbędą się w maju, "
                           "zdecydował w środę Sejm"),
            "pl");
}

TEST(LanguageTest, NormalisesGivenTags) {
  EXPECT_EQ(NormalizeLanguageTag("de-AT"), "de");
  EXPECT_EQ(NormalizeLanguageTag("EN_gb"), "en");
  EXPECT_EQ(NormalizeLanguageTag("deu"), "de");
  EXPECT_EQ(NormalizeLanguageTag(""), "");
}

TEST(LanguageTest, StemsWhereSnowballHasAnAlgorithm) {
  EXPECT_EQ(StemWord("de", "wahlen"), StemWord("de", "wahl"));
  EXPECT_EQ(StemWord("en", "elections"), StemWord("en", "election"));
  // No Polish algorithm in libstemmer 2.2; unknown codes: the word itself.
  EXPECT_EQ(StemWord("pl", "wyborach"), "wyborach");
  EXPECT_EQ(StemWord("", "words"), "words");
}

TEST(EnglishGlossaryTest, ParsesFreeDictEntries) {
  EXPECT_THAT(ParseFreeDictTranslations(
                  "Regierung /reːɡˈiːrʊŋ/ <fem, n, sg>\n [pol.] government "
                  "<n>Gov.,  /ɡˈoːf/ Govt.,  /ɡˈɔft/ , administration <n> "
                  "[Am.]\n see: {Regierungen}\n"),
              ElementsAre("government", "govt", "administration"));
  EXPECT_THAT(ParseFreeDictTranslations("Haus\nvolta bracket <n>\n"),
              IsEmpty());  // multi-word translations are left out
  EXPECT_THAT(ParseFreeDictTranslations("only a headword"), IsEmpty());
}

// Needs Debian's dict-freedict-deu-eng (scripts/setup.sh installs it).
TEST(EnglishGlossaryTest, TranslatesWithTheInstalledDictionaries) {
  EnglishGlossary glossary("/usr/share/dictd");
  ASSERT_TRUE(glossary.Covers("de"));
  EXPECT_THAT(glossary.Translate("de", "regierung"), Contains("government"));
  EXPECT_THAT(glossary.Translate("de", "impfstoff"), Contains("vaccine"));
  // An inflected form that is no headword, through the stem of one.
  EXPECT_THAT(glossary.Translate("de", "krankenhauses"), Contains("hospital"));
  EXPECT_THAT(glossary.Translate("de", "xqzzy"), IsEmpty());
  EXPECT_FALSE(glossary.Covers("ja"));
  EXPECT_THAT(glossary.Translate("ja", "anything"), IsEmpty());
  EnglishGlossary missing("/nonexistent");
  EXPECT_FALSE(missing.Covers("de"));
  EXPECT_THAT(missing.Translate("de", "regierung"), IsEmpty());
}

// A German and an English report of one story share features through the
// dictionary; English text is embedded as before.
TEST(EnglishGlossaryTest, CrossLingualReportsMeet) {
  const std::string german =
      "regierung bestellt impfstoff gegen grippe fuer krankenhaus";
  const std::string english =
      "government orders vaccine against flu for hospital";
  auto similarity = [&](const LexicalEmbedderOptions& options) {
    auto embedder = NewLexicalEmbedder(options);
    EXPECT_TRUE(embedder.ok());
    auto de =
        (*embedder)->Embed({"", german, {}, {}, "de"}, EmbedMode::kReadOnly);
    auto en =
        (*embedder)->Embed({"", english, {}, {}, "en"}, EmbedMode::kReadOnly);
    return Similarity(*de, *en);
  };
  LexicalEmbedderOptions monolingual;
  monolingual.stem_weight = 0;
  monolingual.translation_weight = 0;
  const float before = similarity(monolingual);
  const float after = similarity(LexicalEmbedderOptions());
  EXPECT_LT(before, 0.05f);
  EXPECT_GT(after, 0.15f);

  auto with = NewLexicalEmbedder(LexicalEmbedderOptions());
  auto without = NewLexicalEmbedder(monolingual);
  auto a = (*with)->Embed({"", english, {}, {}, ""}, EmbedMode::kReadOnly);
  auto b = (*without)->Embed({"", english, {}, {}, ""}, EmbedMode::kReadOnly);
  EXPECT_EQ(a->sparse.ids, b->sparse.ids);

  // Translations alone change vectors, so they change the fingerprint.
  LexicalEmbedderOptions translation_only = monolingual;
  translation_only.translation_weight = 1;
  EXPECT_NE((*NewLexicalEmbedder(translation_only))->fingerprint(),
            (*without)->fingerprint());
}

// A detected language reads words as their English translations only on
// a paragraph's worth of letters; a given language always does. CLD2 takes
// an occasional English headline for French or German, and each such
// headline loaded a dictionary of tens of MiB.
TEST(EnglishGlossaryTest, ADetectedLanguageTranslatesOnlyOnAParagraph) {
  auto ids = [](const LexicalEmbedderOptions& options, absl::string_view text,
                absl::string_view language) {
    auto embedder = NewLexicalEmbedder(options);
    EXPECT_TRUE(embedder.ok());
    auto embedding =
        (*embedder)->Embed({"", text, {}, {}, language}, EmbedMode::kReadOnly);
    EXPECT_TRUE(embedding.ok());
    return embedding->sparse.ids;
  };
  LexicalEmbedderOptions untranslated;
  untranslated.translation_weight = 0;
  const LexicalEmbedderOptions shipped;

  const std::string sentence =
      "Die Regierung hat am Dienstag neue Impfstoffe gegen die Grippe fuer "
      "die Krankenhaeuser des Landes bestellt, teilte das Ministerium mit.";
  ASSERT_EQ(DetectLanguage(sentence), "de");
  // Detected from one sentence: German stems, no translations.
  EXPECT_EQ(ids(shipped, sentence, ""), ids(untranslated, sentence, "de"));
  EXPECT_NE(ids(shipped, sentence, ""), ids(shipped, sentence, "de"));

  const std::string paragraph = absl::StrCat(
      sentence,
      " Die ersten Lieferungen sollen im November in den Kliniken "
      "eintreffen, die Kosten traegt der Bund. Die Opposition kritisierte "
      "die spaete Bestellung und verlangte eine Erklaerung des Ministers im "
      "Parlament noch vor der Winterpause.");
  ASSERT_EQ(DetectLanguage(paragraph), "de");
  EXPECT_EQ(ids(shipped, paragraph, ""), ids(shipped, paragraph, "de"));
  EXPECT_NE(ids(shipped, paragraph, ""), ids(untranslated, paragraph, "de"));
}

// A German article is weighed by German document frequencies: English
// articles seen before (most of a stream) change nothing; without the
// option they make every German word look rare.
TEST(EnglishGlossaryTest, DocumentFrequenciesArePerLanguage) {
  const std::string german =
      "Die Regierung und der Minister haben die Wahl am Sonntag verschoben";
  auto weights_after_english = [&](bool per_language, int english) {
    LexicalEmbedderOptions options;
    options.idf_per_language = per_language;
    auto embedder = NewLexicalEmbedder(options);
    EXPECT_TRUE(embedder.ok());
    for (int i = 0; i < english; ++i) {
      EXPECT_TRUE(
          (*embedder)
              ->Embed(
                  {"", "The minister said the vote was moved", {}, {}, "en"},
                  EmbedMode::kObserve)
              .ok());
    }
    for (int i = 0; i < 3; ++i) {
      EXPECT_TRUE((*embedder)
                      ->Embed({"", german, {}, {}, "de"}, EmbedMode::kObserve)
                      .ok());
    }
    return (*embedder)
        ->Embed({"", german, {}, {}, "de"}, EmbedMode::kReadOnly)
        ->sparse.weights;
  };
  EXPECT_EQ(weights_after_english(true, 0), weights_after_english(true, 50));
  EXPECT_NE(weights_after_english(false, 0), weights_after_english(false, 50));
}

}  // namespace
}  // namespace newsdedup
