// A one-line progress display on standard error, shown only on a terminal
// so that logs and pipes stay clean.
#ifndef NEWSDEDUP_TOOLS_PROGRESS_H_
#define NEWSDEDUP_TOOLS_PROGRESS_H_

#include <cstdint>
#include <cstdio>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace newsdedup {

class Progress {
 public:
  // `total_bytes` is the input size when known (a file), else 0. Draws on
  // `out` if it is a terminal, or always when `always` (tests).
  explicit Progress(int64_t total_bytes, std::FILE* out = stderr,
                    bool always = false);
  ~Progress();  // Finish()es with the last count reported

  // Reports `items` done after reading `bytes` (negative: unknown);
  // redraws at most 10x/second.
  void Update(int64_t items, int64_t bytes);

  // The whole input is done: draws the final state (100%) and ends the
  // line, so that what is printed next starts on a line of its own.
  void Finish(int64_t items);

 private:
  void Draw(int64_t items, int64_t bytes);

  const int64_t total_bytes_;
  std::FILE* const out_;
  const bool enabled_;
  int64_t items_ = 0;
  int64_t bytes_ = 0;
  bool finished_ = false;
  const absl::Time start_ = absl::Now();
  absl::Time last_draw_ = absl::InfinitePast();
};

}  // namespace newsdedup

#endif  // NEWSDEDUP_TOOLS_PROGRESS_H_
