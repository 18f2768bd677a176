#include "common/shipped_file.h"

#include <unistd.h>

#include <climits>
#include <filesystem>
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
  const std::string dir = ExecutableDir();
  // Beside the binary (a copied bundle), then where `cmake --install`
  // puts it under the binary's prefix (FHS: data in share/, the shim
  // library in lib/).
  for (const std::string& candidate :
       {dir + "/" + file_name, dir + "/../share/newsdedup/" + file_name,
        dir + "/../lib/newsdedup/" + file_name}) {
    if (std::ifstream(candidate).good()) {
      return std::filesystem::path(candidate).lexically_normal().string();
    }
  }
  return source_tree_path.empty() ? dir + "/" + file_name : source_tree_path;
}

}  // namespace newsdedup
