// Loads the real shipped sentencepiece model in a process that also links
// gRPC and the system protobuf (DESIGN trap 4): if the shim isolation broke,
// this binary would abort at load time or crash on sentencepiece's first log.
#include "embeddings/tokenizer.h"

#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "embeddings/word_cached_tokenizer.h"

namespace newsdedup {
namespace {

TEST(TokenizerTest, LoadsShippedModelNextToGrpcAndProtobuf) {
  // Use both libraries so they are really loaded in this process.
  google::protobuf::Timestamp ts;
  ts.set_seconds(1761091200);
  ASSERT_FALSE(ts.SerializeAsString().empty());
  ASSERT_FALSE(std::string(grpc::Version()).empty());

  absl::StatusOr<std::unique_ptr<Tokenizer>> tok =
      Tokenizer::LoadSentencePiece(DefaultTokenizerModelPath());
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_GT((*tok)->vocab_size(), 1000);

  std::vector<int> ids;
  ASSERT_TRUE((*tok)->Encode("putin trump summit in budapest", &ids).ok());
  EXPECT_GE(ids.size(), 4u);
  std::string joined;
  for (int id : ids) joined += (*tok)->IdToPiece(id);
  // Pieces concatenate back to the text (with sentencepiece's space marker).
  EXPECT_NE(joined.find("budapest"), std::string::npos);
  EXPECT_EQ((*tok)->IdToPiece(-1), "");
}

TEST(TokenizerTest, EncodesEveryLanguageOfTheCorpus) {
  auto tok = Tokenizer::LoadSentencePiece(DefaultTokenizerModelPath());
  ASSERT_TRUE(tok.ok()) << tok.status();
  for (const char* text :
       {"gipfeltreffen verschoben", "cumbre aplazada", "szczyt odłożony",
        "القمة مؤجلة", "sommet reporté"}) {
    std::vector<int> ids;
    ASSERT_TRUE((*tok)->Encode(text, &ids).ok()) << text;
    EXPECT_FALSE(ids.empty()) << text;
    for (int id : ids) EXPECT_NE(id, 0) << "unknown piece in " << text;
  }
}

// A cached tokenizer gives each word's ids as the model gives them for the
// word alone, whatever the cache holds; texts with every kind of spacing,
// script and symbol, through caches that hold everything, a little and
// nothing.
TEST(TokenizerTest, CachedWordsGiveTheModelsIdsForEachWord) {
  const std::vector<std::string> texts = {
      "putin trump summit in budapest is on hold",
      "  leading and trailing spaces  ",
      "double  spaces\tand a tab\nand a newline",
      "gipfeltreffen verschoben, sagt der kreml",
      "القمة مؤجلة حتى إشعار آخر",
      "szczyt odłożony; cumbre aplazada: sommet reporté!",
      "u.s. stocks fell 2.5% to $1,234.56 on tuesday's news",
      "\u00a0no-break\u00a0spaces and \u3000 an ideographic one",
      "emoji \U0001F600 and symbols \u00a9 \u2122 \u00a8 \u00bd",
      "a receptionist.... she was; call 777-7777 now",
      "x",
      "",
      "a very long word: pneumonoultramicroscopicsilicovolcanoconiosis",
      "past the longest cached word: "
      "https://example.org/news/2026/12/07/a-very-long-path-of-a-story-page",
      "putin trump summit in budapest is on hold",  // all cached now
  };
  auto model = Tokenizer::LoadSentencePiece(DefaultTokenizerModelPath());
  ASSERT_TRUE(model.ok()) << model.status();
  auto word_by_word = [&model](const std::string& text) {
    std::vector<int> ids;
    for (absl::string_view word :
         absl::StrSplit(text, ' ', absl::SkipEmpty())) {
      std::vector<int> word_ids;
      EXPECT_TRUE((*model)->Encode(word, &word_ids).ok());
      ids.insert(ids.end(), word_ids.begin(), word_ids.end());
    }
    return ids;
  };
  for (size_t max_words : {size_t{100000}, size_t{5}, size_t{0}}) {
    auto cached = NewWordCachedTokenizer(
        *Tokenizer::LoadSentencePiece(DefaultTokenizerModelPath()), max_words);
    for (int round = 0; round < 2; ++round) {
      for (const std::string& text : texts) {
        std::vector<int> got = {7};
        ASSERT_TRUE(cached->Encode(text, &got).ok());
        EXPECT_EQ(got, word_by_word(text)) << "\"" << text << "\", cache of "
                                           << max_words << ", round " << round;
      }
    }
    EXPECT_EQ(cached->vocab_size(), (*model)->vocab_size());
    EXPECT_EQ(cached->IdToPiece(5), (*model)->IdToPiece(5));
  }
  // Without a tie between two segmentations of a word, that is the model's
  // tokenization of the whole text.
  std::vector<int> whole;
  ASSERT_TRUE((*model)->Encode(texts[0], &whole).ok());
  EXPECT_EQ(whole, word_by_word(texts[0]));
}

TEST(TokenizerTest, EmptyTextHasNoIds) {
  auto tok = Tokenizer::LoadSentencePiece(DefaultTokenizerModelPath());
  ASSERT_TRUE(tok.ok());
  std::vector<int> ids = {1, 2, 3};
  ASSERT_TRUE((*tok)->Encode("", &ids).ok());
  EXPECT_TRUE(ids.empty());
}

TEST(TokenizerTest, MissingModelIsNotFound) {
  auto tok = Tokenizer::LoadSentencePiece("/nonexistent/model.model");
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kNotFound);
}

TEST(TokenizerTest, CorruptModelIsInvalidArgument) {
  const std::string path = ::testing::TempDir() + "/corrupt.model";
  std::ofstream(path) << "this is not a sentencepiece model";
  auto tok = Tokenizer::LoadSentencePiece(path);
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument);
  std::remove(path.c_str());
}

TEST(TokenizerTest, TrainsAModel) {
  const std::string dir = ::testing::TempDir();
  const std::string corpus = dir + "/corpus.txt";
  {
    std::ofstream out(corpus);
    for (int i = 0; i < 200; ++i) {
      out << "the summit between the presidents was put on hold " << i
          << "\nrussia rejected the ceasefire proposal in ukraine\n";
    }
  }
  ASSERT_TRUE(TrainSentencePieceModel("--input=" + corpus +
                                      " --model_prefix=" + dir +
                                      "/tiny --vocab_size=60 "
                                      "--minloglevel=2")
                  .ok());
  auto tok = Tokenizer::LoadSentencePiece(dir + "/tiny.model");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), 60);
  EXPECT_FALSE(TrainSentencePieceModel("--input=/nonexistent --model_prefix=" +
                                       dir + "/x --vocab_size=60")
                   .ok());
}

}  // namespace
}  // namespace newsdedup
