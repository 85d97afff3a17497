// heartmula-bench --profile: where a frame's device time goes. The frame loop runs under the
// device's kernel profiler (CUDA builds: Kineto/CUPTI, which sees kernels replayed from CUDA
// graphs too); kernels are summed by name and by kind (GEMM, attention, norm, ...).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/bench_report.h"
#include "bench/lm_bench.h"

namespace heartmula::tools {

struct KernelStat {
  std::string name;  // shortened kernel name
  std::string kind;  // gemm, attention, norm, rope, sampling, copy, elementwise, other
  int64_t calls = 0;
  double total_us = 0;
};

// A stretch of the profiled span in which no kernel or copy ran on any stream.
struct IdleGap {
  double us = 0;
  std::string before, after;  // short names of the last activity before it and the first after
};

struct KernelTrace {
  std::vector<KernelStat> kernels;  // by total time, largest first
  std::vector<IdleGap> gaps;        // the longest idle gaps (up to 10), longest first
  double busy_us = 0;               // sum of kernel durations
  double span_us = 0;               // first kernel start to last kernel end
  double idle_us = 0;               // inside the span: time with nothing running on any stream
  int64_t launches = 0;
};

// True when this build has a kernel profiler; otherwise *why says what is missing.
bool kernel_profiler_available(std::string* why);
// Starts / stops the profiler (Error when unavailable or when it fails).
void start_kernel_profiler();
KernelTrace stop_kernel_profiler();

// The kind of a kernel, from its name.
std::string kernel_kind(const std::string& name);
// A readable name: the kernel's identifier without template arguments and parameters.
std::string short_kernel_name(const std::string& name);

// Markdown summary for `frames` profiled frames that took `wall_s` seconds.
// `unit`: what `frames` counts ("frame", "window").
std::string format_kernel_trace(const KernelTrace& t, int64_t frames, double wall_s, const std::string& title,
                                const std::string& unit = "frame");
OJson kernel_trace_json(const KernelTrace& t, int64_t frames, double wall_s);

// Runs one frame loop as bench_frames does (prompt of o.position rows, o.warmup frames) and
// profiles the next o.frames frames. Returns the markdown summary; *json gets the figures.
std::string profile_frames(const model::HeartMuLaModel& m, const model::GenConfig& gen, const FrameBenchOptions& o,
                           OJson* json);

}  // namespace heartmula::tools
