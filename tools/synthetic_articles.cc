#include "tools/synthetic_articles.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "tools/article_jsonl.h"

namespace newsdedup {

absl::StatusOr<SyntheticArticles> SyntheticArticles::FromJsonl(
    const std::string& path, uint64_t seed) {
  ASSIGN_OR_RETURN(auto in, OpenInput(path));
  std::vector<std::string> titles;
  ForEachArticleLine(*in, [&](int64_t, absl::StatusOr<ParsedArticle> p) {
    if (p.ok() && !p->article.title.empty()) titles.push_back(p->article.title);
  });
  if (titles.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no titles in ", path));
  }
  return SyntheticArticles(std::move(titles), seed);
}

SyntheticArticles::SyntheticArticles(std::vector<std::string> titles,
                                     uint64_t seed)
    : titles_(std::move(titles)), rng_(seed) {
  for (const std::string& t : titles_) {
    for (absl::string_view w : absl::StrSplit(t, ' ', absl::SkipEmpty())) {
      words_.emplace_back(w);
    }
  }
}

std::string SyntheticArticles::MakeTitle() {
  std::string title = titles_[rng_() % titles_.size()];
  for (int i = 0; i < 3; ++i) {
    absl::StrAppend(&title, " ", words_[rng_() % words_.size()]);
  }
  return title;
}

Article SyntheticArticles::Make(int64_t n, absl::Time start,
                                absl::Duration spacing,
                                const std::string& prefix) {
  Article a;
  a.id = absl::StrCat(prefix, n);
  a.title = MakeTitle();
  a.source = absl::StrCat("source-", rng_() % 50);
  a.published = start + n * spacing;
  return a;
}

}  // namespace newsdedup
