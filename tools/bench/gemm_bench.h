// The "gemm" rows of heartmula-bench: every linear-layer shape of the frame loop at the row
// counts a frame has (1 song without / with CFG ... 16 songs with CFG), timed for the int8
// weights (model::Linear: the skinny kernel on CUDA) and for bf16 (at::linear: cuBLAS), as GB/s
// of weight bytes against the device's measured copy bandwidth.
#pragma once

#include <c10/core/Device.h>
#include <cstdint>
#include <vector>

#include "bench/bench_report.h"
#include "model/config.h"

namespace heartmula::tools {

struct GemmBenchOptions {
  std::vector<int64_t> rows = {1, 2, 4, 16, 32};
  int64_t reps = 20;  // graph replays (CUDA) or calls, per timing
  uint64_t seed = 0;
  bool quiet = false;
};

// Device-to-device copy bandwidth (bytes read + bytes written per second), 1 GB buffers.
double measure_copy_gbps(c10::Device device);

// One row per (layer shape, rows): {"test": "gemm", "layer", "n", "k", "rows", "int8_us",
// "int8_gbps", "int8_copy_fraction", "bf16_us", "bf16_gbps", "bf16_copy_fraction", "speedup"}.
std::vector<OJson> bench_gemms(const model::HeartMuLaConfig& config, c10::Device device, double copy_gbps,
                               const GemmBenchOptions& o);

}  // namespace heartmula::tools
