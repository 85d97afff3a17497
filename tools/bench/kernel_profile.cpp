#include "bench/kernel_profile.h"

#include <algorithm>
#include <cstdio>
#include <c10/core/InferenceMode.h>
#include <chrono>
#include <map>
#include <regex>

#include "heartmula/error.h"
#include "runtime/device.h"
#include "runtime/frame_loop.h"

namespace heartmula::tools {

namespace {
bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
}  // namespace

std::string kernel_kind(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (has(n, "gemm") || has(n, "gemv") || has(n, "xmma") || has(n, "cutlass") || has(n, "sm90_") ||
      has(n, "cublas") || has(n, "splitk"))
    return "gemm";
  if (has(n, "flash") || has(n, "fmha") || has(n, "attention") || has(n, "sdpa") || has(n, "efficient"))
    return "attention";
  if (has(n, "rms_norm") || has(n, "layer_norm")) return "norm";
  if (has(n, "rope")) return "rope";
  if (has(n, "topk") || has(n, "sort") || has(n, "radix") || has(n, "softmax") || has(n, "exponential") ||
      has(n, "argmax") || has(n, "sample") || has(n, "distribution"))
    return "sampling";
  if (has(n, "index") || has(n, "copy") || has(n, "cat") || has(n, "gather") || has(n, "scatter") ||
      has(n, "embedding") || has(n, "memcpy") || has(n, "memset") || has(n, "fill"))
    return "copy";
  if (has(n, "elementwise") || has(n, "vectorized") || has(n, "unrolled") || has(n, "reduce")) return "elementwise";
  return "other";
}

namespace {
// The functor inside ATen's generic elementwise/reduce kernels: "direct_copy" in
// "elementwise_kernel<..., direct_copy_kernel_cuda(...)::{lambda}...>".
std::string inner_functor(const std::string& name) {
  static const std::regex re(R"(([A-Za-z0-9_]+?)_kernel(_cuda|_impl|_functor)?\b)");
  for (auto it = std::sregex_iterator(name.begin(), name.end(), re); it != std::sregex_iterator(); ++it) {
    const std::string f = (*it)[1].str();
    if (f.find("elementwise") != std::string::npos || f == "gpu" || f == "reduce" || f == "gpu_kernel" ||
        f.rfind("launch", 0) == 0 || f == "gpu_kernel_impl")
      continue;
    return f;
  }
  static const std::regex functor(R"(Functor_([A-Za-z0-9]+))");  // CUDAFunctor_add, ...
  std::smatch m;
  if (std::regex_search(name, m, functor)) return m[1].str();
  return "";
}
}  // namespace

std::string short_kernel_name(const std::string& name) {
  if (name.find("elementwise_kernel") != std::string::npos || name.find("reduce_kernel") != std::string::npos) {
    std::string base = name;
    base.erase(base.find('<') == std::string::npos ? base.size() : base.find('<'));
    const std::string inner = inner_functor(name.substr(std::min(name.size(), base.size())));
    std::string out = short_kernel_name(base);
    return inner.empty() ? out : out + " [" + inner + "]";
  }
  std::string n = name;
  if (n.rfind("void ", 0) == 0) n = n.substr(5);
  // Cut at the first '(' or '<' that is not part of "(anonymous namespace)".
  std::string out;
  int depth = 0;
  for (size_t i = 0; i < n.size(); ++i) {
    if (n.compare(i, 21, "(anonymous namespace)") == 0) {
      i += 20;
      continue;
    }
    const char c = n[i];
    if (c == '<' || c == '(') {
      if (depth == 0 && !out.empty() && c == '(') break;
      ++depth;
      continue;
    }
    if (c == '>' || c == ')') {
      if (depth > 0) --depth;
      continue;
    }
    if (depth == 0) out += c;
  }
  // Keep the last two scope parts: "native::vectorized_elementwise_kernel".
  size_t cut = out.rfind("::");
  if (cut != std::string::npos && cut > 0) {
    const size_t prev = out.rfind("::", cut - 1);
    if (prev != std::string::npos) out = out.substr(prev + 2);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > 60) out = out.substr(0, 57) + "...";
  return out.empty() ? name.substr(0, 60) : out;
}

std::string format_kernel_trace(const KernelTrace& t, int64_t frames, double wall_s, const std::string& title) {
  const double f = static_cast<double>(std::max<int64_t>(frames, 1));
  const double wall_us = wall_s * 1e6 / f;
  std::string s = "### Kernel profile: " + title + "\n\n";
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%lld frames profiled: wall %.3f ms/frame; kernels %.3f ms/frame busy (%.1f %% of wall), "
                "%.1f launches/frame; device idle %.3f ms/frame.\n\n",
                static_cast<long long>(frames), wall_us / 1e3, t.busy_us / f / 1e3,
                wall_us > 0 ? 100.0 * t.busy_us / f / wall_us : 0.0, static_cast<double>(t.launches) / f,
                std::max(0.0, wall_us - t.busy_us / f) / 1e3);
  s += buf;
  std::map<std::string, std::pair<int64_t, double>> kinds;
  for (const auto& k : t.kernels) {
    kinds[k.kind].first += k.calls;
    kinds[k.kind].second += k.total_us;
  }
  std::vector<std::pair<std::string, std::pair<int64_t, double>>> sorted(kinds.begin(), kinds.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.second > b.second.second; });
  s += "| kind | launches/frame | µs/frame | % of kernel time |\n| --- | ---: | ---: | ---: |\n";
  for (const auto& [kind, v] : sorted) {
    std::snprintf(buf, sizeof buf, "| %s | %.1f | %.1f | %.1f |\n", kind.c_str(), static_cast<double>(v.first) / f,
                  v.second / f, t.busy_us > 0 ? 100.0 * v.second / t.busy_us : 0.0);
    s += buf;
  }
  s += "\n| kernel | kind | launches/frame | µs/frame | µs/launch |\n| --- | --- | ---: | ---: | ---: |\n";
  for (size_t i = 0; i < t.kernels.size() && i < 25; ++i) {
    const auto& k = t.kernels[i];
    std::snprintf(buf, sizeof buf, "| %s | %s | %.1f | %.1f | %.2f |\n", k.name.c_str(), k.kind.c_str(),
                  static_cast<double>(k.calls) / f, k.total_us / f, k.total_us / static_cast<double>(std::max<int64_t>(k.calls, 1)));
    s += buf;
  }
  return s + "\n";
}

OJson kernel_trace_json(const KernelTrace& t, int64_t frames, double wall_s) {
  OJson ks = OJson::array();
  for (const auto& k : t.kernels)
    ks.push_back({{"name", k.name}, {"kind", k.kind}, {"calls", k.calls}, {"total_us", k.total_us}});
  return {{"frames", frames}, {"wall_s", wall_s}, {"busy_us", t.busy_us}, {"span_us", t.span_us},
          {"launches", t.launches}, {"kernels", ks}};
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
