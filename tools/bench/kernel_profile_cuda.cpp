// CUDA builds: the kernel profiler is LibTorch's Kineto (CUPTI). The trace is saved as Chrome
// trace JSON (durations with sub-microsecond digits) and summed by kernel name.
#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <unistd.h>

#include "bench/kernel_profile.h"
#include "heartmula/error.h"

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
  std::remove(path.c_str());
  if (trace.is_discarded() || !trace.contains("traceEvents"))
    throw Error("--profile: the Kineto trace is not valid JSON with traceEvents");
  KernelTrace t;
  std::map<std::string, KernelStat> by_name;
  double first = std::numeric_limits<double>::max(), last = 0;
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
    t.busy_us += dur;
    ++t.launches;
    first = std::min(first, ts);
    last = std::max(last, ts + dur);
  }
  // Merge kernels whose short names coincide (template instances).
  std::map<std::string, KernelStat> merged;
  for (auto& [raw, k] : by_name) {
    KernelStat& m = merged[k.name + "|" + k.kind];
    if (m.calls == 0) { m.name = k.name; m.kind = k.kind; }
    m.calls += k.calls;
    m.total_us += k.total_us;
  }
  for (auto& [key, k] : merged) t.kernels.push_back(k);
  std::sort(t.kernels.begin(), t.kernels.end(), [](const KernelStat& a, const KernelStat& b) { return a.total_us > b.total_us; });
  t.span_us = t.launches > 0 ? last - first : 0;
  return t;
}

}  // namespace heartmula::tools
