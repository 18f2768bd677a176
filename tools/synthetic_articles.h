// Synthetic articles for benchmarks and load tests, made from real ones:
// each is a real title plus a few words drawn from the whole corpus, so
// there are as many as asked, none is an exact duplicate, and every one
// needs embedding and search like real news.
#ifndef NEWSDEDUP_TOOLS_SYNTHETIC_ARTICLES_H_
#define NEWSDEDUP_TOOLS_SYNTHETIC_ARTICLES_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/engine/article.h"
#include "tools/labelled_articles.h"

namespace newsdedup {

class SyntheticArticles {
 public:
  // Reads the titles of a JSONL file of articles.
  // Errors: those of opening the file; kInvalidArgument when no line has a
  // title.
  static absl::StatusOr<SyntheticArticles> FromJsonl(const std::string& path,
                                                     uint64_t seed);

  SyntheticArticles(std::vector<std::string> titles, uint64_t seed);

  // A real title plus three corpus words.
  std::string MakeTitle();

  // Article "<prefix><n>" with a synthetic title and one of 50 sources,
  // published n * `spacing` after `start`.
  Article Make(int64_t n, absl::Time start, absl::Duration spacing,
               const std::string& prefix = "synthetic-");

 private:
  std::vector<std::string> titles_;
  std::vector<std::string> words_;
  std::mt19937_64 rng_;
};

// A labelled corpus of any size for scale benchmarks, built from the words
// of real headlines so that word frequencies (and so IDF weights) look like
// real news. Each synthetic story has its own topic words (drawn from the
// rarer half of the vocabulary) and a three-word name (from words written
// with a capital inside real sentences); each of its articles is a
// sentence-case headline of the name, three topic words and three common
// words (drawn by frequency), in random order. 5% of articles are exact
// copies of an earlier article of their story and 10% near copies (one word
// replaced). Story sizes are 1 + geometric with the given mean; a story's
// articles fall within 36 hours of its start, starts spread over `span`.
class StoryCorpus {
 public:
  // Reads the vocabulary from the titles and bodies of JSONL files.
  // Errors: those of opening a file; kInvalidArgument for too few words.
  static absl::StatusOr<StoryCorpus> FromJsonl(
      const std::vector<std::string>& paths, uint64_t seed);

  // From the three labelled clustering files in `data_dir` (UCI
  // headlines, ECB+ and GVA full texts): the benchmarks' vocabulary.
  static absl::StatusOr<StoryCorpus> FromClusteringFiles(
      const std::string& data_dir, uint64_t seed);

  // `n` articles sorted by publication time, ids "<prefix><i>".
  std::vector<LabelledArticle> Generate(int64_t n, absl::Time start,
                                        absl::Duration span,
                                        double mean_story_size = 20,
                                        const std::string& prefix = "s");

 private:
  StoryCorpus(std::vector<std::string> words, std::vector<double> counts,
              std::vector<std::string> names, uint64_t seed);

  std::vector<std::string> words_;  // lower case, by decreasing count
  std::discrete_distribution<size_t> common_;  // by frequency
  size_t rare_from_ = 0;            // words_[rare_from_..] are the rarer half
  std::vector<std::string> names_;  // capitalised words
  std::mt19937_64 rng_;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_SYNTHETIC_ARTICLES_H_
