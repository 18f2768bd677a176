// `newsdedup admin`: operator commands on a data directory (backup,
// restore, compact, check). All but `check` need the directory to be free:
// stop the server first.
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "services/rocksdb_store.h"
#include "tools/commands.h"

namespace newsdedup {
namespace {

struct AdminFlags {
  std::string data_dir = "newsdedup-data";
  std::string backup_dir;
};

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

int RunCheck(const AdminFlags& flags) {
  auto report = CheckStore(flags.data_dir);
  if (!report.ok()) {
    std::cerr << "newsdedup admin check: " << report.status().message() << "\n";
    return kExitFailure;
  }
  std::cout << "store " << flags.data_dir << ": " << report->articles
            << " articles, " << report->clusters << " clusters\n";
  for (const std::string& problem : report->problems) {
    std::cout << "problem: " << problem << "\n";
  }
  if (!report->problems.empty()) {
    std::cout << report->problems.size()
              << " problem(s) found; nothing was changed\n";
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
      "Operate on a data directory. backup, restore and compact need the "
      "directory free\n(stop the server first); check may run beside a "
      "server and changes nothing.");
  admin->require_subcommand(1);

  CLI::App* backup = admin->add_subcommand(
      "backup", "Add an incremental backup of the store to a backup directory");
  AddDataDir(backup, flags.get());
  backup->add_option("--to", flags->backup_dir, "Backup directory")->required();
  backup->callback([flags, exit_code] {
    const absl::Time start = absl::Now();
    *exit_code = Report(
        BackupStore(flags->data_dir, flags->backup_dir),
        "backed up " + flags->data_dir + " to " + flags->backup_dir, start);
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

  CLI::App* check = admin->add_subcommand(
      "check",
      "Verify checksums and every record's consistency; reports problems, "
      "changes nothing.\nExit status 0: healthy, 1: problems found or "
      "unreadable");
  AddDataDir(check, flags.get());
  check->callback([flags, exit_code] { *exit_code = RunCheck(*flags); });
}

}  // namespace newsdedup
