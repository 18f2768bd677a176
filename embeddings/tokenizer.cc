#include "embeddings/tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>
#include <xxhash.h>

#include <climits>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/shipped_file.h"
#include "embeddings/internal/sentencepiece_shim.h"

namespace newsdedup {
namespace {

constexpr char kShimFileName[] = "libnewsdedup_spm_shim.so";
constexpr char kModelFileName[] = "newsdedup_spm.model";

bool FileExists(const std::string& path) { return std::ifstream(path).good(); }

// Function table of the opened shim; loaded once per process and never
// closed (sentencepiece registers static state that must outlive callers).
struct ShimApi {
  NdSpmLoadFn load = nullptr;
  NdSpmFreeFn free = nullptr;
  NdSpmEncodeFn encode = nullptr;
  NdSpmIdToPieceFn id_to_piece = nullptr;
  NdSpmVocabSizeFn vocab_size = nullptr;
  NdSpmTrainFn train = nullptr;
};

absl::StatusOr<const ShimApi*> OpenShim() {
  static absl::Mutex mu(absl::kConstInit);
  static ShimApi* api = nullptr;
  absl::MutexLock lock(&mu);
  if (api != nullptr) return api;

  // Search order: $NEWSDEDUP_SPM_SHIM, beside the executable or under its
  // install prefix, build tree.
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("NEWSDEDUP_SPM_SHIM")) {
    candidates.push_back(env);
  }
#ifdef NEWSDEDUP_SPM_SHIM_PATH
  candidates.push_back(ShippedFilePath(kShimFileName, NEWSDEDUP_SPM_SHIM_PATH));
#else
  candidates.push_back(ShippedFilePath(kShimFileName, ""));
#endif
  std::string errors;
  for (const std::string& path : candidates) {
    if (!FileExists(path)) continue;
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (lib == nullptr) {
      absl::StrAppend(&errors, " ", dlerror());
      continue;
    }
    auto table = std::make_unique<ShimApi>();
    table->load = reinterpret_cast<NdSpmLoadFn>(dlsym(lib, "nd_spm_load"));
    table->free = reinterpret_cast<NdSpmFreeFn>(dlsym(lib, "nd_spm_free"));
    table->encode =
        reinterpret_cast<NdSpmEncodeFn>(dlsym(lib, "nd_spm_encode"));
    table->id_to_piece =
        reinterpret_cast<NdSpmIdToPieceFn>(dlsym(lib, "nd_spm_id_to_piece"));
    table->vocab_size =
        reinterpret_cast<NdSpmVocabSizeFn>(dlsym(lib, "nd_spm_vocab_size"));
    table->train = reinterpret_cast<NdSpmTrainFn>(dlsym(lib, "nd_spm_train"));
    if (!table->load || !table->free || !table->encode || !table->id_to_piece ||
        !table->vocab_size || !table->train) {
      absl::StrAppend(&errors, " ", path, " lacks the shim's symbols");
      continue;
    }
    api = table.release();
    return api;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("cannot open the sentencepiece shim ", kShimFileName,
                   " (set NEWSDEDUP_SPM_SHIM to its path):", errors));
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(const ShimApi* api, void* handle)
      : api_(api), handle_(handle), vocab_size_(api->vocab_size(handle)) {}
  ~SentencePieceTokenizer() override { api_->free(handle_); }

  absl::Status Encode(absl::string_view text,
                      std::vector<int>* ids) const override {
    // One call usually suffices: a subword covers at least one byte.
    ids->resize(text.size() + 1);
    long n = api_->encode(handle_, text.data(), text.size(), ids->data(),
                          ids->size());
    if (n < 0) return absl::InternalError("sentencepiece failed to encode");
    if (static_cast<size_t>(n) > ids->size()) {
      ids->resize(n);
      n = api_->encode(handle_, text.data(), text.size(), ids->data(),
                       ids->size());
    }
    ids->resize(n);
    return absl::OkStatus();
  }

  std::string IdToPiece(int id) const override {
    char buf[256];
    const long n = api_->id_to_piece(handle_, id, buf, sizeof(buf));
    return n < 0 ? std::string() : std::string(buf);
  }

  int vocab_size() const override { return vocab_size_; }

 private:
  const ShimApi* api_;
  void* handle_;
  const int vocab_size_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadSentencePiece(
    const std::string& model_path) {
  if (!FileExists(model_path)) {
    return absl::NotFoundError(
        absl::StrCat("tokenizer model not found: ", model_path));
  }
  absl::StatusOr<const ShimApi*> api = OpenShim();
  if (!api.ok()) return api.status();
  char error[512] = {0};
  void* handle = (*api)->load(model_path.c_str(), error, sizeof(error));
  if (handle == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load tokenizer model ", model_path, ": ", error));
  }
  return std::make_unique<SentencePieceTokenizer>(*api, handle);
}

std::string TokenizerFingerprint(const Tokenizer& tokenizer) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (int id = 0; id < tokenizer.vocab_size(); ++id) {
    const std::string piece = tokenizer.IdToPiece(id);
    XXH3_64bits_update(state, piece.data(), piece.size() + 1);  // with NUL
  }
  const uint64_t hash = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return absl::StrCat("spm-", tokenizer.vocab_size(), "-", absl::Hex(hash));
}

absl::Status TrainSentencePieceModel(const std::string& args) {
  absl::StatusOr<const ShimApi*> api = OpenShim();
  if (!api.ok()) return api.status();
  char error[512] = {0};
  if ((*api)->train(args.c_str(), error, sizeof(error)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sentencepiece training failed: ", error));
  }
  return absl::OkStatus();
}

std::string DefaultTokenizerModelPath() {
#ifdef NEWSDEDUP_DEFAULT_MODEL_PATH
  return ShippedFilePath(kModelFileName, NEWSDEDUP_DEFAULT_MODEL_PATH);
#else
  return ShippedFilePath(kModelFileName, "");
#endif
}

}  // namespace newsdedup
