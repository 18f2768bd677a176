// `newsdedup train-scorer`: learns the join model
// (services/engine/story_scorer.h) from labelled files.
//
// Each file is replayed through a fresh engine in publication order, as
// `eval` does. For every article the engine reports what it measured for
// each candidate story; the example is positive when most articles the
// story holds so far share the article's gold story. The candidates come
// from the policy given by --scorer ("none": the hand-set thresholds), so
// a second round with the first round's model (--rounds 2) also learns
// from the mistakes that model makes.
#include <omp.h>

#include <fstream>
#include <iostream>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "services/engine/story_scorer.h"
#include "tools/commands.h"
#include "tools/engine_flags.h"
#include "tools/labelled_articles.h"

namespace newsdedup {
namespace {

struct TrainScorerFlags {
  std::vector<std::string> inputs;
  std::string output;
  LabelledSetOptions labels;
  int folds = 5;
  int rounds = 2;
  std::string examples_csv;  // also write the last round's examples here
  ScorerTrainingOptions training;
  EngineFlags engine;
};

// Examples per article: its closest candidate stories by centroid
// similarity. One (the decision between joining it and starting a new
// story) transfers best to collections not trained on (docs/quality.md).
constexpr int kClosestCandidates = 1;

// How many articles of each gold story a predicted story holds.
using Composition = absl::flat_hash_map<int64_t, int>;

bool MostlyOf(const Composition& story, int64_t gold) {
  int best = 0, of_gold = 0;
  for (const auto& [label, count] : story) {
    best = std::max(best, count);
    if (label == gold) of_gold = count;
  }
  return of_gold > 0 && of_gold == best;
}

// Replays one file and appends its examples; `file_index` keeps the
// stories of different files apart in the cross-validation groups.
absl::Status CollectExamples(const EngineFlags& flags,
                             const std::vector<LabelledArticle>& data,
                             int file_index,
                             std::vector<ScorerExample>* examples) {
  absl::flat_hash_map<std::string, Composition> stories;
  int64_t gold = -1;
  EngineFlags with_hooks = flags;
  with_hooks.engine.on_candidates =
      [&](absl::Span<const EngineOptions::CandidateStory> candidates) {
        // The decision is between the closest few; far candidates are
        // easy negatives that would dominate the fit.
        std::vector<const EngineOptions::CandidateStory*> closest;
        for (const EngineOptions::CandidateStory& c : candidates) {
          closest.push_back(&c);
        }
        std::sort(closest.begin(), closest.end(), [](auto* a, auto* b) {
          return a->evidence.centroid_similarity >
                 b->evidence.centroid_similarity;
        });
        if (closest.size() > static_cast<size_t>(kClosestCandidates)) {
          closest.resize(kClosestCandidates);
        }
        for (const EngineOptions::CandidateStory* candidate : closest) {
          const EngineOptions::CandidateStory& c = *candidate;
          ScorerExample e;
          e.features = StoryScorer::Features(c.evidence);
          auto story = stories.find(c.story_id);
          e.same_story =
              story != stories.end() && MostlyOf(story->second, gold);
          e.group = (static_cast<uint64_t>(file_index) << 40) |
                    static_cast<uint64_t>(gold);
          examples->push_back(e);
        }
      };
  with_hooks.engine.on_story_change =
      [&](const EngineOptions::StoryChange& change) {
        if (change.kind != EngineOptions::StoryChange::Kind::kMerge) return;
        Composition absorbed = std::move(stories[change.absorbed_id]);
        stories.erase(change.absorbed_id);
        for (const auto& [label, count] : absorbed) {
          stories[change.story_id][label] += count;
        }
      };
  ASSIGN_OR_RETURN(std::unique_ptr<ClusteringEngine> engine,
                   BuildEngine(with_hooks));
  for (const LabelledArticle& a : data) {
    gold = a.story;
    absl::StatusOr<Assignment> answer = engine->Assign(a.article);
    if (!answer.ok()) continue;  // eval reports these; training skips them
    ++stories[answer->cluster_id][a.story];
  }
  return absl::OkStatus();
}

int RunTrainScorer(const TrainScorerFlags& flags, const std::string& command) {
  std::vector<std::vector<LabelledArticle>> files;
  for (const std::string& path : flags.inputs) {
    absl::StatusOr<LabelledSet> set =
        ReadLabelledArticles(path, flags.labels, std::cerr);
    if (!set.ok()) {
      std::cerr << "newsdedup train-scorer: " << set.status().message() << "\n";
      return kExitFailure;
    }
    std::cout << absl::StrFormat("%s: %d articles, %d gold stories\n", path,
                                 set->articles.size(), set->stories);
    files.push_back(std::move(set->articles));
  }
  EngineFlags engine = flags.engine;
  std::vector<ScorerExample> examples;
  absl::StatusOr<StoryScorer> model = absl::UnknownError("no round ran");
  for (int round = 1; round <= flags.rounds; ++round) {
    for (size_t f = 0; f < files.size(); ++f) {
      const absl::Status collected =
          CollectExamples(engine, files[f], static_cast<int>(f), &examples);
      if (!collected.ok()) {
        std::cerr << "newsdedup train-scorer: " << collected.message() << "\n";
        return kExitFailure;
      }
    }
    int64_t positives = 0;
    for (const ScorerExample& e : examples) positives += e.same_story;
    absl::StatusOr<ScorerValidation> validation =
        CrossValidateStoryScorer(examples, flags.folds, flags.training);
    model = TrainStoryScorer(examples, flags.training);
    if (!validation.ok() || !model.ok()) {
      std::cerr
          << "newsdedup train-scorer: "
          << (validation.ok() ? model.status() : validation.status()).message()
          << "\n";
      return kExitFailure;
    }
    std::cout << absl::StrFormat(
        "round %d (candidates from --scorer %s): %d examples, %d same-story; "
        "%d-fold cross-validation by story: log loss %.4f, accuracy %.4f\n",
        round, engine.scorer, examples.size(), positives, validation->folds,
        validation->log_loss, validation->accuracy);
    std::cout << "weights: " << model->DescribeWeights() << "\n";
    if (round < flags.rounds) {
      // The next round's candidates come from this round's model.
      const std::string next = flags.output + ".round" + std::to_string(round);
      std::ofstream(next) << model->Serialize("intermediate round");
      engine.scorer = next;
    }
  }
  if (!flags.examples_csv.empty()) {
    std::ofstream csv(flags.examples_csv);
    csv << "group,same_story," << absl::StrJoin(StoryScorer::kFeatureNames, ",")
        << "\n";
    for (const ScorerExample& e : examples) {
      csv << e.group << "," << e.same_story << ","
          << absl::StrJoin(e.features, ",") << "\n";
    }
  }
  const std::string provenance = absl::StrCat(
      "Trained by: ", command, "\n", "On: ", absl::FormatTime(absl::Now()),
      "\n", "Files: ", absl::StrJoin(flags.inputs, " "), "\n",
      absl::StrFormat("Examples: %d (rounds: %d, l2: %g)", examples.size(),
                      flags.rounds, flags.training.l2));
  std::ofstream out(flags.output);
  out << model->Serialize(provenance);
  out.flush();
  if (!out) {
    std::cerr << "newsdedup train-scorer: cannot write " << flags.output
              << "\n";
    return kExitFailure;
  }
  for (int round = 1; round < flags.rounds; ++round) {
    std::remove((flags.output + ".round" + std::to_string(round)).c_str());
  }
  std::cout << "wrote " << flags.output << "\n";
  return kExitOk;
}

}  // namespace

void RegisterTrainScorerCommand(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<TrainScorerFlags>();
  flags->engine.scorer = "none";
  CLI::App* command = app->add_subcommand(
      "train-scorer",
      "Learn the join model from labelled JSONL files (a gold story per "
      "article): replays each file,\nlabels every candidate story the engine "
      "weighs, fits a logistic regression and prints its\ncross-validated "
      "log loss (folds split by story) and weights. Ship the result with "
      "--scorer FILE.");
  command->add_option("inputs", flags->inputs, "Labelled JSONL files")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("-o,--output", flags->output, "Model file to write")
      ->required();
  AddLabelledSetFlags(command, &flags->labels);
  command->add_option("--folds", flags->folds, "Cross-validation folds")
      ->check(CLI::Range(2, 100))
      ->capture_default_str();
  command
      ->add_option("--rounds", flags->rounds,
                   "Rounds of collecting examples; from the second on, "
                   "with the previous round's model")
      ->check(CLI::Range(1, 10))
      ->capture_default_str();
  command
      ->add_option("--l2", flags->training.l2,
                   "Ridge penalty on the weights (not the bias)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command->add_option("--examples-csv", flags->examples_csv,
                      "Also write the examples (group, label, features) as "
                      "CSV, for analysis");
  AddEngineFlags(command, &flags->engine);
  command->callback([flags, exit_code] {
    omp_set_num_threads(1);
    std::vector<std::string> argv = {"newsdedup train-scorer"};
    for (const std::string& input : flags->inputs) argv.push_back(input);
    argv.push_back("-o " + flags->output);
    if (flags->labels.num_shards > 1) {
      argv.push_back(absl::StrCat("--num-shards ", flags->labels.num_shards,
                                  " --shard ", flags->labels.shard));
    }
    *exit_code = RunTrainScorer(*flags, absl::StrJoin(argv, " "));
  });
}

}  // namespace newsdedup
