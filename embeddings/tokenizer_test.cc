// Loads the real shipped sentencepiece model in a process that also links
// gRPC and the system protobuf (DESIGN trap 4): if the shim isolation broke,
// this binary would abort at load time or crash on sentencepiece's first log.
#include "embeddings/tokenizer.h"

#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

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
