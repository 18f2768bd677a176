// `newsdedup client`: call a running newsdedup server from the shell.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "services/api/api_messages.h"
#include "services/engine/change_feed.h"
#include "services/replica/replica_progress.h"
#include "tools/answer_table.h"
#include "tools/article_jsonl.h"
#include "tools/client_channel.h"
#include "tools/commands.h"

namespace newsdedup {
namespace {

struct ClientFlags {
  ClientFlags() { channel.server = kDefaultServer; }
  ChannelFlags channel;
  double timeout_seconds = 30;
  // Replicated service: answer only once this log entry is applied.
  uint64_t min_sequence = 0;
  // assign
  std::string input = "-";
  int batch = 0;  // 0: stream
  // get-cluster / get-article
  std::string id;
  int page_size = 50;
  // list-clusters
  std::string sort = "size";
  std::string thread;         // only this thread's stories
  std::string collection;     // list-clusters, export: only this collection's
  std::string updated_since;  // list-clusters: RFC 3339, empty for all
  bool include_expired = false;
  int limit = 20;
  bool json = false;
  // export
  std::string format = "tsv";
  std::string output = "-";
  // get-cluster / list-clusters: the next_page_token of the page before
  std::string page_token;
  // Editorial commands: the other cluster, the articles, undo, and why.
  std::string target;
  std::vector<std::string> article_ids;
  bool undo = false;
  std::string reason;
  // watch
  uint64_t after_cursor = 0;
  std::vector<std::string> kinds;
  int64_t max_events = 0;  // 0: no end
  double retry_seconds = 60;
};

// "1 article", "2 articles".
std::string Counted(int64_t n, absl::string_view noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

std::string FormatTimestamp(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%E4Y-%m-%d %H:%M",
                          absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

// The batch size to try after a refusal that says "... exceeds the batch
// limit of N" for a call of `sent` articles: N when the message names a
// smaller one, else half of `sent`.
int LimitNamedIn(absl::string_view message, int sent) {
  constexpr absl::string_view kLimit = "batch limit of ";
  const size_t at = message.find(kLimit);
  int limit = 0;
  if (at != absl::string_view::npos) {
    absl::string_view digits = message.substr(at + kLimit.size());
    digits = digits.substr(0, digits.find_first_not_of("0123456789"));
    if (!absl::SimpleAtoi(digits, &limit)) limit = 0;
  }
  return limit > 0 && limit < sent ? limit : std::max(1, sent / 2);
}

class Client {
 public:
  Client(const ClientFlags& flags, std::shared_ptr<grpc::Channel> channel)
      : flags_(flags),
        channel_(std::move(channel)),
        stub_(v1::DedupService::NewStub(channel_)) {}

  // The call's deadline and credentials.
  void SetDeadline(grpc::ClientContext* context) const {
    AddCallCredentials(flags_.channel, context);
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(
                              flags_.timeout_seconds * 1000)));
  }

  using Stub = v1::DedupService::Stub;

  // Reads the input's articles; bad lines are reported and counted.
  void ForEachInputArticle(std::istream& in,
                           const std::function<void(v1::Article)>& fn) {
    ForEachArticleLine(in, [&](int64_t line, absl::StatusOr<ParsedArticle> p) {
      if (!p.ok()) {
        ++rejected_;
        std::cerr << "line " << line << ": " << p.status().message() << "\n";
        return;
      }
      v1::Article a;
      ToProto(p->article, &a);
      fn(std::move(a));
    });
  }

  // Prints one article's answer, or reports its error.
  void Report(const std::string& article_id, const v1::AssignResult& result) {
    if (result.has_error()) {
      ++rejected_;
      std::cerr << "article " << article_id << ": "
                << absl::StatusCodeToString(
                       static_cast<absl::StatusCode>(result.error().code()))
                << ": " << result.error().message() << "\n";
      return;
    }
    ++answered_;
    std::cout << ApiJson(result.answer()) << "\n";
  }

  grpc::Status AssignInStream(std::istream& in) {
    grpc::ClientContext context;  // no deadline: a stream may run for hours
    AddCallCredentials(flags_.channel, &context);
    auto stream = stub_->AssignStream(&context);
    std::thread writer([&] {
      ForEachInputArticle(in, [&](v1::Article article) {
        v1::AssignRequest request;
        *request.mutable_article() = std::move(article);
        stream->Write(request);
      });
      stream->WritesDone();
    });
    v1::AssignStreamResponse response;
    while (stream->Read(&response)) {
      Report(response.article_id(), response.result());
    }
    writer.join();
    const grpc::Status status = stream->Finish();
    NoteAppliedSequence(context.GetServerTrailingMetadata());
    return status;
  }

  // A replica's answers say how far it had applied the change log.
  void NoteAppliedSequence(
      const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
    auto it = metadata.find(kAppliedSequenceKey);
    if (it != metadata.end()) {
      applied_sequence_.assign(it->second.data(), it->second.size());
    }
  }

  // Sends `articles` through AssignBatch calls of at most `*size`. A
  // server whose batch limit is lower refuses the whole call before
  // assigning anything, so the call is sent again in halves; the size
  // that worked is kept for the calls after.
  grpc::Status SendBatch(absl::Span<const v1::Article> articles, int* size) {
    for (size_t start = 0; start < articles.size();) {
      const size_t n = std::min<size_t>(*size, articles.size() - start);
      v1::AssignBatchRequest request;
      for (size_t i = start; i < start + n; ++i) {
        *request.add_articles() = articles[i];
      }
      v1::AssignBatchResponse response;
      const grpc::Status status = Call(&Stub::AssignBatch, request, &response);
      if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
          absl::StrContains(status.error_message(), "batch limit") && n > 1) {
        *size = LimitNamedIn(status.error_message(), static_cast<int>(n));
        std::cerr << "newsdedup client: the server takes smaller batches ("
                  << status.error_message() << "); sending " << *size
                  << " per call\n";
        continue;
      }
      if (!status.ok()) return status;
      for (int i = 0; i < response.results_size(); ++i) {
        Report(request.articles(i).id(), response.results(i));
      }
      start += n;
    }
    return grpc::Status::OK;
  }

  grpc::Status AssignInBatches(std::istream& in) {
    std::vector<v1::Article> pending;
    int size = flags_.batch;
    grpc::Status status;
    auto send = [&] {
      if (pending.empty() || !status.ok()) return;
      status = SendBatch(pending, &size);
      pending.clear();
    };
    ForEachInputArticle(in, [&](v1::Article article) {
      pending.push_back(std::move(article));
      if (static_cast<int>(pending.size()) >= flags_.batch) send();
    });
    send();
    return status;
  }

  template <typename Request>
  int Edit(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                        v1::EditResponse*),
           const Request& request) {
    v1::EditResponse response;
    const grpc::Status status = Call(method, request, &response);
    if (!status.ok()) return Fail(status);
    if (flags_.json) {
      std::cout << ApiJson(response) << "\n";
      return kExitOk;
    }
    const v1::ClusterSummary& c = response.cluster();
    std::cout << c.cluster_id() << ": " << c.size() << " articles, "
              << "representative " << c.representative_id() << "\n";
    if (c.history_size() > 0) {
      const v1::ClusterEvent& e = c.history(c.history_size() - 1);
      std::cout << "  " << e.detail() << " (by " << e.editor() << ": "
                << e.reason() << ")\n";
    }
    return kExitOk;
  }

  // One unary call with the configured deadline.
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                 const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    SetDeadline(&context);
    if (flags_.min_sequence > 0) {
      context.AddMetadata(kMinSequenceKey, absl::StrCat(flags_.min_sequence));
    }
    const grpc::Status status =
        (stub_.get()->*method)(&context, request, response);
    NoteAppliedSequence(context.GetServerInitialMetadata());
    return status;
  }

  int Fail(const grpc::Status& status) const {
    std::cerr << "newsdedup client: " << flags_.channel.server << ": "
              << absl::StatusCodeToString(
                     static_cast<absl::StatusCode>(status.error_code()))
              << ": " << status.error_message() << "\n";
    // A TLS server hangs up on a plaintext client, which gRPC reports as
    // a bare "Socket closed".
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
        flags_.channel.tls_ca_file.empty() &&
        absl::StrContains(status.error_message(), "Socket closed")) {
      std::cerr << "newsdedup client: the server may expect TLS: pass "
                   "--tls-ca CA.pem (the CA that signed its certificate)\n";
    }
    return kExitFailure;
  }

  // Sends the articles of the input through AssignStream (or, with
  // --batch N, through AssignBatch calls of N articles); one JSON answer
  // per line on stdout, errors on stderr.
  int Assign() {
    auto in = OpenInput(flags_.input);
    if (!in.ok()) {
      std::cerr << "newsdedup client: " << in.status().message() << "\n";
      return kExitFailure;
    }
    const grpc::Status status =
        flags_.batch > 0 ? AssignInBatches(**in) : AssignInStream(**in);
    if (!status.ok()) return Fail(status);
    std::cerr << absl::StrFormat("newsdedup client: %d answered, %d rejected\n",
                                 answered_, rejected_);
    if (!applied_sequence_.empty()) {
      std::cerr << "newsdedup client: the replica had applied change-log "
                   "entry "
                << applied_sequence_
                << "; to read these writes through another replica, pass "
                   "--min-sequence "
                << applied_sequence_ << "\n";
    }
    return ExitCodeFor(answered_, rejected_);
  }

  int GetCluster() {
    v1::GetClusterRequest request;
    request.set_cluster_id(flags_.id);
    request.set_page_size(flags_.page_size);
    request.set_page_token(flags_.page_token);
    v1::GetClusterResponse response;
    const grpc::Status status = Call(&Stub::GetCluster, request, &response);
    if (!status.ok()) return Fail(status);
    if (flags_.json) {
      std::cout << ApiJson(response) << "\n";
      return kExitOk;
    }
    const v1::ClusterSummary& c = response.cluster();
    std::cout << absl::StrFormat(
        "%s  %s from %s, %s .. %s\nrepresentative: %s  %s\n", c.cluster_id(),
        Counted(c.size(), "article"), Counted(c.num_sources(), "source"),
        FormatTimestamp(c.first_seen()), FormatTimestamp(c.last_seen()),
        c.representative_id(), c.representative_title());
    std::cout << "thread: " << c.thread_id() << " (list-clusters --thread "
              << c.thread_id() << " lists its stories)\n";
    if (c.aliases_size() > 0) {
      std::cout << "merged from:";
      for (const std::string& alias : c.aliases()) std::cout << " " << alias;
      std::cout << "\n";
    }
    for (const v1::ClusterEvent& e : c.history()) {
      if (e.kind() == v1::ClusterEvent::EDITED) {
        std::cout << absl::StrFormat(
            "  history: EDITED %s by %s at %s: %s (%s)\n", e.action(),
            e.editor(), FormatTimestamp(e.time()), e.detail(), e.reason());
        continue;
      }
      std::cout << absl::StrFormat(
          "  history: %s at %s: %s%s\n", v1::ClusterEvent::Kind_Name(e.kind()),
          FormatTimestamp(e.time()), e.absorbed_cluster_id(), e.article_id());
    }
    for (const v1::ClusterMember& m : response.members()) {
      std::cout << absl::StrFormat(
          "  %-16s %-15s %-20s %s\n", FormatTimestamp(m.published()),
          v1::Relation_Name(m.relation()), m.article_id(), m.title());
    }
    if (!response.next_page_token().empty()) {
      std::cout << "  more members: add --page-token "
                << response.next_page_token() << "\n";
    }
    return kExitOk;
  }

  int ListClusters() {
    v1::ListClustersRequest request;
    request.set_page_size(flags_.limit);
    request.set_page_token(flags_.page_token);
    request.set_thread_id(flags_.thread);
    request.set_collection(flags_.collection);
    request.set_include_expired(flags_.include_expired);
    if (absl::Time since; absl::ParseTime(
            absl::RFC3339_full, flags_.updated_since, &since, nullptr)) {
      ToTimestamp(since, request.mutable_updated_since());
    }
    request.set_sort_by(
        flags_.sort == "last-update" ? v1::ListClustersRequest::LAST_UPDATE
        : flags_.sort == "growth"    ? v1::ListClustersRequest::RECENT_GROWTH
                                     : v1::ListClustersRequest::SIZE);
    v1::ListClustersResponse response;
    const grpc::Status status = Call(&Stub::ListClusters, request, &response);
    if (!status.ok()) return Fail(status);
    if (flags_.json) {
      std::cout << ApiJson(response) << "\n";
      return kExitOk;
    }
    std::cout << absl::StrFormat("%d clusters; showing %d\n", response.total(),
                                 response.clusters_size());
    std::cout << absl::StrFormat("%-12s %-12s %5s %7s %-16s  %s\n", "cluster",
                                 "thread", "size", "sources", "last update",
                                 "representative");
    for (const v1::ClusterSummary& c : response.clusters()) {
      std::cout << absl::StrFormat(
          "%-12s %-12s %5d %7d %-16s  %s\n", c.cluster_id(), c.thread_id(),
          c.size(), c.num_sources(), FormatTimestamp(c.last_seen()),
          c.representative_title());
    }
    if (!response.next_page_token().empty()) {
      std::cout << "more clusters: add --page-token "
                << response.next_page_token() << "\n";
    }
    return kExitOk;
  }

  // Every live story's members, one row each (tools/answer_table.h):
  // what `cluster --format` writes for a file, from a running server.
  // ListClusters pages come from one snapshot, so each story is listed
  // once; a story that changes meanwhile shows its members as read.
  int Export() {
    absl::StatusOr<std::unique_ptr<std::ostream>> output =
        OpenOutput(flags_.output);
    if (!output.ok()) {
      std::cerr << "newsdedup client export: " << output.status().message()
                << "\n";
      return kExitFailure;
    }
    std::ostream& out = **output;
    const TableFormat format = *ParseTableFormat(flags_.format);  // checked
    WriteTableHeader(format, out);
    int64_t rows = 0;
    v1::ListClustersRequest list;
    list.set_page_size(1000);
    list.set_collection(flags_.collection);
    do {
      v1::ListClustersResponse page;
      grpc::Status status = Call(&Stub::ListClusters, list, &page);
      if (!status.ok()) return Fail(status);
      for (const v1::ClusterSummary& story : page.clusters()) {
        v1::GetClusterRequest get;
        get.set_cluster_id(story.cluster_id());
        get.set_page_size(1000);
        do {
          v1::GetClusterResponse members;
          status = Call(&Stub::GetCluster, get, &members);
          // Forgotten between the list and this read: nothing to write.
          if (status.error_code() == grpc::StatusCode::NOT_FOUND) break;
          if (!status.ok()) return Fail(status);
          for (const v1::ClusterMember& m : members.members()) {
            // A story two collections share: this collection's articles.
            if (!flags_.collection.empty() &&
                m.collection() != flags_.collection) {
              continue;
            }
            WriteTableRow(format,
                          {m.article_id(), members.cluster().cluster_id(),
                           v1::Relation_Name(m.relation()),
                           members.cluster().representative_id(),
                           members.cluster().thread_id(), m.duplicate_of()},
                          out);
            ++rows;
          }
          get.set_page_token(members.next_page_token());
        } while (!get.page_token().empty());
      }
      list.set_page_token(page.next_page_token());
    } while (!list.page_token().empty());
    out.flush();
    if (!out) {
      std::cerr << "newsdedup client export: writing failed\n";
      return kExitFailure;
    }
    std::cerr << "newsdedup client export: " << Counted(rows, "article")
              << "\n";
    return kExitOk;
  }

  // Prints the change feed's events as JSON lines from after
  // flags_.after_cursor; when the stream breaks (a server restart), it
  // resumes after the last event printed, for up to retry_seconds.
  int Watch() {
    v1::WatchClusterEventsRequest request;
    request.set_after_cursor(flags_.after_cursor);
    for (const std::string& name : flags_.kinds) {
      absl::StatusOr<FeedEvent::Kind> kind = ParseFeedEventKind(name);
      if (!kind.ok()) {
        std::cerr << "newsdedup client: --kinds: " << kind.status().message()
                  << "\n";
        return kExitUsage;
      }
      request.add_kinds(
          static_cast<v1::ClusterChangeEvent::Kind>(static_cast<int>(*kind)));
    }
    request.set_collection(flags_.collection);
    int64_t printed = 0;
    absl::Time last_progress = absl::Now();
    for (;;) {
      grpc::ClientContext context;  // no deadline: a watch has no end
      AddCallCredentials(flags_.channel, &context);
      auto stream = stub_->WatchClusterEvents(&context, request);
      v1::ClusterChangeEvent event;
      while (stream->Read(&event)) {
        std::cout << ApiJson(event) << std::endl;  // a line as it comes
        request.set_after_cursor(event.cursor());
        last_progress = absl::Now();
        if (flags_.max_events > 0 && ++printed >= flags_.max_events) {
          context.TryCancel();
          stream->Finish();
          return kExitOk;
        }
      }
      const grpc::Status status = stream->Finish();
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
          absl::Now() - last_progress > absl::Seconds(flags_.retry_seconds)) {
        return Fail(status);
      }
      std::cerr << "newsdedup client: " << status.error_message()
                << "; resuming after cursor " << request.after_cursor() << "\n";
      absl::SleepFor(absl::Seconds(1));
    }
  }

  int GetArticle() {
    v1::GetArticleRequest request;
    request.set_article_id(flags_.id);
    v1::GetArticleResponse response;
    const grpc::Status status = Call(&Stub::GetArticle, request, &response);
    if (!status.ok()) return Fail(status);
    if (flags_.json) {
      std::cout << ApiJson(response.assignment()) << "\n";
      return kExitOk;
    }
    const v1::AssignResponse& a = response.assignment();
    std::cout << absl::StrFormat(
        "%s  %s in %s (thread %s, %s)\nrepresentative: %s  %s\n",
        a.article_id(), v1::Relation_Name(a.relation()), a.cluster_id(),
        a.thread_id(), Counted(a.cluster_size(), "article"),
        a.representative_id(), a.representative_title());
    if (!a.duplicate_of().empty()) {
      std::cout << "duplicate of: " << a.duplicate_of() << "\n";
    }
    const v1::Explanation& e = a.explanation();
    if (!e.nearest_article_id().empty()) {
      std::cout << absl::StrFormat(
          "nearest: %s (similarity %.3f); story similarity %.3f against a "
          "threshold of %.3f\n",
          e.nearest_article_id(), e.nearest_similarity(),
          e.cluster_similarity(), e.threshold());
    }
    if (e.shared_terms_size() > 0) {
      std::cout << "shared terms: " << absl::StrJoin(e.shared_terms(), ", ")
                << "\n";
    }
    return kExitOk;
  }

  int FindSimilar() {
    v1::FindSimilarRequest request;
    request.mutable_article()->set_id("find-similar-probe");
    request.mutable_article()->set_title(flags_.id);
    request.set_k(flags_.limit);
    v1::FindSimilarResponse response;
    const grpc::Status status = Call(&Stub::FindSimilar, request, &response);
    if (!status.ok()) return Fail(status);
    if (flags_.json) {
      std::cout << ApiJson(response) << "\n";
      return kExitOk;
    }
    const v1::AssignResponse& would = response.would_be();
    std::cout << "would be: " << v1::Relation_Name(would.relation())
              << (would.cluster_id().empty() ? "" : " in " + would.cluster_id())
              << "\n";
    for (const v1::SimilarArticle& n : response.neighbors()) {
      std::cout << absl::StrFormat("  %.3f  %-20s %-12s %s\n", n.similarity(),
                                   n.article_id(), n.cluster_id(), n.title());
    }
    return kExitOk;
  }

  int DeleteArticle() {
    v1::DeleteArticleRequest request;
    request.set_article_id(flags_.id);
    v1::DeleteArticleResponse response;
    const grpc::Status status = Call(&Stub::DeleteArticle, request, &response);
    if (!status.ok()) return Fail(status);
    std::cout << "deleted " << flags_.id << "\n";
    return kExitOk;
  }

  // Editorial commands: each prints the cluster the action left its
  // articles in, with its latest history entry.
  int MergeClusters() {
    v1::MergeClustersRequest request;
    request.set_cluster_id(flags_.id);
    request.set_into_cluster_id(flags_.target);
    request.set_reason(flags_.reason);
    return Edit(&Stub::MergeClusters, request);
  }
  int SplitCluster() {
    v1::SplitClusterRequest request;
    request.set_cluster_id(flags_.id);
    for (const std::string& id : flags_.article_ids) {
      request.add_article_ids(id);
    }
    request.set_reason(flags_.reason);
    return Edit(&Stub::SplitCluster, request);
  }
  int MoveArticle() {
    v1::MoveArticleRequest request;
    request.set_article_id(flags_.id);
    request.set_to_cluster_id(flags_.target);
    request.set_reason(flags_.reason);
    return Edit(&Stub::MoveArticle, request);
  }
  int PinRepresentative() {
    v1::PinRepresentativeRequest request;
    request.set_cluster_id(flags_.id);
    request.set_article_id(flags_.target);
    request.set_unpin(flags_.undo);
    request.set_reason(flags_.reason);
    return Edit(&Stub::PinRepresentative, request);
  }
  int KeepApart() {
    v1::KeepApartRequest request;
    request.set_cluster_id(flags_.id);
    request.set_other_cluster_id(flags_.target);
    request.set_undo(flags_.undo);
    request.set_reason(flags_.reason);
    return Edit(&Stub::KeepApart, request);
  }

  int Health() {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    const grpc::Status status = health->Check(&context, request, &response);
    if (!status.ok()) return Fail(status);
    std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                     response.status())
              << "\n";
    return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
               ? kExitOk
               : kExitFailure;
  }

 private:
  const ClientFlags& flags_;
  int64_t answered_ = 0;
  int64_t rejected_ = 0;
  // The applied sequence a replica last reported ("": not a replica).
  std::string applied_sequence_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::DedupService::Stub> stub_;
};

// Runs one subcommand on a client of the server the flags name.
int RunClient(const ClientFlags& flags, int (Client::*run)()) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      OpenChannel(flags.channel);
  if (!channel.ok()) {
    std::cerr << "newsdedup client: " << channel.status().message() << "\n";
    return kExitUsage;
  }
  Client client(flags, *std::move(channel));
  return (client.*run)();
}

}  // namespace

void RegisterClientCommand(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<ClientFlags>();
  CLI::App* client = app->add_subcommand(
      "client", "Call a running newsdedup server (see 'newsdedup serve').");
  client->require_subcommand(1);
  client
      ->add_option("--server", flags->channel.server,
                   "Server address host:port")
      ->capture_default_str();
  AddChannelFlags(client, &flags->channel);
  client
      ->add_option("--timeout-seconds", flags->timeout_seconds,
                   "Deadline of each unary call")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  client->add_option(
      "--min-sequence", flags->min_sequence,
      "Replicated service: answer once the replica has applied this change-"
      "log entry (read your own writes through another replica; see its "
      "x-newsdedup-applied-sequence)");

  CLI::App* assign = client->add_subcommand(
      "assign",
      "Stream JSONL articles (as for 'cluster') through AssignStream; writes "
      "one JSON answer per line.\nExit code 3 if some articles were rejected, "
      "1 if all were.");
  assign->add_option("input", flags->input, "JSONL file, or - for stdin")
      ->capture_default_str();
  assign
      ->add_option("--batch", flags->batch,
                   "Send AssignBatch calls of this many articles instead of "
                   "streaming (0: stream); fewer per call if the server's "
                   "limit is lower")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  assign->callback(
      [flags, exit_code] { *exit_code = RunClient(*flags, &Client::Assign); });

  CLI::App* get_cluster =
      client->add_subcommand("get-cluster", "Show one cluster and its members");
  get_cluster->add_option("cluster_id", flags->id, "Cluster id (aliases work)")
      ->required();
  get_cluster->add_option("--page-token", flags->page_token,
                          "Next page: the token the page before ended with");
  get_cluster
      ->add_option("--page-size,--limit", flags->page_size, "Members to show")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  get_cluster->add_flag("--json", flags->json, "Print the response as JSON");
  get_cluster->callback([flags, exit_code] {
    *exit_code = RunClient(*flags, &Client::GetCluster);
  });

  CLI::App* list = client->add_subcommand("list-clusters", "List clusters");
  list->add_option("--sort", flags->sort,
                   "size, last-update or growth (articles in the last 24 "
                   "hours); recent-growth is an older name for growth")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, std::string>{{"size", "size"},
                                             {"last-update", "last-update"},
                                             {"growth", "growth"},
                                             {"recent-growth", "growth"}}))
      ->capture_default_str();
  list->add_option("--thread", flags->thread,
                   "Only the stories of this thread (storyline), e.g. "
                   "thread-3");
  list->add_option("--collection", flags->collection,
                   "Only the stories with an article of this collection "
                   "(the articles' collection field: a tenant or a feed)");
  list->add_option("--updated-since", flags->updated_since,
                   "Only the stories that changed (an article joined or left, "
                   "a new representative, an edit, a merge) at or after this "
                   "RFC 3339 time, e.g. 2026-03-10T12:00:00Z")
      ->check(CLI::Validator(
          [](const std::string& value) -> std::string {
            absl::Time t;
            std::string error;
            return absl::ParseTime(absl::RFC3339_full, value, &t, &error)
                       ? std::string()
                       : "not an RFC 3339 time (2026-03-10T12:00:00Z): " +
                             error;
          },
          "RFC 3339"));
  list->add_flag("--include-expired", flags->include_expired,
                 "Also list expired stories (no members left)");
  list->add_option("--page-token", flags->page_token,
                   "Next page: the token the page before ended with");
  list->add_option("--page-size,--limit", flags->limit, "Clusters to show")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  list->add_flag("--json", flags->json, "Print the response as JSON");
  list->callback([flags, exit_code] {
    *exit_code = RunClient(*flags, &Client::ListClusters);
  });

  CLI::App* export_command = client->add_subcommand(
      "export",
      "Every live story's articles as a table, one row each (article_id, "
      "cluster_id, relation,\nrepresentative_id, thread_id, duplicate_of): "
      "what 'cluster --format' writes, from a running server");
  export_command->add_option("--format", flags->format, "tsv, csv or jsonl")
      ->check(CLI::IsMember({"jsonl", "tsv", "csv"}))
      ->capture_default_str();
  export_command
      ->add_option("-o,--output", flags->output, "File to write, - for stdout")
      ->capture_default_str();
  export_command->add_option(
      "--collection", flags->collection,
      "Only the articles of this collection (a tenant or a feed)");
  export_command->callback(
      [flags, exit_code] { *exit_code = RunClient(*flags, &Client::Export); });

  CLI::App* get_article =
      client->add_subcommand("get-article", "Show one article's assignment");
  get_article->add_option("article_id", flags->id, "Article id")->required();
  get_article->add_flag("--json", flags->json, "Print the response as JSON");
  get_article->callback([flags, exit_code] {
    *exit_code = RunClient(*flags, &Client::GetArticle);
  });

  CLI::App* similar = client->add_subcommand(
      "find-similar",
      "Dry run: the nearest live articles to a headline and where it would go");
  similar->add_option("headline", flags->id, "Headline text")->required();
  similar->add_option("--page-size,--limit", flags->limit, "Neighbours to show")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  similar->add_flag("--json", flags->json, "Print the response as JSON");
  similar->callback([flags, exit_code] {
    *exit_code = RunClient(*flags, &Client::FindSimilar);
  });

  CLI::App* remove = client->add_subcommand(
      "delete-article", "Take an article down (it leaves its cluster)");
  remove->add_option("article_id", flags->id, "Article id")->required();
  remove->callback([flags, exit_code] {
    *exit_code = RunClient(*flags, &Client::DeleteArticle);
  });

  // Editorial commands (role edit; docs/editorial.md).
  auto editorial = [&](const char* name, const char* help) {
    CLI::App* command = client->add_subcommand(name, help);
    command
        ->add_option("--reason", flags->reason,
                     "Why (kept in the cluster's history)")
        ->required();
    command->add_flag("--json", flags->json, "Print the response as JSON");
    return command;
  };
  CLI::App* merge = editorial(
      "merge-clusters",
      "Merge a cluster into another, whose id stays (the first then resolves "
      "to it)");
  merge->add_option("cluster_id", flags->id, "Cluster merged away")->required();
  merge->add_option("into_cluster_id", flags->target, "Cluster that stays")
      ->required();
  merge->callback([flags, exit_code] {
    *exit_code = RunClient(*flags, &Client::MergeClusters);
  });
  CLI::App* split = editorial(
      "split-cluster",
      "Move some members of a cluster to a new cluster, kept apart from it");
  split->add_option("cluster_id", flags->id, "Cluster to split")->required();
  split->add_option("article_ids", flags->article_ids, "Members that leave")
      ->required();
  split->callback([flags, exit_code] {
    *exit_code = RunClient(*flags, &Client::SplitCluster);
  });
  CLI::App* move = editorial(
      "move-article", "Move an article to another cluster (it stays there)");
  move->add_option("article_id", flags->id, "Article")->required();
  move->add_option("to_cluster_id", flags->target, "Destination cluster")
      ->required();
  move->callback([flags, exit_code] {
    *exit_code = RunClient(*flags, &Client::MoveArticle);
  });
  CLI::App* pin = editorial(
      "pin-representative",
      "Keep an article as its cluster's representative (--unpin: elect "
      "again)");
  pin->add_option("cluster_id", flags->id, "Cluster")->required();
  pin->add_option("article_id", flags->target, "Member to pin");
  pin->add_flag("--unpin", flags->undo, "Release the pinned representative");
  pin->callback([flags, exit_code] {
    if (!flags->undo && flags->target.empty()) {
      std::cerr << "newsdedup client pin-representative: give the article_id "
                   "to pin, or --unpin\n";
      *exit_code = kExitUsage;
      return;
    }
    *exit_code = RunClient(*flags, &Client::PinRepresentative);
  });
  CLI::App* apart = editorial(
      "keep-apart", "Two clusters must never merge (--undo: they may again)");
  apart->add_option("cluster_id", flags->id, "One cluster")->required();
  apart->add_option("other_cluster_id", flags->target, "The other")->required();
  apart->add_flag("--undo", flags->undo, "Allow merging them again");
  apart->callback([flags, exit_code] {
    *exit_code = RunClient(*flags, &Client::KeepApart);
  });

  CLI::App* watch = client->add_subcommand(
      "watch",
      "Follow the change feed: every change to the stories (created, grew, "
      "merged, split,\nmoved, representative changed, edited, expired, taken "
      "down, threads joined) as one\nJSON line, in cursor order, as it "
      "happens. Store the last cursor and pass it\nas --after to resume "
      "exactly there, on this server or another replica.");
  watch
      ->add_option("--after", flags->after_cursor,
                   "Start after this cursor (0: the oldest event kept)")
      ->capture_default_str();
  watch
      ->add_option("--kinds", flags->kinds,
                   "Only these kinds, e.g. --kinds MERGED,SPLIT")
      ->delimiter(',');
  watch->add_option("--collection", flags->collection,
                    "Only events about stories with an article of this "
                    "collection");
  watch
      ->add_option("--max-events", flags->max_events,
                   "Stop after printing this many (0: follow until "
                   "interrupted)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  watch
      ->add_option("--retry-seconds", flags->retry_seconds,
                   "When the server goes away, keep trying to resume for "
                   "this long")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  watch->callback(
      [flags, exit_code] { *exit_code = RunClient(*flags, &Client::Watch); });

  CLI::App* health = client->add_subcommand(
      "health", "Ask the standard gRPC health service; exit 0 when SERVING");
  health->callback(
      [flags, exit_code] { *exit_code = RunClient(*flags, &Client::Health); });

  // --server, --token, --timeout-seconds ... may also follow the
  // subcommand
  // (`client get-cluster story-3 --server host:port`).
  for (CLI::App* command : client->get_subcommands({})) command->fallthrough();
}

}  // namespace newsdedup
