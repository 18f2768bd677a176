#include "tools/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace newsdedup {

Progress::Progress(int64_t total_bytes)
    : total_bytes_(total_bytes), enabled_(isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() {
  if (drawn_) std::fputs("\n", stderr);
}

void Progress::Update(int64_t items, int64_t bytes) {
  if (!enabled_) return;
  const absl::Time now = absl::Now();
  if (now - last_draw_ < absl::Milliseconds(100)) return;
  last_draw_ = now;
  Draw(items, bytes);
}

void Progress::Draw(int64_t items, int64_t bytes) {
  const double seconds =
      std::max(1e-3, absl::ToDoubleSeconds(absl::Now() - start_));
  if (total_bytes_ > 0) {
    constexpr int kWidth = 30;
    const double fraction =
        std::min(1.0, static_cast<double>(bytes) / total_bytes_);
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(filled, '#');
    bar.append(kWidth - filled, '.');
    std::fprintf(stderr, "\r[%s] %3.0f%% %lld articles %.0f/s", bar.c_str(),
                 fraction * 100, static_cast<long long>(items),
                 items / seconds);
  } else {
    std::fprintf(stderr, "\r%lld articles %.0f/s",
                 static_cast<long long>(items), items / seconds);
  }
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace newsdedup
