// The only translation unit that includes sentencepiece headers.
//
// Why a separate shared library: libsentencepiece.so carries its own copy of
// protobuf-lite 3.14 with exported google::protobuf symbols, and its static
// initialisers abort the process when they bind to the system libprotobuf 3.21
// that gRPC loads. tokenizer.cc opens this library with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND), so sentencepiece binds to its own
// protobuf copy first and the two never meet. The header also declares
// `namespace absl { using std::string_view; }`, another reason to keep it away
// from Abseil code: this file includes no Abseil header.
#include "embeddings/internal/sentencepiece_shim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

void CopyError(const std::string& message, char* error, size_t error_size) {
  if (error == nullptr || error_size == 0) return;
  std::strncpy(error, message.c_str(), error_size - 1);
  error[error_size - 1] = '\0';
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* nd_spm_load(const char* path,
                                                         char* error,
                                                         size_t error_size) {
  auto* processor = new sentencepiece::SentencePieceProcessor();
  const auto status = processor->Load(path);
  if (!status.ok()) {
    CopyError(status.ToString(), error, error_size);
    delete processor;
    return nullptr;
  }
  return processor;
}

__attribute__((visibility("default"))) void nd_spm_free(void* handle) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(handle);
}

__attribute__((visibility("default"))) long nd_spm_encode(void* handle,
                                                          const char* text,
                                                          size_t size, int* ids,
                                                          size_t capacity) {
  const auto* processor =
      static_cast<const sentencepiece::SentencePieceProcessor*>(handle);
  std::vector<int> out;
  if (!processor->Encode(std::string_view(text, size), &out).ok()) return -1;
  const size_t n = out.size() < capacity ? out.size() : capacity;
  if (n > 0) std::memcpy(ids, out.data(), n * sizeof(int));
  return static_cast<long>(out.size());
}

__attribute__((visibility("default"))) long nd_spm_id_to_piece(
    void* handle, int id, char* out, size_t out_size) {
  const auto* processor =
      static_cast<const sentencepiece::SentencePieceProcessor*>(handle);
  if (id < 0 || id >= processor->GetPieceSize()) return -1;
  const std::string& piece = processor->IdToPiece(id);
  CopyError(piece, out, out_size);
  return static_cast<long>(piece.size());
}

__attribute__((visibility("default"))) int nd_spm_vocab_size(void* handle) {
  return static_cast<const sentencepiece::SentencePieceProcessor*>(handle)
      ->GetPieceSize();
}

__attribute__((visibility("default"))) int nd_spm_train(const char* args,
                                                        char* error,
                                                        size_t error_size) {
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  if (!status.ok()) {
    CopyError(status.ToString(), error, error_size);
    return 1;
  }
  return 0;
}

}  // extern "C"
