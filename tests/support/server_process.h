// A `newsdedup serve` child process for end-to-end tests: started on a free
// loopback port, its log in a file, stopped by signal.
#ifndef NEWSDEDUP_TESTS_SUPPORT_SERVER_PROCESS_H_
#define NEWSDEDUP_TESTS_SUPPORT_SERVER_PROCESS_H_

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace newsdedup {
namespace testing {

std::string ReadFile(const std::string& path);

// An empty directory for one test process: <tmp>/newsdedup-<name>-<pid>,
// emptied if it exists.
std::filesystem::path FreshTempDir(const std::string& name);

// Runs a shell `command` with stdout and stderr sent to `output_path`, puts
// what it wrote in `*output`, and returns its exit code (-1 if it did not
// exit normally).
int RunCommand(const std::string& command, const std::string& output_path,
               std::string* output);

class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess();  // SIGKILL if still running

  // Runs `<cli> serve --listen 127.0.0.1:0 --http-listen 127.0.0.1:0
  // <args>` with stderr appended to `log_path`, and waits until it logs
  // its ports. Returns false (the log
  // explains) if it exits or does not listen within `timeout_ms`.
  bool Start(const std::string& cli, const std::string& args,
             const std::string& log_path, int timeout_ms = 30000);

  // Sends `signal` and waits; returns the exit status as waitpid() gives
  // it, or -1 when no process runs.
  int Stop(int signal);

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  int http_port() const { return http_port_; }
  std::string address() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int http_port_ = 0;
};

}  // namespace testing
}  // namespace newsdedup

#endif  // NEWSDEDUP_TESTS_SUPPORT_SERVER_PROCESS_H_
