// Where a file shipped with newsdedup (a model, the sentencepiece shim) is
// found: next to the running binary, or where `cmake --install` puts it
// under the binary's prefix (PREFIX/share/newsdedup, PREFIX/lib/newsdedup),
// else in the source tree the binary was built from.
#ifndef NEWSDEDUP_COMMON_SHIPPED_FILE_H_
#define NEWSDEDUP_COMMON_SHIPPED_FILE_H_

#include <string>

namespace newsdedup {

// The directory of the running executable ("." if unknown).
std::string ExecutableDir();

// The first of ExecutableDir()/file_name, ExecutableDir()/../share/
// newsdedup/file_name and ExecutableDir()/../lib/newsdedup/file_name that
// exists; else `source_tree_path` when not empty, else
// ExecutableDir()/file_name.
std::string ShippedFilePath(const std::string& file_name,
                            const std::string& source_tree_path);

}  // namespace newsdedup

#endif  // NEWSDEDUP_COMMON_SHIPPED_FILE_H_
