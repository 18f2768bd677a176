// Subword tokenisation behind our own interface.
//
// The only implementation wraps a sentencepiece model. sentencepiece cannot be
// linked into a process that also uses the system protobuf (see
// internal/sentencepiece_shim.cc), so it lives in a small shim library that
// this module opens with dlopen(RTLD_LOCAL | RTLD_DEEPBIND). Nothing outside
// tokenizer.cc and the shim sees a sentencepiece type.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok,
//                    Tokenizer::LoadSentencePiece(DefaultTokenizerModelPath()));
//   std::vector<int> ids;
//   RETURN_IF_ERROR(tok->Encode("putin trump summit", &ids));
//
// Thread safety: Encode() and IdToPiece() may be called concurrently.
#ifndef NEWSDEDUP_EMBEDDINGS_TOKENIZER_H_
#define NEWSDEDUP_EMBEDDINGS_TOKENIZER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace newsdedup {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Replaces `*ids` with the subword ids of `text` (UTF-8).
  // Errors: kInternal if the underlying model fails.
  virtual absl::Status Encode(absl::string_view text,
                              std::vector<int>* ids) const = 0;

  // The surface form of subword `id`; "" for an id outside the vocabulary.
  virtual std::string IdToPiece(int id) const = 0;

  virtual int vocab_size() const = 0;

  // Loads a sentencepiece model file.
  // Errors: kNotFound if the file is missing, kFailedPrecondition if the shim
  // library cannot be opened, kInvalidArgument if the file is not a model.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePiece(
      const std::string& model_path);
};

// Identifies a tokenizer by its vocabulary (a hash of every piece in id
// order): another model file with the same pieces tokenizes alike.
std::string TokenizerFingerprint(const Tokenizer& tokenizer);

// Trains a sentencepiece model; `args` is the sentencepiece trainer's
// command-line form ("--input=... --model_prefix=... --vocab_size=...").
// Errors: kInvalidArgument when the trainer rejects the arguments or input.
absl::Status TrainSentencePieceModel(const std::string& args);

// The model shipped with newsdedup: next to the executable when installed,
// otherwise in the source tree it was built from.
std::string DefaultTokenizerModelPath();

}  // namespace newsdedup

#endif  // NEWSDEDUP_EMBEDDINGS_TOKENIZER_H_
