#include "tools/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace newsdedup {

Progress::Progress(int64_t total_bytes, std::FILE* out, bool always)
    : total_bytes_(total_bytes),
      out_(out),
      enabled_(always || isatty(fileno(out)) == 1) {}

Progress::~Progress() { Finish(items_); }

void Progress::Finish(int64_t items) {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  Draw(items, total_bytes_);
  std::fputs("\n", out_);
  std::fflush(out_);
}

void Progress::Update(int64_t items, int64_t bytes) {
  items_ = items;
  if (bytes >= 0) bytes_ = bytes;  // else the last known position stands
  if (!enabled_ || finished_) return;
  const absl::Time now = absl::Now();
  if (now - last_draw_ < absl::Milliseconds(100)) return;
  last_draw_ = now;
  Draw(items, bytes_);
}

void Progress::Draw(int64_t items, int64_t bytes) {
  const double seconds =
      std::max(1e-3, absl::ToDoubleSeconds(absl::Now() - start_));
  if (total_bytes_ > 0) {
    constexpr int kWidth = 30;
    const double fraction = std::clamp(
        static_cast<double>(bytes) / static_cast<double>(total_bytes_), 0.0,
        1.0);
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(filled, '#');
    bar.append(kWidth - filled, '.');
    std::fprintf(out_, "\r[%s] %3.0f%% %lld articles %.0f/s", bar.c_str(),
                 fraction * 100, static_cast<long long>(items),
                 items / seconds);
  } else {
    std::fprintf(out_, "\r%lld articles %.0f/s", static_cast<long long>(items),
                 items / seconds);
  }
  std::fflush(out_);
}

}  // namespace newsdedup
