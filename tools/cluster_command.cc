// `newsdedup cluster`: JSONL articles in, JSONL assignments out.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tools/article_jsonl.h"
#include "tools/commands.h"
#include "tools/engine_flags.h"
#include "tools/progress.h"

namespace newsdedup {
namespace {

struct ClusterFlags {
  std::string input = "-";
  std::string output = "-";
  bool resolve_merges = false;
  int summary = 0;
  EngineFlags engine;
};

nlohmann::json AssignmentJson(const Assignment& a) {
  nlohmann::json out;
  out["cluster_id"] = a.cluster_id;
  out["relation"] = RelationName(a.relation);
  out["duplicate_of"] = a.duplicate_of.empty() ? nlohmann::json()
                                               : nlohmann::json(a.duplicate_of);
  out["nearest_id"] = a.nearest_article_id;
  out["nearest_similarity"] = a.nearest_similarity;
  out["cluster_similarity"] = a.cluster_similarity;
  out["threshold"] = a.threshold;
  out["representative_id"] = a.representative_id;
  out["representative_title"] = a.representative_title;
  out["cluster_size"] = a.cluster_size;
  out["runner_up_cluster_id"] = a.runner_up_cluster_id;
  out["runner_up_similarity"] = a.runner_up_similarity;
  out["shared_terms"] = a.shared_terms;
  out["version"] = a.version;
  return out;
}

void PrintSummary(const ClusteringEngine& engine, int limit,
                  std::ostream& out) {
  const std::vector<ClusterSummary> clusters = engine.ListClusters();
  out << absl::StrFormat("%d stories; the %d largest:\n", clusters.size(),
                         std::min<size_t>(limit, clusters.size()));
  out << absl::StrFormat("%-12s %5s %7s  %s\n", "story", "size", "sources",
                         "representative headline");
  for (size_t i = 0; i < clusters.size() && static_cast<int>(i) < limit; ++i) {
    const ClusterSummary& c = clusters[i];
    out << absl::StrFormat("%-12s %5d %7d  %s\n", c.cluster_id, c.size,
                           c.num_sources, c.representative_title);
  }
}

int RunCluster(const ClusterFlags& flags) {
  auto engine = BuildEngine(flags.engine);
  if (!engine.ok()) {
    std::cerr << "newsdedup cluster: " << engine.status().message() << "\n";
    return kExitFailure;
  }
  auto in = OpenInput(flags.input);
  if (!in.ok()) {
    std::cerr << "newsdedup cluster: " << in.status().message() << "\n";
    return kExitFailure;
  }
  std::ofstream file;
  if (flags.output != "-") {
    file.open(flags.output);
    if (!file) {
      std::cerr << "newsdedup cluster: cannot write " << flags.output << "\n";
      return kExitFailure;
    }
  }
  std::ostream& out = flags.output == "-" ? std::cout : file;
  std::error_code size_error;
  const int64_t total_bytes =
      flags.input == "-" ? 0
                         : static_cast<int64_t>(std::filesystem::file_size(
                               flags.input, size_error));
  Progress progress(size_error ? 0 : total_bytes);

  int64_t accepted = 0, rejected = 0;
  std::vector<nlohmann::json> pending;  // only with --resolve-merges
  const absl::Time start = absl::Now();
  // Articles go to the engine in batches (AssignBatch reads texts ahead
  // on a second core); lines that do not parse wait with them, so that
  // messages keep the input's order.
  struct Line {
    int64_t number;
    absl::StatusOr<ParsedArticle> parsed;
  };
  std::vector<Line> lines;
  auto flush = [&] {
    std::vector<Article> articles;
    for (const Line& l : lines) {
      if (l.parsed.ok()) articles.push_back(l.parsed->article);
    }
    std::vector<absl::StatusOr<Assignment>> answers =
        (*engine)->AssignBatch(articles);
    size_t next_answer = 0;
    for (const Line& l : lines) {
      absl::StatusOr<Assignment> answer =
          l.parsed.ok() ? std::move(answers[next_answer++]) : l.parsed.status();
      if (!answer.ok()) {
        ++rejected;
        std::cerr << "line " << l.number << ": " << answer.status().message()
                  << "\n";
        continue;
      }
      ++accepted;
      if (answer->version > 1) {
        std::cerr << "line " << l.number << ": id " << l.parsed->article.id
                  << " was seen before with different content; treated as "
                     "version "
                  << answer->version << " of that article\n";
      }
      nlohmann::json row = AssignmentJson(*answer);
      row["id"] = l.parsed->article.id;
      row["title"] = l.parsed->article.title;
      if (flags.resolve_merges) {
        pending.push_back(std::move(row));
      } else {
        out << row.dump(-1, ' ', false,
                        nlohmann::json::error_handler_t::replace)
            << "\n";
      }
    }
    lines.clear();
    progress.Update(
        accepted + rejected,
        flags.input == "-" ? 0 : static_cast<int64_t>((*in)->tellg()));
  };
  ForEachArticleLine(**in,
                     [&](int64_t line, absl::StatusOr<ParsedArticle> parsed) {
                       lines.push_back({line, std::move(parsed)});
                       if (lines.size() >= kAssignBatchSize) flush();
                     });
  flush();
  progress.Finish(accepted + rejected);
  for (nlohmann::json& row : pending) {
    // Final story of each article, after every merge.
    row["cluster_id"] =
        *(*engine)->ClusterOfArticle(row["id"].get<std::string>());
    out << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
        << "\n";
  }
  out.flush();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const EngineStats stats = (*engine)->stats();
  std::cerr << absl::StrFormat(
      "newsdedup cluster: %d articles (%d rejected) -> %d stories, %d exact "
      "and %d near duplicates, %d merges, %.1fs\n",
      accepted, rejected, stats.live_clusters, stats.exact_duplicates,
      stats.near_duplicates, stats.merges, seconds);
  if (flags.summary > 0) {
    PrintSummary(**engine, flags.summary,
                 flags.output == "-" ? std::cerr : std::cout);
  }
  return ExitCodeFor(accepted, rejected);
}

}  // namespace

void RegisterClusterCommand(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<ClusterFlags>();
  CLI::App* command = app->add_subcommand(
      "cluster",
      "Cluster JSONL articles into stories; writes one JSONL answer per "
      "article\n(id, title, cluster_id, relation, duplicate_of, "
      "representative_id, ...).\nBad lines are reported on stderr with their "
      "line number and skipped;\nexit code 3 means some lines were rejected, 1 "
      "that all were. "
      "An id seen before with different content\nis a new version of that "
      "article (reported on stderr).");
  command
      ->add_option("input", flags->input,
                   "JSONL file of articles, or - for stdin")
      ->capture_default_str();
  command
      ->add_option("-o,--output", flags->output,
                   "Where to write answers, - for stdout")
      ->capture_default_str();
  command->add_flag("--resolve-merges", flags->resolve_merges,
                    "Write each article's final story (after later merges) "
                    "instead of the online answer; output waits for the end");
  command
      ->add_option("--summary", flags->summary,
                   "Print the N largest stories with their representative "
                   "headlines at the end")
      ->check(CLI::NonNegativeNumber);
  AddEngineFlags(command, &flags->engine);
  command->callback([flags, exit_code] { *exit_code = RunCluster(*flags); });
}

}  // namespace newsdedup
