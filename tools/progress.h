// A one-line progress display on standard error, shown only on a terminal
// so that logs and pipes stay clean.
#ifndef NEWSDEDUP_TOOLS_PROGRESS_H_
#define NEWSDEDUP_TOOLS_PROGRESS_H_

#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace newsdedup {

class Progress {
 public:
  // `total_bytes` is the input size when known (a file), else 0.
  explicit Progress(int64_t total_bytes);
  ~Progress();

  // Reports `items` done after reading `bytes`; redraws at most 10x/second.
  void Update(int64_t items, int64_t bytes);

 private:
  void Draw(int64_t items, int64_t bytes);

  const int64_t total_bytes_;
  const bool enabled_;
  const absl::Time start_ = absl::Now();
  absl::Time last_draw_ = absl::InfinitePast();
  bool drawn_ = false;
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_PROGRESS_H_
