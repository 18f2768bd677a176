// `newsdedup admin`: operator commands on a data directory (backup,
// restore, compact, check). restore and compact need the directory free;
// backup goes through the server that holds it, if one does.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "newsdedup/v1/dedup.grpc.pb.h"
#include "services/engine/state_digest.h"
#include "services/replica/replica_checkpoints.h"
#include "services/replication/jetstream_log.h"
#include "services/server/node.h"
#include "services/storage/rocksdb_store.h"
#include "tools/client_channel.h"
#include "tools/commands.h"
#include "tools/engine_flags.h"

namespace newsdedup {
namespace {

struct AdminFlags {
  std::string data_dir = "newsdedup-data";
  std::string backup_dir;
  // backup (through this running server) and state; server empty: none
  ChannelFlags channel;
  // delete-log-entry: the change log and the entry
  JetStreamLogOptions log;
  uint64_t log_sequence = 0;
  double connect_timeout_seconds = 10;
};

// Deletes one entry of a replicated service's change log: every replica
// steps over a number the log no longer holds (docs/replication.md).
absl::Status DeleteLogEntry(AdminFlags flags) {
  flags.log.connect_timeout = absl::Seconds(flags.connect_timeout_seconds);
  ASSIGN_OR_RETURN(std::unique_ptr<ReplicationLog> log,
                   OpenJetStreamLog(flags.log));
  return log->Delete(flags.log_sequence, flags.log.connect_timeout);
}

// Backs up through a running server's AdminService.Backup. `backup_dir`
// is a path on the server's machine.
absl::Status BackupOnline(const ChannelFlags& server,
                          const std::string& backup_dir) {
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel, OpenChannel(server));
  auto stub = v1::AdminService::NewStub(channel);
  grpc::ClientContext context;
  AddCallCredentials(server, &context);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::hours(1));
  v1::BackupRequest request;
  request.set_backup_dir(std::filesystem::absolute(backup_dir).string());
  v1::BackupResponse response;
  const grpc::Status status = stub->Backup(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(
        static_cast<absl::StatusCode>(status.error_code()),
        absl::StrCat("server ", server.server, ": ", status.error_message()));
  }
  return absl::OkStatus();
}

// Prints a running server's AdminService.GetState as key=value pairs.
int RunState(const AdminFlags& flags) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      OpenChannel(flags.channel);
  if (!channel.ok()) {
    std::cerr << "newsdedup admin state: " << channel.status().message()
              << "\n";
    return kExitUsage;
  }
  auto stub = v1::AdminService::NewStub(*channel);
  grpc::ClientContext context;
  AddCallCredentials(flags.channel, &context);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::minutes(5));
  v1::GetStateResponse state;
  const grpc::Status status =
      stub->GetState(&context, v1::GetStateRequest(), &state);
  if (!status.ok()) {
    std::cerr << "newsdedup admin state: server " << flags.channel.server
              << ": "
              << absl::StatusCodeToString(
                     static_cast<absl::StatusCode>(status.error_code()))
              << ": " << status.error_message() << "\n";
    return kExitFailure;
  }
  std::cout << "digest=" << state.digest() << " articles=" << state.articles()
            << " clusters=" << state.clusters();
  if (state.replica()) {
    std::cout << " applied_sequence=" << state.applied_sequence()
              << " log_sequence=" << state.log_sequence()
              << " digest_sequence=" << state.digest_sequence();
  }
  std::cout << "\n";
  return kExitOk;
}

// A backup of flags.data_dir: directly when no server holds it, else
// through the server that does (found by --server or the address it left
// in the directory). Says which in `*how`.
absl::Status Backup(const AdminFlags& flags, std::string* how) {
  if (!flags.channel.server.empty()) {
    *how = " online through the server at " + flags.channel.server;
    return BackupOnline(flags.channel, flags.backup_dir);
  }
  absl::Status offline = BackupStore(flags.data_dir, flags.backup_dir);
  if (offline.code() != absl::StatusCode::kFailedPrecondition ||
      !absl::StrContains(offline.message(), "in use")) {
    return offline;
  }
  std::ifstream file(ServerAddressFile(flags.data_dir));
  std::string server;
  if (!std::getline(file, server) ||
      absl::StripAsciiWhitespace(server).empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(offline.message(),
                     ". If a newsdedup server holds it, pass its address with "
                     "--server HOST:PORT to back up while it runs"));
  }
  ChannelFlags found = flags.channel;
  found.server = std::string(absl::StripAsciiWhitespace(server));
  *how = " online through the server at " + found.server;
  return BackupOnline(found, flags.backup_dir);
}

// Prints the outcome of an operation that returns only a status.
int Report(const absl::Status& status, absl::string_view done,
           absl::Time start) {
  if (!status.ok()) {
    std::cerr << "newsdedup admin: " << status.message() << "\n";
    return kExitFailure;
  }
  std::cout << done
            << absl::StrFormat(" (%.1f s)",
                               absl::ToDoubleSeconds(absl::Now() - start))
            << "\n";
  return kExitOk;
}

// Two readings of one store, both read-only: RocksDB's (checksums, records
// that parse, the meta record) and the engine's own recovery, exactly as a
// restart would run it (merge chains, placements, representatives: the
// rules live in the engine alone). Takes as long as a restart.
int RunCheck(const AdminFlags& flags, EngineFlags engine_flags) {
  // A replica's data directory holds its store one level down.
  std::string store = flags.data_dir;
  if (!StoreExists(store) && StoreExists(ReplicaStorePath(store))) {
    store = ReplicaStorePath(store);
  }
  auto report = CheckStore(store);
  if (!report.ok()) {
    std::cerr << "newsdedup admin check: " << report.status().message() << "\n";
    return kExitFailure;
  }
  std::vector<std::string> problems = report->problems;
  engine_flags.store.durable = true;
  engine_flags.store.read_only = true;
  engine_flags.store.data_dir = store;
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<ClusteringEngine>> engine =
      BuildEngine(engine_flags);
  if (!engine.ok()) {
    std::cout << "store " << store << ": " << report->articles << " articles\n";
    problems.push_back(
        absl::StrCat("recovery fails: ", engine.status().ToString()));
  } else {
    const StateDigest digest = ComputeStateDigest(**engine);
    const EngineStats stats = (*engine)->stats();
    // Counted as `admin state`, list-clusters and the metric count them.
    std::cout << "store " << store << ": " << report->articles << " articles, "
              << digest.clusters << " stories (" << digest.expired_clusters
              << " expired kept), recovered in "
              << absl::StrFormat("%.1f s",
                                 absl::ToDoubleSeconds(absl::Now() - start))
              << "\n";
    // Comparable with `admin state` of a replica at the same sequence.
    std::cout << "state digest " << digest.Hex();
    if (report->log_sequence > 0) {
      std::cout << " as of log entry " << report->log_sequence;
    }
    std::cout << "\n";
    if (stats.repaired_representatives > 0) {
      problems.push_back(absl::StrCat(
          stats.repaired_representatives,
          " stories' stored representative is not one of their articles "
          "(a restart picks the most central member)"));
    }
  }
  for (const std::string& problem : problems) {
    std::cout << "problem: " << problem << "\n";
  }
  if (!problems.empty()) {
    std::cout << problems.size() << " problem(s) found; nothing was changed\n";
    return kExitFailure;
  }
  std::cout << "no problems found\n";
  return kExitOk;
}

CLI::Option* AddDataDir(CLI::App* command, AdminFlags* flags) {
  return command
      ->add_option("--data-dir", flags->data_dir, "Data directory of the store")
      ->capture_default_str();
}

}  // namespace

void RegisterAdminCommand(CLI::App* app, int* exit_code) {
  auto flags = std::make_shared<AdminFlags>();
  CLI::App* admin = app->add_subcommand(
      "admin",
      "Operate on a data directory. restore and compact need the directory "
      "free (stop the server\nfirst); backup asks a running server to make "
      "it; check may run beside a server and changes nothing.");
  admin->require_subcommand(1);

  CLI::App* backup = admin->add_subcommand(
      "backup",
      "Add an incremental backup of the store to a backup directory; while a "
      "server holds the\ndata directory, the server makes it (consistent as "
      "of one moment; writes go on)");
  AddDataDir(backup, flags.get());
  backup->add_option("--to", flags->backup_dir, "Backup directory")->required();
  AddChannelFlags(backup, &flags->channel);
  backup->add_option("--server", flags->channel.server,
                     "Back up through the running server at HOST:PORT (found "
                     "in the data directory when omitted)");
  backup->callback([flags, exit_code] {
    const absl::Time start = absl::Now();
    std::string how;
    const absl::Status status = Backup(*flags, &how);
    *exit_code = Report(
        status,
        "backed up " + flags->data_dir + " to " + flags->backup_dir + how,
        start);
  });

  CLI::App* restore = admin->add_subcommand(
      "restore",
      "Restore the latest backup into a data directory that holds no store "
      "(never overwrites)");
  restore->add_option("--from", flags->backup_dir, "Backup directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  AddDataDir(restore, flags.get());
  restore->callback([flags, exit_code] {
    const absl::Time start = absl::Now();
    *exit_code = Report(
        RestoreStore(flags->backup_dir, flags->data_dir),
        "restored " + flags->backup_dir + " into " + flags->data_dir, start);
  });

  CLI::App* compact = admin->add_subcommand(
      "compact", "Compact the store (reclaims the space of deleted articles)");
  AddDataDir(compact, flags.get());
  compact->callback([flags, exit_code] {
    const absl::Time start = absl::Now();
    *exit_code = Report(CompactStore(flags->data_dir),
                        "compacted " + flags->data_dir, start);
  });

  CLI::App* state = admin->add_subcommand(
      "state",
      "Print a running server's state digest (equal on replicas at the same "
      "applied sequence),\narticle and cluster counts, and a replica's place "
      "in the change log");
  state->add_option("--server", flags->channel.server,
                    "host:port of the server (default 127.0.0.1:50051, as "
                    "for 'newsdedup client')");
  AddChannelFlags(state, &flags->channel);
  state->callback([flags, exit_code] {
    if (flags->channel.server.empty()) flags->channel.server = kDefaultServer;
    *exit_code = RunState(*flags);
  });

  CLI::App* check = admin->add_subcommand(
      "check",
      "Verify checksums and every record, then recover the state as a "
      "restart would (give the\nserver's embedder flags: --model, --dim "
      "...); reports problems, changes nothing.\nExit status 0: healthy, 1: "
      "problems found or unreadable");
  AddDataDir(check, flags.get());
  auto check_engine = std::make_shared<EngineFlags>();
  AddEngineFlags(check, check_engine.get());
  check->callback([flags, check_engine, exit_code] {
    *exit_code = RunCheck(*flags, *check_engine);
  });

  CLI::App* delete_entry = admin->add_subcommand(
      "delete-log-entry",
      "Delete one entry of a replicated service's change log: the way to step "
      "over an entry\nthat holds every replica (written by a newer release or "
      "by mistake). Every replica\nsteps over a number the log no longer "
      "holds; delete only an entry no replica applied");
  AddReplicationLogFlags(delete_entry,
                         "NATS servers of the change log, comma-separated",
                         &flags->log, &flags->connect_timeout_seconds);
  delete_entry->get_option("--replication-url")->required();
  delete_entry
      ->add_option("--sequence", flags->log_sequence,
                   "The entry's number (a held replica's health and log name "
                   "it)")
      ->required()
      ->check(CLI::PositiveNumber);
  delete_entry->callback([flags, exit_code] {
    const absl::Time start = absl::Now();
    *exit_code = Report(DeleteLogEntry(*flags),
                        absl::StrCat("deleted entry ", flags->log_sequence,
                                     " of stream ", flags->log.stream),
                        start);
  });
}

}  // namespace newsdedup
