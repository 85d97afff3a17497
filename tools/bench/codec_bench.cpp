#include "bench/codec_bench.h"

#include "bench/kernel_profile.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>

#include "codec/windows.h"
#include "io/page_cache.h"
#include "io/switches.h"
#include "model/heartmula.h"
#include "runtime/device.h"

namespace heartmula::tools {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

at::Tensor random_codes(const codec::HeartCodec& codec, int64_t frames, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::empty({codec.config().num_quantizers, frames}, at::kLong).random_(0, codec.config().codebook_size, gen);
}

OJson load_row(const char* what, const std::string& dir, const std::string& dtype, size_t bytes,
               const std::vector<double>& secs) {
  const Summary s = summarize(secs);
  return {{"test", "load"},
          {"what", what},
          {"path", dir},
          {"dtype", dtype},
          {"reps", secs.size()},
          {"bytes_read", bytes},
          {"first_seconds", secs.front()},
          {"seconds", to_json(s)},
          {"gbps", static_cast<double>(bytes) / 1e9 / s.mean}};
}

}  // namespace

void warm_up_codec(const codec::HeartCodec& codec, uint64_t seed, const std::shared_ptr<codec::SolverGraphs>& graphs) {
  c10::InferenceMode guard;
  codec::DetokenizeOptions opts;
  opts.seed = seed;
  opts.graphs = graphs;
  codec.detokenize(random_codes(codec, graphs ? 700 : 375, seed), opts);
  runtime::synchronize(codec.device());
}

std::string profile_codec_window(const codec::HeartCodec& codec, uint64_t seed, const std::string& label, OJson* json,
                                 const std::shared_ptr<codec::SolverGraphs>& graphs) {
  c10::InferenceMode guard;
  // HEARTMULA_PROFILE_CODEC_FRAMES=N profiles N frames of codes (several windows: how they
  // overlap) instead of one window's 372; the figures stay per window.
  const std::optional<int64_t> asked = io::switch_int(io::Switch::kProfileCodecFrames);
  const int64_t frames = asked && *asked > 0 ? *asked : 372;
  const at::Tensor codes = random_codes(codec, frames, seed);
  codec::DetokenizeOptions opts;
  opts.seed = seed;
  opts.graphs = graphs;
  size_t windows = 1;
  opts.progress = [&](size_t, size_t total) { windows = total; };
  runtime::synchronize(codec.device());
  start_kernel_profiler();
  const auto t0 = std::chrono::steady_clock::now();
  codec.detokenize(codes, opts);
  runtime::synchronize(codec.device());
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const KernelTrace trace = stop_kernel_profiler();
  const auto n = static_cast<int64_t>(windows);
  if (json) {
    *json = kernel_trace_json(trace, n, wall);
    (*json)["what"] = "codec window";
    (*json)["codec_dtype"] = label;
  }
  return format_kernel_trace(trace, n, wall,
                             "codec, " + std::to_string(frames) + " frames of codes in " + std::to_string(n) +
                                 " window(s) of 29.76 s (" + label + ", " + std::to_string(opts.steps) +
                                 " Euler steps)",
                             "window");
}

OJson bench_codec(const codec::HeartCodec& codec, const CodecBenchOptions& o) {
  c10::InferenceMode guard;
  const int64_t frames = std::max<int64_t>(1, std::llround(o.audio_seconds * codec::kCodeRate));
  const double audio_s = static_cast<double>(frames) * codec::kFrameSeconds;
  const at::Tensor codes = random_codes(codec, frames, o.seed);
  std::vector<double> secs;
  size_t windows = 0;
  runtime::reset_peak_memory(codec.device());
  for (int64_t rep = 0; rep < o.reps; ++rep) {
    codec::DetokenizeOptions opts;
    opts.seed = o.seed + static_cast<uint64_t>(rep);
    opts.graphs = o.graphs;
    opts.progress = [&](size_t done, size_t total) {
      windows = total;
      if (!o.quiet)
        std::fprintf(stderr, "  codec %.0f s: repetition %lld/%lld, window %zu/%zu\r", audio_s,
                     static_cast<long long>(rep + 1), static_cast<long long>(o.reps), done, total);
    };
    runtime::synchronize(codec.device());
    auto t0 = Clock::now();
    codec.detokenize(codes, opts);  // returns a CPU tensor: the device work is done
    runtime::synchronize(codec.device());
    secs.push_back(seconds_since(t0));
  }
  if (!o.quiet) std::fprintf(stderr, "\n");
  const Summary s = summarize(secs);
  return {{"test", "codec"},
          {"dtype", codec.load_options().label()},
          {"graphs", o.graphs != nullptr},
          {"audio_seconds", audio_s},
          {"frames", frames},
          {"windows", windows},
          {"reps", o.reps},
          {"seconds", to_json(s)},
          {"seconds_per_minute", s.mean / (audio_s / 60.0)},
          {"seconds_per_window", s.mean / static_cast<double>(windows ? windows : 1)},
          {"realtime_factor", s.mean / audio_s},
          {"peak_memory_bytes", runtime::peak_memory_bytes(codec.device())}};
}

namespace {
// Times `reps` loads; `load` loads once (and synchronizes) and returns the bytes read.
OJson time_loads(const char* what, const std::string& dir, const std::string& dtype, c10::Device device, int64_t reps,
                 bool quiet, bool cold, const std::function<size_t()>& load) {
  c10::InferenceMode guard;
  std::vector<double> secs;
  size_t bytes = 0;
  uint64_t cached_before = 0, file_bytes = 0;
  const std::vector<std::string> files = io::checkpoint_files(dir);
  for (int64_t rep = 0; rep < reps; ++rep) {
    if (!quiet)
      std::fprintf(stderr, "  load %s %s%s: repetition %lld/%lld\n", what, dir.c_str(), cold ? " (cold)" : "",
                   static_cast<long long>(rep + 1), static_cast<long long>(reps));
    if (cold) {
      const io::PageCacheInfo left = io::drop_from_page_cache(files);
      cached_before = std::max(cached_before, left.resident_bytes);
      file_bytes = left.file_bytes;
    }
    runtime::synchronize(device);
    auto t0 = Clock::now();
    bytes = load();
    secs.push_back(seconds_since(t0));
    runtime::release_cached_memory(device);
  }
  OJson row = load_row(what, dir, dtype, bytes, secs);
  row["cold"] = cold;
  if (cold) {
    row["cached_before_bytes"] = cached_before;
    row["file_bytes"] = file_bytes;
  }
  return row;
}
}  // namespace

OJson bench_load_lm(const std::string& dir, const model::LmPrecision& precision, c10::Device device, int64_t reps,
                    bool quiet, bool cold) {
  return time_loads("lm", dir, precision.name(), device, reps, quiet, cold, [&] {
    model::LoadStats stats;
    model::HeartMuLaModel m = model::HeartMuLaModel::load(dir, precision, device, &stats);
    runtime::synchronize(device);
    return stats.bytes_read;
  });
}

OJson bench_load_codec(const std::string& dir, const codec::CodecLoad& load, int64_t reps, bool quiet, bool cold) {
  return time_loads("codec", dir, load.label(), load.device, reps, quiet, cold, [&] {
    codec::HeartCodec c = codec::HeartCodec::load(dir, load);
    runtime::synchronize(load.device);
    return c.load_info().bytes_read;
  });
}

}  // namespace heartmula::tools
