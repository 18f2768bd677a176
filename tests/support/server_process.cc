#include "tests/support/server_process.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace newsdedup {
namespace testing {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int RunCommand(const std::string& command, const std::string& output_path,
               std::string* output) {
  const int status =
      std::system(absl::StrCat(command, " >", output_path, " 2>&1").c_str());
  *output = ReadFile(output_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::filesystem::path FreshTempDir(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      absl::StrCat("newsdedup-", name, "-", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

ServerProcess::~ServerProcess() { Stop(SIGKILL); }

bool ServerProcess::Start(const std::string& cli, const std::string& args,
                          const std::string& log_path, int timeout_ms) {
  const size_t log_start = ReadFile(log_path).size();
  // Started through the shell only for the redirection; exec replaces it,
  // so pid_ is the server's.
  const std::string command = absl::StrCat(
      "exec ", cli, " serve --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 ",
      args, " 2>>", log_path);
  const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
  if (posix_spawn(&pid_, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv),
                  environ) != 0) {
    pid_ = -1;
    return false;
  }
  // The server logs its port once it listens.
  const std::regex port_re("event=serving .*port=([0-9]+)");
  const std::regex http_port_re("event=http_serving .*http_port=([0-9]+)");
  port_ = 0;
  http_port_ = 0;
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    const std::string log = ReadFile(log_path);
    std::smatch m;
    const std::string fresh =
        log.size() > log_start ? log.substr(log_start) : "";
    if (std::regex_search(fresh, m, port_re)) {
      port_ = std::stoi(m[1]);
      if (std::regex_search(fresh, m, http_port_re)) {
        http_port_ = std::stoi(m[1]);
      }
      return true;
    }
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {  // exited early
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int ServerProcess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

}  // namespace testing
}  // namespace newsdedup
