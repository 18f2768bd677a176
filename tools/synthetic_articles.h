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
#include "services/article.h"

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

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_SYNTHETIC_ARTICLES_H_
