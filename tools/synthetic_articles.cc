#include "tools/synthetic_articles.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

absl::StatusOr<StoryCorpus> StoryCorpus::FromJsonl(
    const std::vector<std::string>& paths, uint64_t seed) {
  absl::flat_hash_map<std::string, int64_t> counts;
  absl::flat_hash_set<std::string> names;
  for (const std::string& path : paths) {
    ASSIGN_OR_RETURN(auto in, OpenInput(path));
    ForEachArticleLine(*in, [&](int64_t, absl::StatusOr<ParsedArticle> p) {
      if (!p.ok()) return;
      bool first = true;
      const std::string text =
          absl::StrCat(p->article.title, " . ", p->article.body);
      for (absl::string_view w :
           absl::StrSplit(text, absl::ByAnyChar(" \n\t"), absl::SkipEmpty())) {
        std::string word(w);
        // Letters only: punctuation and figures would make odd headlines.
        if (!std::all_of(word.begin(), word.end(),
                         [](unsigned char c) { return std::isalpha(c); })) {
          // A sentence ends at a full stop; other punctuation is skipped.
          first = !word.empty() && word.back() == '.';
          continue;
        }
        if (!first && std::isupper(static_cast<unsigned char>(word[0])) &&
            word.size() > 2) {
          names.insert(word);
        }
        first = false;
        absl::AsciiStrToLower(&word);
        ++counts[word];
      }
    });
  }
  std::vector<std::pair<int64_t, std::string>> by_count;
  for (auto& [word, count] : counts) by_count.emplace_back(count, word);
  if (by_count.size() < 100 || names.size() < 20) {
    return absl::InvalidArgumentError(
        "too few words in the titles to build a corpus");
  }
  std::sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> words;
  std::vector<double> weights;
  for (auto& [count, word] : by_count) {
    words.push_back(std::move(word));
    weights.push_back(static_cast<double>(count));
  }
  std::vector<std::string> name_list(names.begin(), names.end());
  std::sort(name_list.begin(), name_list.end());
  return StoryCorpus(std::move(words), std::move(weights), std::move(name_list),
                     seed);
}

absl::StatusOr<StoryCorpus> StoryCorpus::FromClusteringFiles(
    const std::string& data_dir, uint64_t seed) {
  return FromJsonl(
      {data_dir + "/uci-news-dev.jsonl", data_dir + "/ecbplus-dev.jsonl",
       data_dir + "/gva-dev.jsonl"},
      seed);
}

StoryCorpus::StoryCorpus(std::vector<std::string> words,
                         std::vector<double> counts,
                         std::vector<std::string> names, uint64_t seed)
    : words_(std::move(words)),
      common_(counts.begin(), counts.end()),
      rare_from_(words_.size() / 2),
      names_(std::move(names)),
      rng_(seed) {}

std::vector<LabelledArticle> StoryCorpus::Generate(int64_t n, absl::Time start,
                                                   absl::Duration span,
                                                   double mean_story_size,
                                                   const std::string& prefix) {
  std::geometric_distribution<int> extra(1.0 / mean_story_size);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto pick = [&](size_t from, size_t to) {
    return from + rng_() % (to - from);
  };
  std::vector<LabelledArticle> out;
  out.reserve(n);
  for (int64_t story = 0; static_cast<int64_t>(out.size()) < n; ++story) {
    std::vector<std::string> topic;
    for (int i = 0; i < 6; ++i) {
      topic.push_back(words_[pick(rare_from_, words_.size())]);
    }
    const std::string name = absl::StrCat(names_[pick(0, names_.size())], " ",
                                          names_[pick(0, names_.size())], " ",
                                          names_[pick(0, names_.size())]);
    const absl::Time story_start = start + unit(rng_) * span;
    const int64_t first = static_cast<int64_t>(out.size());
    const int size = 1 + extra(rng_);
    for (int k = 0; k < size && static_cast<int64_t>(out.size()) < n; ++k) {
      LabelledArticle a;
      a.story = story;
      a.article.source = absl::StrCat("outlet-", rng_() % 500);
      a.article.published = story_start + unit(rng_) * absl::Hours(36);
      const double kind = unit(rng_);
      const int64_t earlier = static_cast<int64_t>(out.size()) - first;
      if (earlier > 0 && kind < 0.15) {
        // A copy of an earlier article of the story; near copies change
        // one word.
        std::string title = out[first + rng_() % earlier].article.title;
        if (kind >= 0.05) {
          std::vector<std::string> w = absl::StrSplit(title, ' ');
          w[1 + rng_() % (w.size() - 1)] = words_[common_(rng_)];
          title = absl::StrJoin(w, " ");
        }
        a.article.title = std::move(title);
      } else {
        std::vector<std::string> w;
        for (int i = 0; i < 3; ++i) w.push_back(topic[rng_() % topic.size()]);
        for (int i = 0; i < 3; ++i) w.push_back(words_[common_(rng_)]);
        std::shuffle(w.begin(), w.end(), rng_);
        w.insert(w.begin() + 1 + rng_() % w.size(), name);
        w[0][0] = static_cast<char>(
            std::toupper(static_cast<unsigned char>(w[0][0])));
        a.article.title = absl::StrJoin(w, " ");
      }
      out.push_back(std::move(a));
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const LabelledArticle& a, const LabelledArticle& b) {
                     return a.article.published < b.article.published;
                   });
  for (int64_t i = 0; i < static_cast<int64_t>(out.size()); ++i) {
    out[i].article.id = absl::StrCat(prefix, i);
  }
  return out;
}

}  // namespace newsdedup
