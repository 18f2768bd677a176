// Memory over a long run at the article cap, printed for
// docs/reliability.md (a benchmark, not a test):
//
//   build/bin/soak_benchmark [--minutes 10] [--cap 3000] [--rate 0]
//       [--corpus FILE] [--data-dir DIR] [--sample-seconds 30]
//
// A durable engine (RocksDB in --data-dir, a fresh one under /tmp by
// default) takes undated synthetic articles (tools/synthetic_articles.h)
// for --minutes, --rate a second (0: as fast as it can). Its clock moves a
// retention period (one day) every --cap articles, so once the first --cap are
// in, every new article makes retention forget the oldest: the live state stays
// the same size while articles keep arriving, which is what a server at its cap
// sees. Undated articles go to the index shard that never expires. Every
// --sample-seconds it prints the process's resident memory (and the heap in
// use within it), the store's size on
// disk, live articles and the index's waypoints; at the end, memory after the
// first retention cycle against the most since.
#include <malloc.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tools/engine_flags.h"
#include "tools/synthetic_articles.h"

namespace newsdedup {
namespace {

struct Flags {
  double minutes = 10;
  int64_t cap = 3000;
  double sample_seconds = 30;
  double rate = 0;  // articles a second; 0: as fast as it can
  std::string corpus = "../shared/data/uci-news-dev.jsonl";
  std::string data_dir;    // default: a fresh directory under /tmp
  bool in_memory = false;  // no store: the engine's own memory alone
  int64_t write_buffer_mb = StoreFlags().write_buffer_mb;
};

// Resident memory of this process in MiB (VmRSS), 0 if unknown.
double ResidentMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kib = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits += c;
      }
      if (absl::SimpleAtoi(digits, &kib)) return kib / 1024.0;
    }
  }
  return 0;
}

// Bytes malloc holds for the program (in use, not free in its arenas),
// in MiB: with rss_mib, tells what the program keeps from what the
// allocator keeps around it.
double HeapInUseMiB() {
  const struct mallinfo2 info = mallinfo2();
  return (info.uordblks + info.hblkhd) / (1024.0 * 1024.0);
}

double DirectoryMiB(const std::string& dir) {
  std::error_code error;
  uintmax_t bytes = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(dir, error)) {
    if (entry.is_regular_file(error)) bytes += entry.file_size(error);
  }
  return bytes / (1024.0 * 1024.0);
}

int Run(const Flags& flags) {
  omp_set_num_threads(1);  // as the server runs it
  auto maker = SyntheticArticles::FromJsonl(flags.corpus, 33);
  if (!maker.ok()) {
    std::cerr << "soak_benchmark: " << maker.status() << "\n";
    return 1;
  }
  std::string dir = flags.data_dir;
  if (dir.empty()) {
    dir = (std::filesystem::temp_directory_path() /
           absl::StrFormat("newsdedup-soak-%d", getpid()))
              .string();
    std::filesystem::remove_all(dir);
  }
  // One retention period (a day) every `cap` articles, on the engine's
  // clock.
  absl::Time now = absl::FromUnixSeconds(1761091200);
  const absl::Duration step = absl::Hours(24) / flags.cap;
  EngineFlags engine_flags;
  engine_flags.store.durable = !flags.in_memory;
  engine_flags.store.data_dir = dir;
  engine_flags.store.sync = "none";
  engine_flags.store.write_buffer_mb = flags.write_buffer_mb;
  engine_flags.store.retention_days = 1;
  engine_flags.has_store_flags = true;
  engine_flags.story_window_hours = 24;
  engine_flags.engine.max_articles = flags.cap + flags.cap / 10;
  engine_flags.engine.clock = [&now] { return now; };
  auto engine = BuildEngine(engine_flags);
  if (!engine.ok()) {
    std::cerr << "soak_benchmark: " << engine.status() << "\n";
    return 1;
  }
  std::cout << absl::StrFormat(
      "soak: cap %d undated articles, retention cycling every %d articles, "
      "%.0f minutes, %s, store %s\n",
      flags.cap, flags.cap, flags.minutes,
      flags.rate > 0 ? absl::StrFormat("%g articles/s", flags.rate)
                     : std::string("unpaced"),
      dir);
  std::cout << "minutes  assigned  rss_mib  heap_mib  store_mib  articles  "
               "waypoints  stories_forgotten\n";
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Minutes(flags.minutes);
  absl::Time next_sample = start;
  int64_t assigned = 0, refused = 0;
  double after_first_cycle = 0, most_since = 0, last = 0;
  for (int64_t n = 0; absl::Now() < end; ++n) {
    if (flags.rate > 0) {
      const absl::Time due = start + absl::Seconds(n / flags.rate);
      if (due > absl::Now()) absl::SleepFor(due - absl::Now());
    }
    Article article = maker->Make(n, now, absl::ZeroDuration(), "soak-");
    article.published = absl::InfinitePast();  // undated
    now += step;
    if ((*engine)->Assign(article).ok()) {
      ++assigned;
    } else {
      ++refused;
    }
    // The first cycle ends once `cap` articles were forgotten as well.
    if (assigned == 2 * flags.cap) after_first_cycle = ResidentMiB();
    if (absl::Now() >= next_sample) {
      const EngineStats stats = (*engine)->stats();
      last = ResidentMiB();
      if (after_first_cycle > 0) most_since = std::max(most_since, last);
      std::cout << absl::StrFormat(
                       "%7.1f  %8d  %7.1f  %8.1f  %9.1f  %8d  %9d  "
                       "%17d",
                       absl::ToDoubleMinutes(absl::Now() - start), assigned,
                       last, HeapInUseMiB(), DirectoryMiB(dir), stats.articles,
                       stats.index_waypoints, stats.forgotten_stories)
                << std::endl;
      next_sample += absl::Seconds(flags.sample_seconds);
    }
  }
  last = ResidentMiB();
  most_since = std::max(most_since, last);
  if (assigned > 2 * flags.cap) {
    std::cout << absl::StrFormat(
        "growth per article past the first cycle: %.0f bytes\n",
        (last - after_first_cycle) * 1024 * 1024 / (assigned - 2 * flags.cap));
  }
  std::cout << absl::StrFormat(
      "assigned %d (%d refused) in %.1f minutes\n"
      "rss after the first retention cycle %.1f MiB, most since %.1f MiB "
      "(%+.1f%%), at the end %.1f MiB (%+.1f%%)\n",
      assigned, refused, absl::ToDoubleMinutes(absl::Now() - start),
      after_first_cycle, most_since,
      100.0 * (most_since / after_first_cycle - 1), last,
      100.0 * (last / after_first_cycle - 1));
  engine->reset();
  if (flags.data_dir.empty()) std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace newsdedup

int main(int argc, char** argv) {
  newsdedup::Flags flags;
  CLI::App app{
      "Resident memory of a durable engine at its article cap over a long "
      "run (undated articles,\nretention cycling): docs/reliability.md"};
  app.add_option("--minutes", flags.minutes, "How long to run")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--cap", flags.cap,
                 "Live articles (retention forgets one per new one past it)")
      ->check(CLI::Range(int64_t{10}, int64_t{10'000'000}))
      ->capture_default_str();
  app.add_option("--sample-seconds", flags.sample_seconds,
                 "Seconds between printed samples")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--rate", flags.rate,
                 "Articles a second (0: as fast as the engine takes them)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--corpus", flags.corpus,
                 "JSONL whose titles the synthetic articles are made from")
      ->capture_default_str();
  app.add_option("--data-dir", flags.data_dir,
                 "Store directory (default: a fresh one under /tmp, removed "
                 "at the end)");
  app.add_flag("--in-memory", flags.in_memory,
               "No store: what the engine itself holds, without RocksDB's "
               "memtables and caches");
  app.add_option("--store-write-buffer-mb", flags.write_buffer_mb,
                 "As the server's flag: the store's memtable size")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return newsdedup::Run(flags);
}
