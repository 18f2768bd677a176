// `newsdedup eval`: quality of the engine on labelled data.
//
// Clustering mode replays a labelled JSONL file in `published` order (the
// order the service would see it) and scores the final clustering, merges
// resolved, against the gold `story` labels. Pairs mode scores the
// embedder's similarity against graded human judgements.
#include <omp.h>
#include <xxhash.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "embeddings/normalizer.h"
#include "tools/article_jsonl.h"
#include "tools/commands.h"
#include "tools/engine_flags.h"
#include "tools/labelled_articles.h"
#include "tools/quality_scores.h"

namespace newsdedup {
namespace {

struct EvalFlags {
  std::string input;
  LabelledSetOptions labels;
  bool sweep = false;
  bool pairs = false;
  EngineFlags engine;
};

struct RunResult {
  BCubed bcubed;
  double ari = 0;
  int64_t clusters = 0;
  int64_t merges = 0;
  int64_t rejected = 0;
  double articles_per_second = 0;
};

// Clusters `data`; `report` writes each rejected article to stderr with its
// line number, as `newsdedup cluster` does.
absl::StatusOr<RunResult> RunOnce(const EngineFlags& flags,
                                  const std::vector<LabelledArticle>& data,
                                  bool report) {
  auto engine = BuildEngine(flags);
  if (!engine.ok()) return engine.status();
  RunResult result;
  std::vector<int64_t> gold, predicted;
  std::vector<const std::string*> ids;
  const absl::Time start = absl::Now();
  // In batches, as `newsdedup cluster` sends them (same answers as one
  // Assign at a time, with texts read ahead on a second core).
  for (size_t from = 0; from < data.size(); from += kAssignBatchSize) {
    std::vector<Article> batch;
    for (size_t i = from; i < std::min(data.size(), from + kAssignBatchSize);
         ++i) {
      batch.push_back(data[i].article);
    }
    const std::vector<absl::StatusOr<Assignment>> answers =
        (*engine)->AssignBatch(batch);
    for (size_t i = 0; i < answers.size(); ++i) {
      if (!answers[i].ok()) {
        ++result.rejected;
        if (report) {
          std::cerr << "line " << data[from + i].line << ": "
                    << answers[i].status().message() << "\n";
        }
        continue;
      }
      gold.push_back(data[from + i].story);
      ids.push_back(&data[from + i].article.id);
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  result.articles_per_second = data.size() / std::max(seconds, 1e-9);
  absl::flat_hash_map<std::string, int64_t> cluster_number;
  for (const std::string* id : ids) {
    const std::string cluster = *(*engine)->ClusterOfArticle(*id);
    predicted.push_back(
        cluster_number.try_emplace(cluster, cluster_number.size())
            .first->second);
  }
  result.bcubed = BCubedScores(gold, predicted);
  result.ari = AdjustedRandIndex(gold, predicted);
  result.clusters = static_cast<int64_t>(cluster_number.size());
  result.merges = (*engine)->stats().merges;
  return result;
}

void PrintResult(const RunResult& r) {
  std::cout << absl::StrFormat(
      "B3 P=%.3f R=%.3f F1=%.3f ARI=%.3f clusters=%d merges=%d "
      "articles/s=%.0f\n",
      r.bcubed.precision, r.bcubed.recall, r.bcubed.f1, r.ari, r.clusters,
      r.merges, r.articles_per_second);
}

int RunClusteringEval(const EvalFlags& flags) {
  absl::StatusOr<LabelledSet> set =
      ReadLabelledArticles(flags.input, flags.labels, std::cerr);
  if (!set.ok()) {
    std::cerr << "newsdedup eval: " << set.status().message() << "\n";
    return set.status().code() == absl::StatusCode::kInvalidArgument
               ? kExitUsage
               : kExitFailure;
  }
  const std::vector<LabelledArticle>& data = set->articles;
  const int64_t bad = set->bad_lines;
  if (data.empty()) {
    std::cerr << "newsdedup eval: no labelled articles in " << flags.input
              << "\n";
    return kExitFailure;
  }
  std::cout << absl::StrFormat("%s: %d articles, %d gold stories\n",
                               flags.input, data.size(), set->stories);
  // Which join decision is scored: the learned model's weights, or the
  // hand-set thresholds.
  absl::StatusOr<std::shared_ptr<const StoryScorer>> scorer =
      LoadScorer(flags.engine.scorer);
  if (scorer.ok() && *scorer != nullptr) {
    std::cout << "scorer " << flags.engine.scorer << ": "
              << (*scorer)->DescribeWeights() << "\n";
  } else if (scorer.ok()) {
    std::cout << "join: hand-set thresholds (--scorer none)\n";
  }

  if (!flags.sweep) {
    absl::StatusOr<RunResult> r = RunOnce(flags.engine, data, /*report=*/true);
    if (!r.ok()) {
      std::cerr << "newsdedup eval: " << r.status().message() << "\n";
      return kExitFailure;
    }
    PrintResult(*r);
    if (bad + r->rejected > 0) {
      std::cerr << "newsdedup eval: " << bad + r->rejected
                << " articles rejected (see above); scores cover the rest\n";
    }
    return ExitCodeFor(static_cast<int64_t>(data.size()) - r->rejected,
                       bad + r->rejected);
  }
  RunResult best;
  EngineFlags best_flags;
  for (float short_threshold : {0.06f, 0.08f, 0.10f, 0.12f, 0.15f, 0.20f}) {
    for (float long_threshold : {0.20f, 0.25f, 0.30f, 0.35f, 0.40f}) {
      EngineFlags trial = flags.engine;
      trial.engine.short_text_threshold = short_threshold;
      trial.engine.long_text_threshold = long_threshold;
      absl::StatusOr<RunResult> r = RunOnce(trial, data, /*report=*/false);
      if (!r.ok()) {
        std::cerr << "newsdedup eval: " << r.status().message() << "\n";
        return kExitFailure;
      }
      std::cout << absl::StrFormat("short=%.2f long=%.2f  ", short_threshold,
                                   long_threshold);
      PrintResult(*r);
      if (r->bcubed.f1 > best.bcubed.f1) {
        best = *r;
        best_flags = trial;
      }
    }
  }
  std::cout << absl::StrFormat(
      "best: --short-threshold %.2f --long-threshold %.2f  ",
      best_flags.engine.short_text_threshold,
      best_flags.engine.long_text_threshold);
  PrintResult(best);
  return kExitOk;
}

int RunPairsEval(const EvalFlags& flags) {
  auto in = OpenInput(flags.input);
  if (!in.ok()) {
    std::cerr << "newsdedup eval: " << in.status().message() << "\n";
    return kExitFailure;
  }
  auto embedder = NewLexicalEmbedder(flags.engine.embedder);
  if (!embedder.ok()) {
    std::cerr << "newsdedup eval: " << embedder.status().message() << "\n";
    return kExitFailure;
  }
  struct Pair {
    std::string lang, lang1, lang2, text1, text2;
    std::vector<std::string> names1, names2;
    double overall;
  };
  std::vector<Pair> pairs;
  std::string line;
  int64_t number = 0, bad = 0;
  while (std::getline(**in, line)) {
    ++number;
    if (line.empty()) continue;
    try {
      const nlohmann::json j = nlohmann::json::parse(line);
      const std::string l1 = j.at("lang1"), l2 = j.at("lang2");
      std::string text1 = j.at("text1"), text2 = j.at("text2");
      absl::StatusOr<std::string> n1 = NormalizeText(text1);
      absl::StatusOr<std::string> n2 = NormalizeText(text2);
      if (!n1.ok() || !n2.ok()) {
        std::cerr << "line " << number << ": invalid UTF-8\n";
        ++bad;
        continue;
      }
      pairs.push_back(
          {l1 == l2 ? l1 : l1 + l2, l1, l2, *n1, *n2,
           ExtractNameWords(text1).value_or(std::vector<std::string>()),
           ExtractNameWords(text2).value_or(std::vector<std::string>()),
           j.at("overall").get<double>()});
    } catch (const nlohmann::json::exception& e) {
      std::cerr << "line " << number << ": " << e.what() << "\n";
      ++bad;
    }
  }
  // Document frequencies from every text first, as a service would have
  // after ingesting them; then compare with the statistics frozen.
  for (const Pair& p : pairs) {
    (void)(*embedder)->Embed({"", p.text1, {}, p.names1, p.lang1},
                             EmbedMode::kObserve);
    (void)(*embedder)->Embed({"", p.text2, {}, p.names2, p.lang2},
                             EmbedMode::kObserve);
  }
  std::vector<double> similarity, target;
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>>
      by_lang;
  for (const Pair& p : pairs) {
    auto e1 = (*embedder)->Embed({"", p.text1, {}, p.names1, p.lang1},
                                 EmbedMode::kReadOnly);
    auto e2 = (*embedder)->Embed({"", p.text2, {}, p.names2, p.lang2},
                                 EmbedMode::kReadOnly);
    if (!e1.ok() || !e2.ok()) continue;
    const double sim = Similarity(*e1, *e2);
    similarity.push_back(sim);
    target.push_back(-p.overall);
    by_lang[p.lang].first.push_back(sim);
    by_lang[p.lang].second.push_back(-p.overall);
  }
  if (similarity.empty()) {
    std::cerr << "newsdedup eval: no valid pair in " << flags.input
              << " (each line needs lang1, lang2, text1, text2 and overall)\n";
    return kExitFailure;
  }
  std::vector<double> separable_scores;
  std::vector<bool> same_story;
  for (size_t i = 0; i < similarity.size(); ++i) {
    if (-target[i] <= 1.5 || -target[i] >= 3.5) {
      separable_scores.push_back(similarity[i]);
      same_story.push_back(-target[i] <= 1.5);
    }
  }
  std::cout << absl::StrFormat("pairs=%d pearson=%.3f auc_same_vs_diff=%.3f\n",
                               similarity.size(),
                               PearsonCorrelation(similarity, target),
                               RocAuc(separable_scores, same_story));
  for (const auto& [lang, values] : by_lang) {
    std::cout << absl::StrFormat(
        "  %-5s pairs=%-4d pearson=%.3f\n", lang, values.first.size(),
        PearsonCorrelation(values.first, values.second));
  }
  return bad > 0 ? kExitSomeRejected : kExitOk;
}

}  // namespace

void RegisterEvalCommand(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<EvalFlags>();
  CLI::App* command = app->add_subcommand(
      "eval",
      "Score the engine on labelled data. Replays a JSONL file in published "
      "order and prints B-cubed precision/recall/F1, adjusted Rand index,\n"
      "cluster count and articles/s (one core). --sweep tries a grid of join "
      "thresholds; --pairs scores similarity on labelled article pairs\n"
      "(Pearson per language pair and overall, ROC AUC).");
  command->add_option("input", flags->input, "Labelled JSONL file")
      ->required()
      ->check(CLI::ExistingFile);
  AddLabelledSetFlags(command, &flags->labels);
  command->add_flag("--sweep", flags->sweep,
                    "Try a grid of join thresholds and print the best");
  command->add_flag("--pairs", flags->pairs,
                    "Input holds article pairs (text1, text2, overall 1-4, "
                    "lang1, lang2): score similarity instead of clustering");
  AddEngineFlags(command, &flags->engine);
  command->callback([flags, exit_code] {
    // Throughput is reported for one core.
    omp_set_num_threads(1);
    *exit_code =
        flags->pairs ? RunPairsEval(*flags) : RunClusteringEval(*flags);
  });
}

}  // namespace newsdedup
