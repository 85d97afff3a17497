// heartmula-gen: lyrics + style tags -> a song. Fills the parameter structs from the command
// line, runs the Generator and reports; all the work is in the library.
#include <CLI/CLI.hpp>
#include <stdexcept>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <unistd.h>

#include "default_texts.h"
#include "heartmula/error.h"
#include "cli_defaults.h"
#include "model_options.h"
#include "tool_main.h"
#include "heartmula/generator.h"
#include "io/kernel_paths.h"
#include "io/switches.h"
#include "io/temp_files.h"
#include "runtime/batch_file.h"
#include "runtime/device.h"
#include "runtime/process_clock.h"
#include "runtime/multi_device.h"
#include "runtime/report.h"
#include "runtime/song_params.h"

namespace fs = std::filesystem;
using namespace heartmula;

namespace {

// Out of memory: the figures of the GPUs in use (runtime::out_of_memory_report) and what helps.
void print_out_of_memory(const std::string& message, const std::string& phase) {
  const std::runtime_error e(message);
  if (!runtime::is_out_of_memory(e)) return;
  std::fprintf(stderr, "%s",
               runtime::out_of_memory_report(
                   e, phase,
                   {"--lazy-load (frees the language model before the codec)",
                    "a shorter song (--duration / --max-audio-length-ms)", "--codec-device cpu", "--mula-dtype bf16"})
                   .c_str());
}

std::atomic<int> g_interrupts{0};

// The wall-time breakdown's clock points of this process (Timings::process_s, setup_s,
// reported_at_s; scripts/wall-time.sh).
struct ProcessClock {
  double at_main = 0;  // seconds from the process's start to main()
  std::chrono::steady_clock::time_point main, load;
  bool first_reported = false;

  // Fills the process's parts into a song's timings (process_s, setup_s to the first song).
  void stamp(Timings& t) {
    t.reported_at_s = at_main + std::chrono::duration<double>(std::chrono::steady_clock::now() - main).count();
    if (first_reported) return;
    first_reported = true;
    t.process_s = at_main;
    t.setup_s = std::chrono::duration<double>(load - main).count();
  }
};
ProcessClock g_clock;

void on_sigint(int) {
  if (g_interrupts.fetch_add(1) >= 1) {
    const char msg[] = "\nheartmula-gen: interrupted twice, aborting without saving\n";
    ssize_t ignored = ::write(2, msg, sizeof msg - 1);
    (void)ignored;
    io::unlink_temp_files_for_abort();  // the files being written: no half file stays behind
    std::_Exit(kExitInterrupted);
  }
  const char msg[] =
      "\nheartmula-gen: interrupted; finishing the current frame, then saving what exists (Ctrl-C again to abort)\n";
  ssize_t ignored = ::write(2, msg, sizeof msg - 1);
  (void)ignored;
}

struct Cli {
  ModelSettings model;
  SongRequest song;
  std::string lyrics_arg, tags_arg, save_arg = ".";
  // The numeric song parameters as typed, by batch-file key; parse_song_numbers() checks and
  // applies them through runtime/song_params.h.
  std::map<std::string, std::string> numbers;
  bool quiet = false, verbose = false, json = false, no_metadata = false;
  bool list_devices = false, validate = false;
  std::string batch_file;
  std::string version_arg;
  int num_songs = 1;
  int batch_size = 1;                 // --batch: lines run together
  std::string shard_arg;              // --shard K/N as typed
  uint64_t shard_k = 0, shard_n = 1;  // this process takes songs i with i % shard_n == shard_k
  bool skip_existing = false;
  bool stream = false;  // --stream / --no-stream, when given (else SongRequest's automatic)
};

// --shard K/N: integers, 0 <= K < N. Throws UsageError naming the flag and the value.
void parse_shard(Cli& c) {
  const std::string& v = c.shard_arg;
  auto bad = [&v] {
    return UsageError("--shard must be K/N with whole numbers 0 <= K < N (e.g. --shard 0/4). Given: '" + v + "'");
  };
  const size_t slash = v.find('/');
  if (slash == std::string::npos) throw bad();
  auto number = [&](const std::string& t) {
    if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos) throw bad();
    return static_cast<uint64_t>(std::stoull(t));
  };
  c.shard_k = number(v.substr(0, slash));
  c.shard_n = number(v.substr(slash + 1));
  if (c.shard_n < 1 || c.shard_k >= c.shard_n) throw bad();
}

bool in_shard(const Cli& c, uint64_t index) { return index % c.shard_n == c.shard_k; }

// --skip-existing: true when the song's output exists complete. Files appear only complete
// (written to a temporary name, then renamed: io/audio_output_file, io/atomic_file); a song cut
// short by Ctrl-C is saved too, as partial, and its sidecar says so ("partial": true): such a
// song is made again (its files replaced: `song.overwrite` is set). Without audio the codes
// file is the output.
bool output_complete(SongRequest& song) {
  const std::string& out = song.no_audio ? song.codes_out : song.save_path;
  std::error_code ec;
  if (out.empty() || out == "-" || !fs::is_regular_file(out, ec)) return false;
  if (!song.no_audio) {
    const std::string sidecar = fs::path(out).replace_extension(".json").string();
    std::ifstream in(sidecar);
    if (in) {
      const nlohmann::json meta = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (meta.is_object() && meta.value("partial", false)) {
        song.overwrite = true;
        return false;
      }
    }
  }
  return true;
}

// Reports a song skipped by --skip-existing: on stderr, and as a --json line.
void report_skipped(const Cli& c, const std::string& where, const SongRequest& song) {
  const std::string& out = song.no_audio ? song.codes_out : song.save_path;
  if (!c.quiet) std::fprintf(stderr, "[%s] skipped: %s exists (--skip-existing)\n", where.c_str(), out.c_str());
  if (c.json) {
    nlohmann::json j = {{"output", song.no_audio ? "" : song.save_path},
                        {"codes_out", song.codes_out},
                        {"skipped", true},
                        {"where", where}};
    if (song.seed) j["seed"] = *song.seed;
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
}

// A batch line's output: a file as given, or for a folder (or nothing) "<folder>/<batch file
// stem>-<line>.mp3": the line number is the song's identity, the same in every run and shard
// (--shard, --skip-existing find it again).
std::string batch_save_path(const std::string& arg, const std::string& batch_file, int line_no) {
  std::error_code ec;
  if (!arg.empty() && !fs::is_directory(arg, ec) && arg.back() != '/') return arg;
  const fs::path dir = arg.empty() ? fs::path(".") : fs::path(arg);
  return (dir / (fs::path(batch_file).stem().string() + "-" + std::to_string(line_no) + ".mp3")).string();
}

// "./" or an existing folder -> "<folder>/heartmula-YYYYmmdd-HHMMSS[-N].mp3".
std::string resolve_save_path(const std::string& arg, const std::string& suffix = "") {
  std::error_code ec;
  if (arg.empty() || fs::is_directory(arg, ec) || arg.back() == '/') {
    std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
    fs::path dir = arg.empty() ? fs::path(".") : fs::path(arg);
    for (int n = 0;; ++n) {
      fs::path p = dir / ("heartmula-" + std::string(stamp) + suffix + (n ? "-" + std::to_string(n) : "") + ".mp3");
      if (!fs::exists(p, ec)) return p.string();
    }
  }
  return arg;
}

// A numeric song parameter: flags, help and default from runtime/song_params.h; the text is
// checked after parsing (parse_song_numbers), with the message batch files and the library give.
void add_song_number(CLI::App* group, Cli& c, const char* key) {
  const runtime::SongParam& p = runtime::song_param(key);
  group->add_option(p.flags, c.numbers[key], p.help)
      ->type_name(std::string(p.integer ? "INT" : "FLOAT") + " in [" + runtime::format_number(p.lo) + ", " +
                  runtime::format_number(p.hi) + "]")
      ->default_str(p.default_text());
}

// Each numeric song parameter given on the command line -> c.song (in the table's order, so
// --duration overrides --max-audio-length-ms). Throws UsageError for a bad value.
void parse_song_numbers(const CLI::App& app, Cli& c) {
  for (const runtime::SongParam& p : runtime::song_params()) {
    const auto it = c.numbers.find(p.key);
    if (it == c.numbers.end() || app.count(p.flag()) == 0) continue;
    if (p.set_text)
      p.set_text(c.song, it->second, p.flag());  // --temperature START:END[:SHAPE] too
    else
      p.set(c.song, p.parse(it->second));
  }
}

void add_options(CLI::App& app, Cli& c) {
  // --version VALUE picks the model (upstream's flag); --version alone or -V prints ours.
  tools::add_model_group(app, c.model, c.version_arg);

  auto* text = app.add_option_group("Song");
  text->add_option("--lyrics", c.lyrics_arg, "lyrics: a file, or the text itself (default: a sample lyric)");
  text->add_option("--tags", c.tags_arg, "style tags: a file, or the text itself (default: piano,happy)");
  add_song_number(text, c, "max_audio_length_ms");
  add_song_number(text, c, "duration");
  text->add_option("--batch", c.batch_file,
                   "JSON Lines file: one song per line (lyrics, tags, seed, save_path, any option)");
  text->add_option("--num-songs,--num_songs", c.num_songs, "songs from the same text with seeds seed, seed+1, ...")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  text->add_option("--batch-size,--batch_size", c.batch_size,
                   "songs generated together in one batch: --batch lines (default 1: one at a time); "
                   "--num-songs N (default N, or N / devices)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  text->add_option("--shard", c.shard_arg,
                   "K/N: with --batch / --num-songs, only the songs whose index i (from 0) has i mod N = K")
      ->type_name("K/N");
  text->add_flag("--skip-existing,--skip_existing", c.skip_existing,
                 "skip songs whose output file exists complete (a partial one is made again)");

  auto* samp = app.add_option_group("Sampling");
  add_song_number(samp, c, "temperature");
  add_song_number(samp, c, "topk");
  add_song_number(samp, c, "cfg_scale");
  samp->add_option("--seed", c.song.seed, "random seed (random when absent; always reported)");
  samp->add_flag("--ignore-eos,--ignore_eos", c.song.ignore_eos, "generate the full length even after the end token");

  auto* codec = app.add_option_group("Codec");
  add_song_number(codec, c, "codec_steps");
  add_song_number(codec, c, "codec_guidance");

  auto* dev = tools::add_device_group(app, c.model);
  dev->add_flag("--list-devices,--list_devices", c.list_devices, "list the devices and exit");
  dev->add_flag("--validate", c.validate, "report the LibTorch build and devices, check the checkpoint folder, exit");

  auto* out = app.add_option_group("Output");
  out->add_option("-o,--save-path,--save_path", c.save_arg,
                  "output file (.mp3 .wav .flac .ogg) or folder (timestamped name)")
      ->capture_default_str();
  out->add_flag("--overwrite", c.song.overwrite, "replace an existing output file");
  add_song_number(out, c, "mp3_bitrate");
  out->add_option("--codes-out,--codes_out", c.song.codes_out,
                  "also save the audio codes (.safetensors, tensor frames [T, 8])");
  out->add_option("--codes-in,--codes_in", c.song.codes_in,
                  "decode these saved codes instead of running the language model");
  out->add_flag("--no-audio,--no_audio", c.song.no_audio, "run the language model only (with --codes-out)");
  out->add_flag("--stream,!--no-stream", c.stream,
                "decode and encode each 29.76 s window while the language model goes on (the default for audio; "
                "--no-stream: the whole song after the last frame, the same bytes)");
  out->add_option("--format", c.song.stdout_format, "audio format for -o - (stdout): mp3 or wav")
      ->capture_default_str()
      ->check(CLI::IsMember({"mp3", "wav"}));
  out->add_flag("--no-metadata,--no_metadata", c.no_metadata, "do not write the <song>.json sidecar");
  out->add_flag("-q,--quiet", c.quiet, "no progress or timings on stderr");
  out->add_flag("-v,--verbose", c.verbose, "more detail on stderr");
  out->add_flag("--json", c.json, "print one JSON object per song on stdout");
}

uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32 | rd()) & 0x7fffffffffffffffull;
}

void say(const Cli& c, const std::string& s) {
  if (!c.quiet) std::fprintf(stderr, "%s\n", s.c_str());
}

// Reports a finished song: sidecar, timings on stderr, --json line. Returns its exit code.
int report_song(Generator& gen, const Cli& c, const SongRequest& song, const SongResult& song_result) {
  SongResult res = song_result;
  g_clock.stamp(res.timings);
  const bool to_stdout = song.save_path == "-";  // then stdout is the audio: reports go to stderr
  if (!c.no_metadata && !res.save_path.empty() && !to_stdout) runtime::write_sidecar(gen.settings(), song, res);
  if (!c.quiet) {
    std::fprintf(stderr, "%s", runtime::format_timings(res.timings).c_str());
    std::fprintf(stderr, "seed = %llu\n", static_cast<unsigned long long>(res.seed));
    if (!res.save_path.empty())
      std::fprintf(stderr, "%s to %s\n", res.interrupted ? "Partial song saved" : "Saved",
                   to_stdout ? "<stdout>" : res.save_path.c_str());
    if (!res.codes_path.empty()) std::fprintf(stderr, "Codes saved to %s\n", res.codes_path.c_str());
  }
  if (c.json)
    std::fprintf(to_stdout ? stderr : stdout, "%s\n", runtime::result_json(gen.settings(), song, res, false).c_str());
  std::fflush(stdout);
  return res.interrupted ? kExitInterrupted : kExitOk;
}

// Runs one song and reports it. Returns the exit code for this song.
int run_song(Generator& gen, const Cli& c, SongRequest song) {
  if (!song.seed) song.seed = random_seed();
  song.validate();
  runtime::ProgressPrinter progress(c.quiet);
  SongResult res = gen.generate(
      song, [&](int64_t done, int64_t planned, double t) { progress.update(done, planned, t); },
      [] { return g_interrupts.load() > 0; });
  progress.finish();
  return report_song(gen, c, song, res);
}

// Runs songs together in one batch (Generator::generate_many) and reports those that were
// saved. A failed song (its `error` set) is left to the caller to report.
// `first` and `total` number the songs in the saved lines when this batch is a group of a larger run.
std::vector<SongResult> run_songs(Generator& gen, const Cli& c, std::vector<SongRequest> songs, size_t first = 0,
                                  size_t total = 0) {
  for (auto& s : songs)
    if (!s.seed) s.seed = random_seed();
  runtime::ProgressPrinter progress(c.quiet);
  // Each song's file is complete as soon as it ends (the codec worker): say so in that order.
  auto saved = [&c, first, n = total > 0 ? total : songs.size()](size_t i, const SongResult& r) {
    if (!c.quiet)
      std::fprintf(stderr, "%ssong %zu of %zu (seed %llu, %lld frames) saved to %s\n", ::isatty(2) ? "\n" : "",
                   first + i + 1, n, static_cast<unsigned long long>(r.seed), static_cast<long long>(r.timings.frames),
                   r.save_path.c_str());
  };
  std::vector<SongResult> res = gen.generate_many(
      songs, [&](int64_t done, int64_t planned, double t) { progress.update(done, planned, t); },
      [] { return g_interrupts.load() > 0; }, saved);
  progress.finish();
  for (size_t i = 0; i < res.size(); ++i) {
    if (!res[i].error.empty()) continue;
    try {
      report_song(gen, c, songs[i], res[i]);
    } catch (const std::exception& e) {  // the sidecar could not be written
      res[i].error = e.what();
    }
  }
  return res;
}

// Several devices (--device cpu,cpu / cuda:0,cuda:1 / cuda:all): the songs go to whichever
// device is free, `group_size` at a time (runtime::DevicePool); each song is saved as it ends
// and reported (sidecar, timings, --json line with its "device") as its group ends. `wheres`
// names the songs in messages. Counts what ran; songs of groups never started (interrupted)
// are neither reported nor counted, as lines a single device never reached.
struct DeviceRunCounts {
  int ok = 0, interrupted = 0;
  std::vector<std::string> failures;  // "<where>: <label>: <what>"
};
DeviceRunCounts run_on_devices(runtime::DevicePool& pool, const Cli& c, std::vector<SongRequest> songs,
                               const std::vector<std::string>& wheres, size_t group_size) {
  for (auto& s : songs)
    if (!s.seed) s.seed = random_seed();
  std::mutex out_lock;  // the devices' threads report at once
  std::vector<std::unique_ptr<runtime::ProgressPrinter>> progress;
  for (size_t d = 0; d < pool.size(); ++d)
    progress.push_back(std::make_unique<runtime::ProgressPrinter>(c.quiet, stderr, "[" + pool.label(d) + "] "));
  DeviceRunCounts counts;
  const size_t n = songs.size();
  auto saved = [&](size_t i, const SongResult& r) {
    if (c.quiet) return;
    std::lock_guard<std::mutex> lock(out_lock);
    std::fprintf(stderr, "%s[%s] song %zu of %zu (seed %llu, %lld frames) saved to %s\n", ::isatty(2) ? "\n" : "",
                 r.device.c_str(), i + 1, n, static_cast<unsigned long long>(r.seed),
                 static_cast<long long>(r.timings.frames), r.save_path.c_str());
  };
  auto done = [&](size_t d, const std::vector<size_t>& idx, const std::vector<SongResult>& res) {
    std::lock_guard<std::mutex> lock(out_lock);
    progress[d]->finish();
    for (size_t k = 0; k < idx.size(); ++k) {
      std::string error = res[k].error;
      if (error.empty()) {
        try {
          report_song(pool.generator(d), c, songs[idx[k]], res[k]);
        } catch (const std::exception& e) {  // the sidecar could not be written
          error = e.what();
        }
      }
      if (!error.empty()) {
        counts.failures.push_back(wheres[idx[k]] + ": " + error);
        std::fprintf(stderr, "error: %s\n", counts.failures.back().c_str());
        print_out_of_memory(error, "");
      } else if (res[k].interrupted) {
        ++counts.interrupted;
      } else {
        ++counts.ok;
      }
    }
  };
  pool.generate_many(
      songs, group_size,
      [&](size_t d, int64_t f, int64_t planned, double t) {
        std::lock_guard<std::mutex> lock(out_lock);
        progress[d]->update(f, planned, t);
      },
      [] { return g_interrupts.load() > 0; }, saved, done);
  return counts;
}

int run_batch(Generator& gen, const Cli& c, runtime::DevicePool* pool = nullptr) {
  std::ifstream in(c.batch_file);
  if (!in) throw UsageError("--batch " + c.batch_file + ": cannot open the file");
  std::string line;
  int line_no = 0, ok = 0, failed = 0, interrupted = 0, skipped = 0;
  uint64_t song_index = 0;  // song lines (not blank) so far: --shard's i
  std::vector<std::string> failures;
  // `message` names the line: parse_batch_line's errors do already, the others get "FILE:LINE: ".
  auto fail = [&](const std::string& message) {
    ++failed;
    failures.push_back(message);
    std::fprintf(stderr, "error: %s\n", message.c_str());
  };
  // --batch-size K > 1: valid lines wait in `group` until K of them run as one batch.
  std::vector<SongRequest> group;
  std::vector<std::string> wheres;
  // Several devices: every valid line waits here, then they go to the devices.
  std::vector<SongRequest> pooled;
  std::vector<std::string> pooled_wheres;
  auto run_group = [&] {
    if (group.empty()) return;
    try {
      const std::vector<SongResult> res = run_songs(gen, c, group);
      for (size_t i = 0; i < res.size(); ++i) {
        if (!res[i].error.empty())
          fail(wheres[i] + ": " + res[i].error);
        else if (res[i].interrupted)
          ++interrupted;
        else
          ++ok;
      }
    } catch (const std::exception& e) {  // the batch itself failed (e.g. out of memory)
      for (const auto& w : wheres) fail(w + ": " + e.what());
    }
    group.clear();
    wheres.clear();
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (runtime::is_blank_batch_line(line)) continue;
    if (g_interrupts.load() > 0) break;
    if (!in_shard(c, song_index++)) continue;  // another shard's line
    const std::string where = c.batch_file + ":" + std::to_string(line_no);
    SongRequest s;
    try {
      s = runtime::parse_batch_line(line, c.song, where);
    } catch (const std::exception& e) {
      fail(e.what());  // names the place itself
      continue;
    }
    try {
      s.save_path = batch_save_path(s.save_path.empty() ? c.save_arg : s.save_path, c.batch_file, line_no);
      if (c.skip_existing && output_complete(s)) {
        ++skipped;
        report_skipped(c, where, s);
        continue;
      }
      say(c, "[" + where + "] -> " + s.save_path);
      if (pool) {
        if (!s.seed) s.seed = random_seed();
        s.validate();
        gen.check(s);  // a line that does not fit fails alone, not its whole batch
        pooled.push_back(s);
        pooled_wheres.push_back(where);
      } else if (c.batch_size > 1) {
        if (!s.seed) s.seed = random_seed();
        s.validate();
        gen.check(s);  // a line that does not fit fails alone, not its whole batch
        group.push_back(s);
        wheres.push_back(where);
      } else {
        int rc = run_song(gen, c, s);
        if (rc == kExitInterrupted)
          ++interrupted;
        else
          ++ok;
      }
    } catch (const std::exception& e) {
      fail(where + ": " + e.what());
    }
    if (static_cast<int>(group.size()) >= c.batch_size) run_group();
  }
  if (g_interrupts.load() == 0) run_group();
  if (pool && g_interrupts.load() == 0 && !pooled.empty()) {
    DeviceRunCounts counts = run_on_devices(*pool, c, pooled, pooled_wheres, static_cast<size_t>(c.batch_size));
    ok += counts.ok;
    interrupted += counts.interrupted;
    failed += static_cast<int>(counts.failures.size());
    failures.insert(failures.end(), counts.failures.begin(), counts.failures.end());
  }
  if (!c.quiet) {
    std::fprintf(stderr, "batch: %d songs done, %d failed, %d interrupted%s\n", ok, failed, interrupted,
                 c.skip_existing ? (", " + std::to_string(skipped) + " skipped").c_str() : "");
    for (const auto& f : failures) std::fprintf(stderr, "  failed: %s\n", f.c_str());
  }
  if (interrupted) return kExitInterrupted;
  return failed ? kExitRuntimeError : kExitOk;
}

int run(int argc, char** argv) {
  CLI::App app{"heartmula-gen: lyrics + style tags -> a song (HeartMuLa, in C++ on LibTorch)"};
  app.set_version_flag("-V", std::string("heartmula-gen ") + HEARTMULA_VERSION);
  Cli c;
  add_options(app, c);
  tools::last_value_wins(app);
  app.get_formatter()->column_width(40);
  if (const auto code = tools::parse_command_line(app, argc, argv)) return *code;
  parse_song_numbers(app, c);
  if (app.count("--stream") > 0) c.song.stream = c.stream ? StreamMode::on : StreamMode::off;

  auto print_devices = [] {
    for (const auto& d : runtime::list_devices())
      std::printf("%-8s %s%s\n", d.device.str().c_str(), d.name.c_str(),
                  d.total_memory ? (" (" + std::to_string(d.total_memory >> 20) + " MiB)").c_str() : "");
  };
  if (tools::wants_program_version(app, c.version_arg, c.model)) {  // the build, and the devices it sees
    std::printf("heartmula-gen %s (%s)\n", HEARTMULA_VERSION, runtime::build_info().c_str());
    print_devices();
    if (c.verbose) std::printf("switches (docs/switches.md):\n%s", io::describe_switches().c_str());
    return kExitOk;
  }
  if (c.list_devices) {
    std::printf("%s\n", runtime::build_info().c_str());
    print_devices();
    return kExitOk;
  }
  c.model.need_lm = c.song.codes_in.empty();
  c.model.need_codec = !c.song.no_audio;
  c.model.validate();
  // --device cpu,cpu / cuda:0,cuda:1 / cuda:all: one model copy per device (runtime/multi_device.h).
  // A list of one device takes the one-device path.
  std::unique_ptr<runtime::DevicePool> pool;
  if (runtime::is_device_list(c.model.device)) {
    const std::vector<c10::Device> devices = runtime::parse_device_list(c.model.device);
    if (devices.size() == 1)
      c.model.device = devices.front().str();
    else
      pool = std::make_unique<runtime::DevicePool>(c.model, devices);
  }
  if (c.validate) {
    std::printf("%s\n", runtime::build_info().c_str());
    for (const auto& d : runtime::list_devices())
      std::printf("device %s: %s, bf16 matmul: %s\n", d.device.str().c_str(), d.name.c_str(),
                  runtime::check_bf16(d.device).c_str());
    std::printf("%s", validate_checkpoint(c.model).c_str());
    std::printf("checkpoint folder %s: complete\n", c.model.model_path.c_str());
    return kExitOk;
  }

  c.song.lyrics = c.lyrics_arg.empty() ? tools::kDefaultLyrics : read_text_arg(c.lyrics_arg, "--lyrics");
  c.song.tags = c.tags_arg.empty() ? tools::kDefaultTags : read_text_arg(c.tags_arg, "--tags");
  if (c.save_arg == "-" && (!c.batch_file.empty() || c.num_songs > 1))
    throw UsageError("-o - (stdout) takes one song; --num-songs and --batch write files");
  if (app.count("--shard") > 0) {
    parse_shard(c);
    if (c.batch_file.empty() && c.num_songs == 1)
      throw UsageError("--shard " + c.shard_arg + " applies to --batch files and --num-songs (several songs)");
    if (c.batch_file.empty() && !c.song.seed)
      throw UsageError("--shard " + c.shard_arg +
                       " with --num-songs needs --seed: every shard must count the same seeds");
  }
  if (c.skip_existing && c.batch_file.empty() && !c.song.no_audio &&
      (c.save_arg == "-" || resolve_save_path(c.save_arg) != c.save_arg))
    throw UsageError(
        "--skip-existing needs output names that stay the same between runs: give -o a file name "
        "(a folder gets a new timestamped name each run), or use --batch");
  if (c.batch_file.empty()) {
    if (c.batch_size > 1 && c.num_songs == 1)
      throw UsageError(
          "--batch-size applies to --batch files and --num-songs N (songs per batch); one song is one batch");
    if (!c.song.no_audio) c.song.save_path = resolve_save_path(c.save_arg);
    if (c.skip_existing && c.num_songs == 1 && output_complete(c.song)) {
      report_skipped(c, "song", c.song);
      return kExitOk;
    }
    c.song.validate();  // output path, lengths: before any weight is loaded
  }
  check_model_folder(c.model);

  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::unique_ptr<Generator> single;
  if (!pool) single = std::make_unique<Generator>(c.model);
  Generator& gen = pool ? pool->generator(0) : *single;
  if (c.batch_file.empty()) gen.check(c.song);      // context length etc., before loading weights
  g_clock.load = std::chrono::steady_clock::now();  // setup_s ends, loading (load_s) begins
  if (pool)
    pool->load();
  else
    gen.load();
  if (c.verbose) {
    if (!pool) say(c, gen.describe());
    for (size_t d = 0; pool && d < pool->size(); ++d)
      say(c, "[" + pool->label(d) + "]\n" + pool->generator(d).describe());
  }
  // --verbose: which fused kernels or fallbacks ran (io/kernel_paths.h), once the songs are done.
  struct PathsAtEnd {
    const Cli& c;
    ~PathsAtEnd() {
      if (c.verbose) say(c, "kernel paths: " + io::describe_paths("; "));
    }
  } paths_at_end{c};
  if (!c.batch_file.empty()) return run_batch(gen, c, pool.get());

  const uint64_t first_seed = c.song.seed ? *c.song.seed : random_seed();
  if (c.num_songs == 1) {
    SongRequest s = c.song;
    s.seed = first_seed;
    if (!pool) return run_song(gen, c, s);
    const DeviceRunCounts counts = run_on_devices(*pool, c, {s}, {"song"}, 1);
    return !counts.failures.empty() ? kExitRuntimeError : counts.interrupted ? kExitInterrupted : kExitOk;
  }
  // --num-songs N: one batch of N songs, seeds seed..seed+N-1, files <stem>-1..N.
  auto numbered = [](const std::string& path, int i) {
    fs::path p(path);
    return (p.parent_path() / (p.stem().string() + "-" + std::to_string(i) + p.extension().string())).string();
  };
  // --shard K/N: songs i (from 0) with i mod N = K; --skip-existing: those not saved yet.
  std::vector<SongRequest> songs;
  for (int i = 0; i < c.num_songs; ++i) {
    if (!in_shard(c, static_cast<uint64_t>(i))) continue;
    SongRequest s = c.song;
    s.seed = first_seed + static_cast<uint64_t>(i);
    if (!s.no_audio) s.save_path = numbered(c.song.save_path, i + 1);
    if (!s.codes_out.empty()) s.codes_out = numbered(c.song.codes_out, i + 1);
    if (c.skip_existing && output_complete(s)) {
      report_skipped(c, "song " + std::to_string(i + 1) + " of " + std::to_string(c.num_songs), s);
      continue;
    }
    songs.push_back(s);
  }
  if (songs.empty()) return kExitOk;
  // Groups of --batch-size songs, else the songs split evenly over the devices (one device: all
  // of them in one batch).
  const size_t devices = pool ? pool->size() : 1;
  const size_t group =
      app.count("--batch-size") > 0 ? static_cast<size_t>(c.batch_size) : (songs.size() + devices - 1) / devices;
  if (pool) {
    std::vector<std::string> wheres;
    for (const auto& s : songs) wheres.push_back("song with seed " + std::to_string(*s.seed));
    const DeviceRunCounts counts = run_on_devices(*pool, c, songs, wheres, group);
    if (!counts.failures.empty()) return kExitRuntimeError;
    return counts.interrupted > 0 || counts.ok < static_cast<int>(songs.size()) ? kExitInterrupted : kExitOk;
  }
  // One device: the groups one after another.
  std::vector<SongResult> results;
  for (size_t first = 0; first < songs.size() && g_interrupts.load() == 0; first += group) {
    const std::vector<SongRequest> part(
        songs.begin() + static_cast<std::ptrdiff_t>(first),
        songs.begin() + static_cast<std::ptrdiff_t>(std::min(songs.size(), first + group)));
    for (SongResult& r : run_songs(gen, c, part, first, songs.size())) results.push_back(std::move(r));
  }
  int rc = results.size() < songs.size() ? kExitInterrupted : kExitOk;  // groups never started
  for (const SongResult& r : results) {
    if (!r.error.empty()) {
      std::fprintf(stderr, "error: song with seed %llu: %s\n", static_cast<unsigned long long>(r.seed),
                   r.error.c_str());
      print_out_of_memory(r.error, "codec or audio step");
      rc = kExitRuntimeError;
    } else if (r.interrupted && rc == kExitOk) {
      rc = kExitInterrupted;
    }
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  g_clock.at_main = std::max(0.0, runtime::seconds_since_process_start());
  g_clock.main = g_clock.load = std::chrono::steady_clock::now();
  return tools::run_tool([&] { return run(argc, argv); },
                         [](const std::exception& e) {
                           print_out_of_memory(e.what(), "");
                           if (runtime::is_out_of_memory(e))
                             std::fprintf(stderr,
                                          "hint: the device ran out of memory. Try --lazy-load, a shorter song "
                                          "(--duration), --codec-device cpu, or --mula-dtype bf16.\n");
                         });
}
