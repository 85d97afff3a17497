// CUDA builds: the kernel profiler is LibTorch's Kineto (CUPTI). The trace is saved as Chrome
// trace JSON (durations with sub-microsecond digits) and summed by kernel name.
#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>
#include <unistd.h>

#include "bench/kernel_profile.h"
#include "heartmula/error.h"
#include "io/switches.h"

namespace heartmula::tools {

namespace {
namespace kp = torch::autograd::profiler;
namespace pi = torch::profiler::impl;

pi::ProfilerConfig profiler_config() { return pi::ProfilerConfig(pi::ProfilerState::KINETO); }
std::set<pi::ActivityType> activities() { return {pi::ActivityType::CPU, pi::ActivityType::CUDA}; }
}  // namespace

bool kernel_profiler_available(std::string*) { return true; }

void start_kernel_profiler() {
  try {
    kp::prepareProfiler(profiler_config(), activities());
    kp::enableProfiler(profiler_config(), activities());
  } catch (const std::exception& e) {
    throw Error(std::string("--profile: could not start the Kineto profiler: ") + e.what());
  }
}

KernelTrace stop_kernel_profiler() {
  std::unique_ptr<kp::ProfilerResult> res = kp::disableProfiler();
  if (!res) throw Error("--profile: the profiler returned no result");
  const std::string path = "/tmp/heartmula-profile-" + std::to_string(::getpid()) + ".json";
  res->save(path);
  nlohmann::json trace;
  {
    std::ifstream in(path);
    if (!in) throw Error("--profile: cannot read the trace " + path);
    trace = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  }
  // HEARTMULA_PROFILE_TRACE=FILE keeps the Chrome trace (chrome://tracing, Perfetto).
  if (const std::string keep_path = io::switch_string(io::Switch::kProfileTrace); !keep_path.empty()) {
    const char* keep = keep_path.c_str();
    if (std::rename(path.c_str(), keep) != 0) {
      std::ifstream src(path, std::ios::binary);
      std::ofstream dst(keep, std::ios::binary);
      dst << src.rdbuf();
    }
    std::fprintf(stderr, "heartmula: profiler trace saved to %s\n", keep);
  }
  std::remove(path.c_str());
  if (trace.is_discarded() || !trace.contains("traceEvents"))
    throw Error("--profile: the Kineto trace is not valid JSON with traceEvents");
  KernelTrace t;
  std::map<std::string, KernelStat> by_name;
  double first = std::numeric_limits<double>::max(), last = 0;
  struct Span {
    double ts, end;
    const std::string* name;
  };
  std::vector<Span> spans;
  for (const auto& e : trace["traceEvents"]) {
    if (!e.is_object() || !e.contains("cat") || !e["cat"].is_string()) continue;
    const std::string cat = e["cat"].get<std::string>();
    if (cat != "kernel" && cat != "gpu_memcpy" && cat != "gpu_memset") continue;
    if (!e.contains("dur") || !e.contains("ts") || !e["dur"].is_number() || !e["ts"].is_number()) continue;
    const std::string raw = e.value("name", std::string("?"));
    const double dur = e["dur"].get<double>(), ts = e["ts"].get<double>();
    KernelStat& k = by_name[raw];
    if (k.calls == 0) {
      k.name = short_kernel_name(raw);
      k.kind = cat == "kernel" ? kernel_kind(raw) : "copy";
    }
    ++k.calls;
    k.total_us += dur;
    spans.push_back({ts, ts + dur, &k.name});
    t.busy_us += dur;
    ++t.launches;
    first = std::min(first, ts);
    last = std::max(last, ts + dur);
  }
  // Merge kernels whose short names coincide (template instances).
  std::map<std::string, KernelStat> merged;
  for (auto& [raw, k] : by_name) {
    KernelStat& m = merged[k.name + "|" + k.kind];
    if (m.calls == 0) {
      m.name = k.name;
      m.kind = k.kind;
    }
    m.calls += k.calls;
    m.total_us += k.total_us;
  }
  for (auto& [key, k] : merged) t.kernels.push_back(k);
  std::sort(t.kernels.begin(), t.kernels.end(),
            [](const KernelStat& a, const KernelStat& b) { return a.total_us > b.total_us; });
  t.span_us = t.launches > 0 ? last - first : 0;
  // Idle gaps: the union of the activities on every stream, walked in start order.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.ts < b.ts; });
  double end = spans.empty() ? 0 : spans.front().end;
  const std::string* end_name = spans.empty() ? nullptr : spans.front().name;
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].ts > end) t.gaps.push_back({spans[i].ts - end, *end_name, *spans[i].name});
    if (spans[i].end > end) {
      end = spans[i].end;
      end_name = spans[i].name;
    }
  }
  std::sort(t.gaps.begin(), t.gaps.end(), [](const IdleGap& a, const IdleGap& b) { return a.us > b.us; });
  double idle = 0;
  for (const auto& g : t.gaps) idle += g.us;
  if (t.gaps.size() > 10) t.gaps.resize(10);
  t.idle_us = idle;
  return t;
}

}  // namespace heartmula::tools
