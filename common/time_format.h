// Times as the service writes them: RFC 3339 in UTC, whole seconds.
#ifndef NEWSDEDUP_COMMON_TIME_FORMAT_H_
#define NEWSDEDUP_COMMON_TIME_FORMAT_H_

#include <string>

#include "absl/time/time.h"

namespace newsdedup {

// "2025-10-22T08:00:00Z". The year always has four digits: absl's %Y
// writes year 1 as "1", which RFC 3339 parsers reject.
inline std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime("%E4Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace newsdedup

#endif  // NEWSDEDUP_COMMON_TIME_FORMAT_H_
