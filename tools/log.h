// Structured logging for the command-line programs: one line per event on
// standard error, as key=value pairs ("ts=... level=info event=serving
// port=50051"). Values with spaces or quotes are quoted. Article text never
// goes into info-level events.
#ifndef NEWSDEDUP_TOOLS_LOG_H_
#define NEWSDEDUP_TOOLS_LOG_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace newsdedup {

void LogEvent(absl::string_view level, absl::string_view event,
              const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_LOG_H_
