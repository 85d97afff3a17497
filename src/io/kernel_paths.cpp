#include "io/kernel_paths.h"

#include <array>
#include <atomic>

namespace heartmula::io {

namespace {

constexpr size_t kPaths = static_cast<size_t>(KernelPath::kCount);

const std::array<const char*, kPaths> kNames = {
    "lm rms_norm",
    "lm add_rms_norm",
    "lm silu_mul",
    "lm rope+cache",
    "lm rope",
    "lm attention",
    "lm int8_linear",
    "lm int8_linear+norm/residual",
    "lm int8_linear+glu",
    "sampler",
    "codec mod_rms_norm",
    "codec gated_residual",
    "codec silu_mul",
    "codec rope",
    "codec bias_prelu",
    "codec conv64",
    "codec pointwise128",
    "codec post+out64",
};

struct Counters {
  std::atomic<uint64_t> fused{0}, fallback{0};
};

std::array<Counters, kPaths>& counters() {
  static std::array<Counters, kPaths> c;
  return c;
}

}  // namespace

const char* kernel_path_name(KernelPath p) {
  const auto i = static_cast<size_t>(p);
  return i < kPaths ? kNames[i] : "?";
}

bool record_path(KernelPath p, bool fused) {
  Counters& c = counters()[static_cast<size_t>(p)];
  (fused ? c.fused : c.fallback).fetch_add(1, std::memory_order_relaxed);
  return fused;
}

PathCounts path_counts(KernelPath p) {
  const Counters& c = counters()[static_cast<size_t>(p)];
  return {c.fused.load(std::memory_order_relaxed), c.fallback.load(std::memory_order_relaxed)};
}

void reset_path_counts() {
  for (Counters& c : counters()) c.fused = 0, c.fallback = 0;
}

std::string describe_paths(const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < kPaths; ++i) {
    const PathCounts n = path_counts(static_cast<KernelPath>(i));
    if (n.fused == 0 && n.fallback == 0) continue;
    out += (out.empty() ? "" : separator) + std::string(kNames[i]) + ": fused " + std::to_string(n.fused) +
           ", fallback " + std::to_string(n.fallback);
  }
  return out.empty() ? "none" : out;
}

}  // namespace heartmula::io
