#include "bench/kernel_profile.h"

#include <algorithm>
#include <cstdio>
#include <c10/core/InferenceMode.h>
#include <chrono>
#include <map>
#include <cctype>

#include "heartmula/error.h"
#include "runtime/device.h"
#include "runtime/frame_loop.h"

namespace heartmula::tools {

std::string format_kernel_trace(const KernelTrace& t, int64_t frames, double wall_s, const std::string& title,
                                const std::string& unit) {
  const char* u = unit.c_str();
  const double f = static_cast<double>(std::max<int64_t>(frames, 1));
  const double wall_us = wall_s * 1e6 / f;
  std::string s = "### Kernel profile: " + title + "\n\n";
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%lld %ss profiled: wall %.3f ms/%s; kernels %.3f ms/%s busy (%.1f %% of wall), "
                "%.1f launches/%s; device idle %.3f ms/%s.\n\n",
                static_cast<long long>(frames), u, wall_us / 1e3, u, t.busy_us / f / 1e3, u,
                wall_us > 0 ? 100.0 * t.busy_us / f / wall_us : 0.0, static_cast<double>(t.launches) / f, u,
                std::max(0.0, wall_us - t.busy_us / f) / 1e3, u);
  s += buf;
  std::map<std::string, std::pair<int64_t, double>> kinds;
  for (const auto& k : t.kernels) {
    kinds[k.kind].first += k.calls;
    kinds[k.kind].second += k.total_us;
  }
  std::vector<std::pair<std::string, std::pair<int64_t, double>>> sorted(kinds.begin(), kinds.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second.second > b.second.second; });
  s += "| kind | launches/" + unit + " | µs/" + unit + " | % of kernel time |\n| --- | ---: | ---: | ---: |\n";
  for (const auto& [kind, v] : sorted) {
    std::snprintf(buf, sizeof buf, "| %s | %.1f | %.1f | %.1f |\n", kind.c_str(), static_cast<double>(v.first) / f,
                  v.second / f, t.busy_us > 0 ? 100.0 * v.second / t.busy_us : 0.0);
    s += buf;
  }
  s +=
      "\n| kernel | kind | launches/" + unit + " | µs/" + unit + " | µs/launch |\n| --- | --- | ---: | ---: | ---: |\n";
  for (size_t i = 0; i < t.kernels.size() && i < 25; ++i) {
    const auto& k = t.kernels[i];
    std::snprintf(buf, sizeof buf, "| %s | %s | %.1f | %.1f | %.2f |\n", k.name.c_str(), k.kind.c_str(),
                  static_cast<double>(k.calls) / f, k.total_us / f,
                  k.total_us / static_cast<double>(std::max<int64_t>(k.calls, 1)));
    s += buf;
  }
  if (!t.gaps.empty()) {
    std::snprintf(buf, sizeof buf,
                  "\nInside the span (%.3f ms/%s) the device idled %.3f ms/%s (no kernel or copy on any stream); "
                  "the longest gaps:\n\n| idle µs | after | before |\n| ---: | --- | --- |\n",
                  t.span_us / f / 1e3, u, t.idle_us / f / 1e3, u);
    s += buf;
    for (const auto& g : t.gaps) {
      std::snprintf(buf, sizeof buf, "| %.1f | %s | %s |\n", g.us, g.before.c_str(), g.after.c_str());
      s += buf;
    }
  }
  return s + "\n";
}

OJson kernel_trace_json(const KernelTrace& t, int64_t frames, double wall_s) {
  OJson ks = OJson::array();
  for (const auto& k : t.kernels)
    ks.push_back({{"name", k.name}, {"kind", k.kind}, {"calls", k.calls}, {"total_us", k.total_us}});
  return {{"frames", frames},     {"wall_s", wall_s},       {"busy_us", t.busy_us},
          {"span_us", t.span_us}, {"launches", t.launches}, {"kernels", ks}};
}

std::string profile_frames(const model::HeartMuLaModel& m, const model::GenConfig& gen, const FrameBenchOptions& o,
                           OJson* json) {
  c10::InferenceMode guard;
  std::string why;
  if (!kernel_profiler_available(&why)) throw UsageError(why);
  check_fits(m, o);
  const int64_t first = 1 + o.warmup, last = first + o.frames;
  runtime::SamplingParams p;
  p.cfg_scale = o.cfg, p.topk = o.topk, p.temperature = o.temperature, p.seed = o.seed;
  runtime::FrameLoopOptions lo;
  lo.max_frames = last;
  lo.ignore_eos = true;
  lo.attention_bucket = o.attention_bucket;
  lo.use_graphs = o.use_graphs;
  std::chrono::steady_clock::time_point t0, t1;
  KernelTrace trace;
  lo.on_frame = [&](int64_t done, int64_t) {
    if (done == first) {
      runtime::synchronize(m.device);
      start_kernel_profiler();
      t0 = std::chrono::steady_clock::now();
    } else if (done == last) {
      runtime::synchronize(m.device);
      t1 = std::chrono::steady_clock::now();
      trace = stop_kernel_profiler();
    }
    return true;
  };
  runtime::run_frame_loop(m, gen, synthetic_prompt(o.position, m.num_codebooks(), o.seed), p, lo);
  const double wall = std::chrono::duration<double>(t1 - t0).count();
  char title[160];
  std::snprintf(title, sizeof title, "cfg %.2f, position %lld, %s", o.cfg, static_cast<long long>(o.position),
                o.use_graphs ? "graphs" : "eager");
  if (json) {
    *json = kernel_trace_json(trace, o.frames, wall);
    (*json)["cfg"] = o.cfg;
    (*json)["position"] = o.position;
  }
  return format_kernel_trace(trace, o.frames, wall, title);
}

}  // namespace heartmula::tools
