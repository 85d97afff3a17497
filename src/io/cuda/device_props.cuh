// The current CUDA device's multiprocessor count, for the kernels' grid sizes (persistent
// blocks, grid-stride loops) of every layer. nvcc or host code; no LibTorch headers.
#pragma once

#include <cuda_runtime.h>

#include <atomic>

namespace heartmula::io::cuda {

// cudaDevAttrMultiProcessorCount of the current device, asked once per device and cached;
// 0 when the runtime cannot tell (no device): the launchers then return -1 ("does not suit")
// and the caller's composite ATen code reports the device's error.
inline int sm_count() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cache[kMaxDevices];  // zero-initialised: not asked yet
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  const bool cached = dev >= 0 && dev < kMaxDevices;
  if (cached) {
    if (const int n = cache[dev].load(std::memory_order_relaxed); n > 0) return n;
  }
  int n = 0;
  if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) {
    (void)cudaGetLastError();
    return 0;
  }
  if (cached) cache[dev].store(n, std::memory_order_relaxed);
  return n;
}

}  // namespace heartmula::io::cuda
