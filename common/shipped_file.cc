#include "common/shipped_file.h"

#include <unistd.h>

#include <climits>
#include <fstream>

namespace newsdedup {

std::string ExecutableDir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string path(buf, n);
  return path.substr(0, path.find_last_of('/'));
}

std::string ShippedFilePath(const std::string& file_name,
                            const std::string& source_tree_path) {
  const std::string beside_binary = ExecutableDir() + "/" + file_name;
  if (std::ifstream(beside_binary).good() || source_tree_path.empty()) {
    return beside_binary;
  }
  return source_tree_path;
}

}  // namespace newsdedup
