// `newsdedup train-tokenizer`: trains the sentencepiece model the embedder
// uses, from JSONL articles (title/text) or article pairs (text1/text2).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "embeddings/normalizer.h"
#include "embeddings/tokenizer.h"
#include "tools/commands.h"

namespace newsdedup {
namespace {

struct TrainFlags {
  std::vector<std::string> inputs;
  std::string model_prefix = "newsdedup_spm";
  int vocab_size = 16000;
  double character_coverage = 0.9995;
};

// Sentencepiece skips sentences longer than this, so long bodies are cut
// into pieces at sentence ends.
constexpr size_t kMaxSentenceBytes = 2000;

void WriteSentences(const std::string& normalized, std::ostream& out) {
  size_t start = 0;
  while (start < normalized.size()) {
    size_t end = std::min(normalized.size(), start + kMaxSentenceBytes);
    if (end < normalized.size()) {
      const size_t stop = normalized.rfind(". ", end);
      if (stop != std::string::npos && stop > start) {
        end = stop + 1;
      } else {
        // No sentence end: cut at a UTF-8 character boundary.
        while (end > start &&
               (static_cast<unsigned char>(normalized[end]) & 0xC0) == 0x80)
          --end;
      }
    }
    out << normalized.substr(start, end - start) << "\n";
    start = end;
    while (start < normalized.size() && normalized[start] == ' ') ++start;
  }
}

int RunTrain(const TrainFlags& flags) {
  const std::string corpus =
      (std::filesystem::temp_directory_path() /
       absl::StrCat("newsdedup-spm-corpus-", getpid(), ".txt"))
          .string();
  int64_t texts = 0, bad = 0;
  {
    std::ofstream out(corpus);
    for (const std::string& input : flags.inputs) {
      std::ifstream in(input);
      std::string line;
      int64_t number = 0;
      while (std::getline(in, line)) {
        ++number;
        nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
          ++bad;
          std::cerr << input << ":" << number << ": malformed JSON, skipped\n";
          continue;
        }
        for (const char* field : {"title", "text", "body", "text1", "text2"}) {
          auto it = j.find(field);
          if (it == j.end() || !it->is_string()) continue;
          absl::StatusOr<std::string> normalized =
              NormalizeText(it->get<std::string>());
          if (!normalized.ok() || normalized->empty()) continue;
          WriteSentences(*normalized, out);
          ++texts;
        }
      }
    }
  }
  std::cerr << "train-tokenizer: " << texts << " texts from "
            << flags.inputs.size() << " files (" << bad << " bad lines)\n";
  // Text is already normalised (NFKC, case-folded), as it will be at
  // encoding time, so sentencepiece's own normalisation is switched off.
  const std::string args = absl::StrCat(
      "--input=", corpus, " --model_prefix=", flags.model_prefix,
      " --vocab_size=", flags.vocab_size,
      " --character_coverage=", flags.character_coverage,
      " --model_type=unigram --normalization_rule_name=identity",
      " --input_sentence_size=2000000 --shuffle_input_sentence=true",
      " --num_threads=2 --minloglevel=1");
  const absl::Status status = TrainSentencePieceModel(args);
  std::remove(corpus.c_str());
  if (!status.ok()) {
    std::cerr << "newsdedup train-tokenizer: " << status.message() << "\n";
    return kExitFailure;
  }
  std::cerr << "train-tokenizer: wrote " << flags.model_prefix << ".model\n";
  return kExitOk;
}

}  // namespace

void RegisterTrainTokenizerCommand(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* command = app->add_subcommand(
      "train-tokenizer",
      "Train the sentencepiece model used by the embedder from JSONL files "
      "(fields title/text, or text1/text2 for pairs).\nText is normalised "
      "exactly as at embedding time. Writes PREFIX.model and PREFIX.vocab.");
  command->add_option("inputs", flags->inputs, "JSONL files")
      ->required()
      ->check(CLI::ExistingFile);
  command
      ->add_option("--model-prefix", flags->model_prefix, "Output path prefix")
      ->capture_default_str();
  command->add_option("--vocab-size", flags->vocab_size, "Vocabulary size")
      ->check(CLI::Range(100, 1000000))
      ->capture_default_str();
  command
      ->add_option("--character-coverage", flags->character_coverage,
                   "Share of characters the vocabulary must cover")
      ->check(CLI::Range(0.9, 1.0))
      ->capture_default_str();
  command->callback([flags, exit_code] { *exit_code = RunTrain(*flags); });
}

}  // namespace newsdedup
