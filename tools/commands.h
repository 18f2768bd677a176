// The subcommands of the `newsdedup` tool. Each Register* function adds one
// subcommand with its flags and help to `app`; the command runs when CLI11
// selects it and leaves its exit code in `*exit_code`.
#ifndef NEWSDEDUP_TOOLS_COMMANDS_H_
#define NEWSDEDUP_TOOLS_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "services/replication/jetstream_log.h"

namespace newsdedup {

// Exit codes shared by the commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;       // nothing useful was produced
inline constexpr int kExitUsage = 2;         // bad flags (CLI11's own code)
inline constexpr int kExitSomeRejected = 3;  // output written, some lines bad

// The exit code of a command that took `accepted` inputs and rejected
// `rejected`: kExitFailure when it rejected everything it was given.
inline int ExitCodeFor(int64_t accepted, int64_t rejected) {
  if (rejected == 0) return kExitOk;
  return accepted == 0 ? kExitFailure : kExitSomeRejected;
}

// The flags that reach a replicated service's change log on NATS, shared
// by `serve` and `admin delete-log-entry`: --replication-url (with
// `url_help`), --replication-stream, --replication-creds,
// --replication-tls-ca and --replication-connect-timeout-seconds (into
// `*connect_timeout_seconds`, which the caller applies).
void AddReplicationLogFlags(CLI::App* command, const std::string& url_help,
                            JetStreamLogOptions* options,
                            double* connect_timeout_seconds);

void RegisterClusterCommand(CLI::App* app, int* exit_code);
void RegisterEvalCommand(CLI::App* app, int* exit_code);
void RegisterTrainTokenizerCommand(CLI::App* app, int* exit_code);
void RegisterTrainScorerCommand(CLI::App* app, int* exit_code);
void RegisterServeCommand(CLI::App* app, int* exit_code);
void RegisterClientCommand(CLI::App* app, int* exit_code);
void RegisterLoadgenCommand(CLI::App* app, int* exit_code);
void RegisterAdminCommand(CLI::App* app, int* exit_code);

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_COMMANDS_H_
