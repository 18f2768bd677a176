// The version of this build (the CMake project's), for --version and the
// newsdedup_build_info metric.
#ifndef NEWSDEDUP_COMMON_VERSION_H_
#define NEWSDEDUP_COMMON_VERSION_H_

namespace newsdedup {

// "0.1.0".
const char* Version();

}  // namespace newsdedup

#endif  // NEWSDEDUP_COMMON_VERSION_H_
