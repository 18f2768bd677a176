#include "embeddings/word_cached_tokenizer.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
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
    // Each word's ids: a range of `cached` (copied under the lock, which
    // a writer may take as soon as it is released), or of `fresh` for a
    // word the cache lacks.
    struct Word {
      absl::string_view text;
      bool cached = false;
      size_t begin = 0, end = 0;
    };
    std::vector<Word> words;
    for (absl::string_view word :
         absl::StrSplit(text, ' ', absl::SkipEmpty())) {
      words.push_back({word});
    }
    std::vector<int> cached;
    bool room = false;
    {
      absl::ReaderMutexLock lock(&mu_);
      for (Word& word : words) {
        auto it = cache_.find(word.text);
        if (it == cache_.end()) continue;
        word.cached = true;
        word.begin = cached.size();
        cached.insert(cached.end(), it->second.begin(), it->second.end());
        word.end = cached.size();
      }
      room = cache_.size() < max_words_;
    }
    std::vector<int> fresh;
    std::vector<int> word_ids;
    for (Word& word : words) {
      if (word.cached) continue;
      RETURN_IF_ERROR(tokenizer_->Encode(word.text, &word_ids));
      word.begin = fresh.size();
      fresh.insert(fresh.end(), word_ids.begin(), word_ids.end());
      word.end = fresh.size();
    }
    ids->reserve(cached.size() + fresh.size());
    for (const Word& word : words) {
      const std::vector<int>& from = word.cached ? cached : fresh;
      ids->insert(ids->end(), from.begin() + word.begin,
                  from.begin() + word.end);
    }
    if (!room || fresh.empty()) return absl::OkStatus();
    absl::MutexLock lock(&mu_);
    for (const Word& word : words) {
      if (cache_.size() >= max_words_) break;
      if (word.cached || word.text.size() > kMaxCachedWordBytes ||
          cache_.contains(word.text)) {
        continue;
      }
      cache_.emplace(Keep(word.text),
                     Ids(fresh.begin() + word.begin, fresh.begin() + word.end));
    }
    return absl::OkStatus();
  }

  std::string IdToPiece(int id) const override {
    return tokenizer_->IdToPiece(id);
  }
  int vocab_size() const override { return tokenizer_->vocab_size(); }

 private:
  // Longer "words" (a URL, a run of text in a script written without
  // spaces) rarely come again and would make the cache's size a matter
  // of the input: they are tokenized every time.
  static constexpr size_t kMaxCachedWordBytes = 64;

  // A copy of `word` (at most kMaxCachedWordBytes) that lives as long as
  // the tokenizer.
  absl::string_view Keep(absl::string_view word) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    constexpr size_t kBlockBytes = 64 * 1024;
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
