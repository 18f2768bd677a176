// Structured logging for the command-line programs: one line per event on
// standard error, as key=value pairs ("ts=... level=info event=serving
// port=50051"). Values with spaces or quotes are quoted. Article text never
// goes into info-level events.
#ifndef NEWSDEDUP_TOOLS_LOG_H_
#define NEWSDEDUP_TOOLS_LOG_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace newsdedup {

void LogEvent(absl::string_view level, absl::string_view event,
              const std::vector<std::pair<std::string, std::string>>& fields);

// Sums a frequent event's counts and reports the totals at most once per
// `interval` (the first occurrence at once), so that a server at its
// article cap, which forgets a few articles with every new one, logs one
// line a minute instead of one per article. Thread-safe.
class ThrottledTotals {
 public:
  using Report = std::function<void(int64_t occurrences,
                                    const std::vector<int64_t>& totals)>;
  ThrottledTotals(absl::Duration interval, Report report,
                  std::function<absl::Time()> clock = absl::Now)
      : interval_(interval),
        report_(std::move(report)),
        clock_(std::move(clock)) {}
  ~ThrottledTotals() { Flush(); }

  // Adds one occurrence with `counts` (one per total, in a fixed order);
  // reports the sums if `interval` passed since the last report.
  void Add(const std::vector<int64_t>& counts);
  // Reports what was added since the last report, if anything.
  void Flush();

 private:
  const absl::Duration interval_;
  const Report report_;
  const std::function<absl::Time()> clock_;
  absl::Mutex mu_;
  absl::Time last_report_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t occurrences_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int64_t> totals_ ABSL_GUARDED_BY(mu_);
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_LOG_H_
