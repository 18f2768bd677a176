#include "tools/labelled_articles.h"

#include <xxhash.h>

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "tools/article_jsonl.h"

namespace newsdedup {

void AddLabelledSetFlags(CLI::App* command, LabelledSetOptions* options) {
  command
      ->add_option("--label-field", options->label_field,
                   "Field holding the gold story label")
      ->capture_default_str();
  command
      ->add_option("--shard", options->shard,
                   "Use only the stories in this shard (with --num-shards)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command
      ->add_option("--num-shards", options->num_shards,
                   "Split the gold stories into this many disjoint shards "
                   "by a hash of their label")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

absl::StatusOr<LabelledSet> ReadLabelledArticles(
    const std::string& path, const LabelledSetOptions& options,
    std::ostream& errors) {
  if (options.num_shards < 1 || options.shard < 0 ||
      options.shard >= options.num_shards) {
    return absl::InvalidArgumentError(
        "--shard must be below --num-shards (and --num-shards at least 1)");
  }
  auto in = OpenInput(path);
  if (!in.ok()) return in.status();
  LabelledSet set;
  absl::flat_hash_map<std::string, int64_t> labels;
  ForEachArticleLine(**in, [&](int64_t line, absl::StatusOr<ParsedArticle> p) {
    if (p.ok()) {
      auto label = p->fields.find(options.label_field);
      if (label == p->fields.end() || !label->is_string()) {
        p = absl::InvalidArgumentError(absl::StrCat(
            options.label_field, ": missing gold label (see --label-field)"));
      } else {
        const std::string& name = label->get_ref<const std::string&>();
        if (XXH64(name.data(), name.size(), 0) % options.num_shards !=
            static_cast<uint64_t>(options.shard)) {
          return;  // another shard's story
        }
        const int64_t number =
            labels.try_emplace(name, labels.size()).first->second;
        set.articles.push_back({std::move(p->article), number, line});
        return;
      }
    }
    ++set.bad_lines;
    errors << "line " << line << ": " << p.status().message() << "\n";
  });
  set.stories = static_cast<int64_t>(labels.size());
  std::stable_sort(set.articles.begin(), set.articles.end(),
                   [](const LabelledArticle& a, const LabelledArticle& b) {
                     return a.article.published < b.article.published;
                   });
  return set;
}

}  // namespace newsdedup
