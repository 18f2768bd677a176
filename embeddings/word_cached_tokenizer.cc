#include "embeddings/word_cached_tokenizer.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "common/status_macros.h"

namespace newsdedup {
namespace {

class WordCachedTokenizer final : public Tokenizer {
 public:
  WordCachedTokenizer(std::unique_ptr<Tokenizer> tokenizer, size_t max_words)
      : tokenizer_(std::move(tokenizer)), max_words_(max_words) {}

  absl::Status Encode(absl::string_view text,
                      std::vector<int>* ids) const override {
    ids->clear();
    std::vector<absl::string_view> words;
    for (size_t start = 0; start < text.size();) {
      size_t end = text.find(' ', start);
      if (end == absl::string_view::npos) end = text.size();
      if (end > start) words.push_back(text.substr(start, end - start));
      start = end + 1;
    }
    // Words not cached yet: their places in `words`.
    std::vector<size_t> missing;
    std::vector<size_t> missing_at;  // where their ids go in *ids
    {
      absl::ReaderMutexLock lock(&mu_);
      for (size_t i = 0; i < words.size(); ++i) {
        auto it = cache_.find(words[i]);
        if (it != cache_.end()) {
          ids->insert(ids->end(), it->second.begin(), it->second.end());
        } else {
          missing.push_back(i);
          missing_at.push_back(ids->size());
        }
      }
    }
    if (missing.empty()) return absl::OkStatus();
    // Each alone, back to front so that each place stays valid.
    std::vector<Ids> found(missing.size());
    std::vector<int> word_ids;
    for (size_t k = missing.size(); k-- > 0;) {
      RETURN_IF_ERROR(tokenizer_->Encode(words[missing[k]], &word_ids));
      ids->insert(ids->begin() + missing_at[k], word_ids.begin(),
                  word_ids.end());
      found[k].assign(word_ids.begin(), word_ids.end());
    }
    absl::MutexLock lock(&mu_);
    for (size_t k = 0; k < missing.size() && cache_.size() < max_words_; ++k) {
      const absl::string_view word = words[missing[k]];
      if (!cache_.contains(word)) cache_.emplace(Keep(word), found[k]);
    }
    return absl::OkStatus();
  }

  std::string IdToPiece(int id) const override {
    return tokenizer_->IdToPiece(id);
  }
  int vocab_size() const override { return tokenizer_->vocab_size(); }

 private:
  // A copy of `word` that lives as long as the tokenizer.
  absl::string_view Keep(absl::string_view word) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    constexpr size_t kBlockBytes = 64 * 1024;
    if (word.size() > kBlockBytes / 4) {  // a long one gets its own block
      blocks_.push_back(std::make_unique<char[]>(word.size()));
      std::memcpy(blocks_.back().get(), word.data(), word.size());
      return absl::string_view(blocks_.back().get(), word.size());
    }
    if (blocks_.empty() || block_used_ + word.size() > kBlockBytes) {
      blocks_.push_back(std::make_unique<char[]>(kBlockBytes));
      block_used_ = 0;
    }
    char* copy = blocks_.back().get() + block_used_;
    std::memcpy(copy, word.data(), word.size());
    block_used_ += word.size();
    return absl::string_view(copy, word.size());
  }

  const std::unique_ptr<Tokenizer> tokenizer_;
  const size_t max_words_;
  mutable absl::Mutex mu_;
  // Words by their bytes (kept in blocks_), with their ids (most words
  // have at most four: no allocation).
  using Ids = absl::InlinedVector<int, 4>;
  mutable absl::flat_hash_map<absl::string_view, Ids> cache_
      ABSL_GUARDED_BY(mu_);
  mutable std::vector<std::unique_ptr<char[]>> blocks_ ABSL_GUARDED_BY(mu_);
  mutable size_t block_used_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

std::unique_ptr<Tokenizer> NewWordCachedTokenizer(
    std::unique_ptr<Tokenizer> tokenizer, size_t max_words) {
  return std::make_unique<WordCachedTokenizer>(std::move(tokenizer), max_words);
}

}  // namespace newsdedup
