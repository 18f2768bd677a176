// `newsdedup cluster`: JSONL articles in, JSONL assignments out.
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "newsdedup/v1/dedup.pb.h"
#include "services/api/api_messages.h"
#include "tools/answer_table.h"
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
  std::string format = "jsonl";  // or tsv, csv (tools/answer_table.h)
  std::string clusters;          // --clusters FILE
  int summary = 0;
  EngineFlags engine;
};

// `--clusters FILE`: one line per live cluster, a GetClusterResponse with
// every member (the API's shape, as `client get-cluster --json` prints).
absl::Status WriteClusters(const ClusteringEngine& engine,
                           const std::string& path) {
  std::ofstream out(path);
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  for (const ClusterSummary& summary : engine.ListClusters()) {
    absl::StatusOr<MemberPage> members = engine.ClusterMembers(
        summary.cluster_id, 0, std::numeric_limits<int>::max());
    if (!members.ok()) return members.status();
    v1::GetClusterResponse line;
    ToProto(summary, line.mutable_cluster());
    for (const ArticleView& member : members->members) {
      ToProto(member, line.add_members());
    }
    out << ApiJson(line) << "\n";
  }
  out.flush();
  if (!out) return absl::DataLossError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

void PrintSummary(const ClusteringEngine& engine, int limit,
                  std::ostream& out) {
  const std::vector<ClusterSummary> clusters = engine.ListClusters();
  out << absl::StrFormat("%d clusters; the %d largest:\n", clusters.size(),
                         std::min<size_t>(limit, clusters.size()));
  out << absl::StrFormat("%-12s %-12s %5s %7s  %s\n", "cluster", "thread",
                         "size", "sources", "representative headline");
  for (size_t i = 0; i < clusters.size() && static_cast<int>(i) < limit; ++i) {
    const ClusterSummary& c = clusters[i];
    out << absl::StrFormat("%-12s %-12s %5d %7d  %s\n", c.cluster_id,
                           c.thread_id, c.size, c.num_sources,
                           c.representative_title);
  }
}

// Writes answers on a thread of its own, in the order they were added:
// protobuf's JSON mapping of an answer costs about a tenth of what placing
// the article does, and the engine's thread need not wait for it. At most
// a few batches wait: a reader of the output slower than the engine holds
// the engine back, as the write did when it was on the engine's thread,
// instead of every answer piling up in memory.
class AnswerWriter {
 public:
  explicit AnswerWriter(std::function<void(const v1::AssignResponse&)> write)
      : write_(std::move(write)), thread_([this] { Run(); }) {}
  ~AnswerWriter() { Finish(); }

  void Add(std::vector<v1::AssignResponse> rows) {
    if (rows.empty()) return;
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](AnswerWriter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
          return w->queue_.size() < kMostWaitingBatches;
        },
        this));
    queue_.push_back(std::move(rows));
  }

  // Returns once every row added has been written.
  void Finish() {
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    for (;;) {
      std::vector<v1::AssignResponse> rows;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](AnswerWriter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
              return w->done_ || !w->queue_.empty();
            },
            this));
        if (queue_.empty()) return;  // and done_
        rows = std::move(queue_.front());
        queue_.pop_front();
      }
      for (const v1::AssignResponse& row : rows) write_(row);
    }
  }

  static constexpr size_t kMostWaitingBatches = 4;

  const std::function<void(const v1::AssignResponse&)> write_;
  absl::Mutex mu_;
  std::deque<std::vector<v1::AssignResponse>> queue_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the members above exist
};

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
  absl::StatusOr<std::unique_ptr<std::ostream>> output =
      OpenOutput(flags.output);
  if (!output.ok()) {
    std::cerr << "newsdedup cluster: " << output.status().message() << "\n";
    return kExitFailure;
  }
  std::ostream& out = **output;
  const TableFormat format = *ParseTableFormat(flags.format);  // checked
  if (format != TableFormat::kJsonl) WriteTableHeader(format, out);
  auto write = [&](const v1::AssignResponse& row) {
    if (format == TableFormat::kJsonl) {
      out << ApiJson(row) << "\n";
      return;
    }
    WriteTableRow(
        format,
        {row.article_id(), row.cluster_id(), v1::Relation_Name(row.relation()),
         row.representative_id(), row.thread_id(), row.duplicate_of()},
        out);
  };
  std::error_code size_error;
  const int64_t total_bytes =
      flags.input == "-" ? 0
                         : static_cast<int64_t>(std::filesystem::file_size(
                               flags.input, size_error));
  Progress progress(size_error ? 0 : total_bytes);

  int64_t accepted = 0, rejected = 0;
  std::vector<v1::AssignResponse> pending;  // only with --resolve-merges
  // Online answers go out as each batch is placed; with --resolve-merges
  // they wait for the end (pending) and are written here.
  AnswerWriter writer(write);
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
    std::vector<v1::AssignResponse> rows;
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
      v1::AssignResponse row;
      ToProto(*answer, &row);
      (flags.resolve_merges ? pending : rows).push_back(std::move(row));
    }
    writer.Add(std::move(rows));
    lines.clear();
    progress.Update(
        accepted + rejected,
        flags.input == "-" ? 0 : static_cast<int64_t>((*in)->tellg()));
  };
  ForEachArticleLine(**in, [&](int64_t line,
                               absl::StatusOr<ParsedArticle> parsed) {
    // What the service refuses, refused here too.
    if (parsed.ok()) {
      absl::Status valid = ValidateArticle(parsed->article, ServiceLimits());
      if (!valid.ok()) parsed = std::move(valid);
    }
    lines.push_back({line, std::move(parsed)});
    if (lines.size() >= kAssignBatchSize) flush();
  });
  flush();
  progress.Finish(accepted + rejected);
  for (v1::AssignResponse& row : pending) {
    // Final cluster of each article, after every merge.
    row.set_cluster_id(*(*engine)->ClusterOfArticle(row.article_id()));
    auto story = (*engine)->GetCluster(row.cluster_id());
    row.set_thread_id(story->thread_id);
    row.set_representative_id(story->representative_id);
    row.set_representative_title(story->representative_title);
  }
  writer.Add(std::move(pending));
  writer.Finish();
  out.flush();
  if (out.fail()) {
    // A full disk or a closed pipe: the answers are not all there.
    std::cerr << "newsdedup cluster: cannot write the answers to "
              << (flags.output == "-" ? "standard output" : flags.output)
              << "\n";
    return kExitFailure;
  }
  if (!flags.clusters.empty()) {
    if (absl::Status written = WriteClusters(**engine, flags.clusters);
        !written.ok()) {
      std::cerr << "newsdedup cluster: " << written.message() << "\n";
      return kExitFailure;
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const EngineStats stats = (*engine)->stats();
  std::cerr << absl::StrFormat(
      "newsdedup cluster: %d articles (%d rejected) -> %d clusters, %d exact "
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
      "Cluster JSONL articles into story clusters; writes one JSONL answer "
      "per article,\nthe API's AssignResponse (article_id, cluster_id, "
      "relation, duplicate_of,\nrepresentative_id, explanation, ...) in "
      "protobuf's JSON mapping.\nBad lines are reported on stderr with their "
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
  command
      ->add_option("--format", flags->format,
                   "jsonl: the API's answers; tsv or csv: a table with a "
                   "header, one row per article (article_id, cluster_id, "
                   "relation, representative_id, thread_id, duplicate_of; "
                   "with --resolve-merges, the final story)")
      ->check(CLI::IsMember({"jsonl", "tsv", "csv"}))
      ->capture_default_str();
  command->add_flag("--resolve-merges", flags->resolve_merges,
                    "Write each article's final story (after later merges) "
                    "instead of the online answer; output waits for the end");
  command->add_option(
      "--clusters,--stories", flags->clusters,
      "Also write FILE: one JSONL line per cluster at the end, the API's "
      "GetClusterResponse (cluster_id, size, num_sources, top_sources, "
      "representative, every member)");
  command
      ->add_option("--summary", flags->summary,
                   "Print the N largest stories with their representative "
                   "headlines at the end")
      ->check(CLI::NonNegativeNumber);
  AddEngineFlags(command, &flags->engine);
  command->callback([flags, exit_code] { *exit_code = RunCluster(*flags); });
}

}  // namespace newsdedup
