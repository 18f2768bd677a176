#include "tools/log.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace newsdedup {
namespace {

std::string Quote(absl::string_view value) {
  if (!value.empty() &&
      value.find_first_of(" \"=\n\t") == absl::string_view::npos) {
    return std::string(value);
  }
  return absl::StrCat(
      "\"",
      absl::StrReplaceAll(value,
                          {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}}),
      "\"");
}

}  // namespace

void LogEvent(absl::string_view level, absl::string_view event,
              const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string line =
      absl::StrCat("ts=",
                   absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                    absl::UTCTimeZone()),
                   " level=", level, " event=", event);
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&line, " ", key, "=", Quote(value));
  }
  line.push_back('\n');
  static absl::Mutex mu(absl::kConstInit);
  absl::MutexLock lock(&mu);
  std::cerr << line << std::flush;
}

void ThrottledTotals::Add(const std::vector<int64_t>& counts) {
  int64_t occurrences;
  std::vector<int64_t> totals;
  {
    absl::MutexLock lock(&mu_);
    if (totals_.size() < counts.size()) totals_.resize(counts.size());
    for (size_t i = 0; i < counts.size(); ++i) totals_[i] += counts[i];
    ++occurrences_;
    const absl::Time now = clock_();
    if (now - last_report_ < interval_) return;
    last_report_ = now;
    occurrences = std::exchange(occurrences_, 0);
    totals = std::exchange(totals_, {});
  }
  report_(occurrences, totals);
}

void ThrottledTotals::Flush() {
  int64_t occurrences;
  std::vector<int64_t> totals;
  {
    absl::MutexLock lock(&mu_);
    if (occurrences_ == 0) return;
    last_report_ = clock_();
    occurrences = std::exchange(occurrences_, 0);
    totals = std::exchange(totals_, {});
  }
  report_(occurrences, totals);
}

}  // namespace newsdedup
