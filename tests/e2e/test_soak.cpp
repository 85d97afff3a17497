// Soak test: many short songs through one heartmula-gen --batch process. Checks that
//  - every song is saved and the process exits 0 (in a sanitizer build LeakSanitizer runs at
//    exit: a leak makes the exit code non-zero and prints "LeakSanitizer" on stderr);
//  - resident memory (VmRSS of /proc/<pid>/status, sampled by this test each time a song is
//    reported saved) does not grow after the first songs;
//  - sampled songs are byte-identical to single runs with the same seed.
// Prints the RSS series and the times (docs/reliability.md keeps the figures).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gen_test_util.h"

namespace {

using namespace heartmula::test;

int soak_songs() {
  const char* env = std::getenv("HEARTMULA_SOAK_SONGS");
  const int n = env != nullptr ? std::atoi(env) : 200;
  return n >= 20 ? n : 20;
}

// VmRSS of a live process in KiB (0 if it is gone).
long rss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

size_t count_of(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

const char* const kTags[] = {"piano,happy", "rock,guitar", "jazz,sax,night"};

std::vector<std::string> common_args(const std::string& ckpt) {
  return {"--model-path", ckpt, "--duration", "0.4", "--ignore-eos", "--codec-steps", "1", "--threads", "1"};
}

std::string lyrics_of(int i) { return "[verse]\nsong number " + std::to_string(i) + "\nla la la"; }

TEST(Soak, ManySongsInOneProcessNoGrowthSameAsSingleRuns) {
  const std::string ckpt = gen_checkpoint();
  if (ckpt.empty()) GTEST_SKIP() << "no checkpoint folder (tokenizer.json missing)";
  const int n = soak_songs();
  ScratchDir dir("soak");
  ScratchDir logs("soak-logs");
  std::string lines;
  for (int i = 1; i <= n; ++i) {
    lines += "{\"lyrics\": \"" + std::string("[verse]\\nsong number ") + std::to_string(i) +
             "\\nla la la\", \"tags\": \"" + kTags[i % 3] + "\", \"seed\": " + std::to_string(1000 + i) +
             ", \"save_path\": \"s" + std::to_string(i) + ".wav\"}\n";
  }
  write_file(dir.file("songs.jsonl"), lines);

  std::vector<std::string> args = common_args(ckpt);
  args.insert(args.end(), {"--batch", dir.file("songs.jsonl")});
  GenProcess p(args, dir.path(), logs.path());
  std::vector<long> rss_after(n + 1, 0);  // rss_after[k]: VmRSS when k songs were reported saved
  long peak = 0;
  size_t seen = 0;
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    const long rss = rss_kib(p.pid());
    if (rss == 0 && peak > 0) break;  // ended (a zombie has no VmRSS; a reaped one no /proc entry)
    peak = std::max(peak, rss);
    const size_t saved = count_of(p.current_stderr(), "\nSaved to ");
    if (rss > 0) {
      for (size_t k = seen + 1; k <= saved && k <= static_cast<size_t>(n); ++k) rss_after[k] = rss;
      seen = std::max(seen, saved);
    }
    if (p.wait_for_stderr("batch: ", 0.02)) break;
    if (std::chrono::steady_clock::now() - start > std::chrono::minutes(45)) break;
  }
  const GenResult r = p.wait();
  ASSERT_EQ(r.code, 0) << "signal " << r.signal << "\n"
                       << r.err.substr(r.err.size() > 20000 ? r.err.size() - 20000 : 0);
  EXPECT_EQ(r.err.find("LeakSanitizer"), std::string::npos) << r.err.substr(r.err.find("LeakSanitizer"));
  EXPECT_NE(r.err.find("batch: " + std::to_string(n) + " songs done, 0 failed"), std::string::npos);
  EXPECT_EQ(part_files(dir.path()), std::vector<std::string>{});

  std::printf("soak: %d songs in %.1f s (%.2f s/song), peak VmRSS %.1f MiB\n", n, r.seconds, r.seconds / n,
              peak / 1024.0);
  std::printf("soak: VmRSS after song k (MiB):");
  for (int k = 1; k <= n; ++k)
    if ((k <= 5 || k % 20 == 0 || k == n) && rss_after[k] > 0) std::printf(" %d:%.1f", k, rss_after[k] / 1024.0);
  std::printf("\n");
  // No growth after the first songs: the RSS at the end is within 5% (or 16 MiB) of the RSS
  // after song 10, when every cache (allocator pools, oneDNN kernels, OpenMP) is warm.
  const int warm = 10;
  long later_max = 0;
  for (int k = warm; k <= n; ++k) later_max = std::max(later_max, rss_after[k]);
  const long base = rss_after[warm];
  ASSERT_GT(base, 0) << "RSS not sampled";
  const long allowed = std::max(base / 20, 16L * 1024);
  EXPECT_LE(later_max - base, allowed) << "VmRSS grew from " << base / 1024 << " MiB after song " << warm << " to "
                                       << later_max / 1024 << " MiB";
  // Also no steady climb: the second half's mean is within the same bound of the first half's.
  double first = 0, second = 0;
  const int half = (n - warm) / 2;
  for (int k = warm; k < warm + half; ++k) first += rss_after[k];
  for (int k = warm + half; k < warm + 2 * half; ++k) second += rss_after[k];
  first /= half;
  second /= half;
  std::printf("soak: mean VmRSS songs %d-%d: %.1f MiB, songs %d-%d: %.1f MiB\n", warm, warm + half - 1, first / 1024,
              warm + half, warm + 2 * half - 1, second / 1024);
  EXPECT_LE(second - first, static_cast<double>(allowed));

  // Sampled songs equal single runs with the same seed, byte for byte.
  for (int i : {1, n / 4, n / 2, 3 * n / 4, n}) {
    SCOPED_TRACE("song " + std::to_string(i));
    std::vector<std::string> one = common_args(ckpt);
    one.insert(one.end(), {"--lyrics", lyrics_of(i), "--tags", kTags[i % 3], "--seed", std::to_string(1000 + i), "-o",
                           dir.file("single" + std::to_string(i) + ".wav")});
    const GenResult s = run_gen(one, dir.path(), logs.path());
    ASSERT_EQ(s.code, 0) << s.err;
    const std::string batch_song = read_file(dir.file("s" + std::to_string(i) + ".wav"));
    ASSERT_GT(batch_song.size(), 44u);
    EXPECT_TRUE(batch_song == read_file(dir.file("single" + std::to_string(i) + ".wav")))
        << "song " << i << " of the batch differs from its single run";
  }
}

}  // namespace
