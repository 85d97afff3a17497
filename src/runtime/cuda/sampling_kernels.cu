// Fused top-k / temperature / CFG sampling (see sampling_kernels.h): one kernel per codebook
// instead of ~15 (cast, mix, scale, topk, mask, log_softmax, softmax, divide, argmax, repeat).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>

#include "runtime/cuda/sampling_kernels.h"

namespace heartmula::runtime::cuda {

namespace {

constexpr int kThreads = 1024;
constexpr int kPerThread = 16;  // vocab <= 16384

__device__ __forceinline__ float load_f(const float* p) { return *p; }
__device__ __forceinline__ float load_f(const __nv_bfloat16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ float load_f(const __half* p) { return __half2float(*p); }

// Order-preserving map of a float to unsigned (larger float -> larger key).
__device__ __forceinline__ unsigned order_key(float f) {
  const unsigned u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float key_value(unsigned k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    sample_topk_kernel(const T* __restrict__ logits, int64_t row_stride, int64_t songs, bool cfg, float cfg_scale,
                       int64_t vocab, int64_t topk, const float* __restrict__ inv_temperature,
                       const float* __restrict__ q, int64_t* __restrict__ tokens, int64_t* __restrict__ frame,
                       int64_t frame_stride) {
  const int64_t song = blockIdx.x;
  const T* cond = logits + song * row_stride;
  const T* uncond = cfg ? logits + (song + songs) * row_stride : nullptr;
  const float inv_t = inv_temperature[song];
  unsigned key[kPerThread];  // the scaled logits, as order keys (key_value() gives them back)
  float local_max = -FLT_MAX;
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    const int64_t i = threadIdx.x + static_cast<int64_t>(j) * kThreads;
    if (i < vocab) {
      float g = load_f(cond + i);
      if (cfg) {
        const float u = load_f(uncond + i);
        g = __fadd_rn(u, __fmul_rn(__fsub_rn(g, u), cfg_scale));
      }
      const float x = __fmul_rn(g, inv_t);
      key[j] = order_key(x);
      local_max = fmaxf(local_max, x);
    } else {
      key[j] = 0;
    }
  }
  // k-th largest key by radix select, 8 bits per pass.
  __shared__ unsigned hist[256];
  __shared__ unsigned s_prefix, s_k;
  __shared__ float s_max[kThreads / 32];
  unsigned prefix = 0, mask = 0, k = static_cast<unsigned>(topk < vocab ? topk : vocab);
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += kThreads) hist[i] = 0;
    __syncthreads();
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const int64_t i = threadIdx.x + static_cast<int64_t>(j) * kThreads;
      if (i < vocab && (key[j] & mask) == prefix) atomicAdd(&hist[(key[j] >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (threadIdx.x < 32) {  // warp 0: lane l scans bins 255 - 8l .. 248 - 8l (descending)
      const unsigned lane0 = threadIdx.x;
      unsigned cnt[8], tot = 0;
#pragma unroll
      for (int e = 0; e < 8; ++e) tot += (cnt[e] = hist[255 - (lane0 * 8 + e)]);
      unsigned incl = tot;
      for (int o = 1; o < 32; o <<= 1) {
        const unsigned v = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane0 >= static_cast<unsigned>(o)) incl += v;
      }
      const unsigned excl = incl - tot;
      const unsigned owner = __ballot_sync(0xffffffffu, excl < k && k <= incl);
      if (lane0 == static_cast<unsigned>(__ffs(owner) - 1)) {
        unsigned cum = excl;
        int e = 0;
        for (; e < 7; ++e) {
          if (cum + cnt[e] >= k) break;
          cum += cnt[e];
        }
        s_prefix = prefix | (static_cast<unsigned>(255 - (lane0 * 8 + e)) << shift);
        s_k = k - cum;
      }
    }
    __syncthreads();
    prefix = s_prefix;
    k = s_k;
    mask |= 255u << shift;
  }
  const unsigned kth = prefix;
  // Row maximum.
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) local_max = fmaxf(local_max, __shfl_xor_sync(0xffffffffu, local_max, o));
  if (lane == 0) s_max[warp] = local_max;
  __syncthreads();
  float row_max = s_max[0];
  for (int w = 1; w < kThreads / 32; ++w) row_max = fmaxf(row_max, s_max[w]);
  // Exponential race over the kept entries: argmax exp(x - max) / q, ties to the lower index.
  const float* qs = q + song * vocab;
  float best = -1.f;
  int64_t best_i = vocab;
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    const int64_t i = threadIdx.x + static_cast<int64_t>(j) * kThreads;
    if (i < vocab) {
      const float v = key[j] >= kth ? __fdiv_rn(expf(__fsub_rn(key_value(key[j]), row_max)), qs[i]) : 0.f;
      if (v > best) best = v, best_i = i;
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float ob = __shfl_xor_sync(0xffffffffu, best, o);
    const int64_t oi = __shfl_xor_sync(0xffffffffu, best_i, o);
    if (ob > best || (ob == best && oi < best_i)) best = ob, best_i = oi;
  }
  __shared__ float s_best[kThreads / 32];
  __shared__ int64_t s_best_i[kThreads / 32];
  if (lane == 0) s_best[warp] = best, s_best_i[warp] = best_i;
  __syncthreads();
  if (threadIdx.x == 0) {
    best = s_best[0], best_i = s_best_i[0];
    for (int w = 1; w < kThreads / 32; ++w)
      if (s_best[w] > best || (s_best[w] == best && s_best_i[w] < best_i)) best = s_best[w], best_i = s_best_i[w];
    if (best_i >= vocab) best_i = 0;  // unreachable: the maximum is always kept
    const int64_t rows_per_song = cfg ? 2 : 1;
    for (int64_t r = 0; r < rows_per_song; ++r) {
      const int64_t row = song + r * songs;
      tokens[row] = best_i;
      if (frame) frame[row * frame_stride] = best_i;
    }
  }
}

template <typename T>
int launch_typed(const void* logits, int64_t row_stride, int64_t songs, bool cfg, float cfg_scale, int64_t vocab,
                 int64_t topk, const float* inv_temperature, const float* q, int64_t* tokens, int64_t* frame,
                 int64_t frame_stride, cudaStream_t stream) {
  sample_topk_kernel<T><<<static_cast<unsigned>(songs), kThreads, 0, stream>>>(
      static_cast<const T*>(logits), row_stride, songs, cfg, cfg_scale, vocab, topk, inv_temperature, q, tokens, frame,
      frame_stride);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int launch_sample_topk(int logits_dtype, const void* logits, int64_t row_stride, int64_t songs, bool cfg,
                       float cfg_scale, int64_t vocab, int64_t topk, const float* inv_temperature, const float* q,
                       int64_t* tokens, int64_t* frame, int64_t frame_stride, void* stream) {
  if (vocab < 1 || vocab > static_cast<int64_t>(kThreads) * kPerThread || topk < 1 || songs < 1) return -1;
  auto s = static_cast<cudaStream_t>(stream);
  switch (logits_dtype) {
    case 0:
      return launch_typed<float>(logits, row_stride, songs, cfg, cfg_scale, vocab, topk, inv_temperature, q, tokens,
                                 frame, frame_stride, s);
    case 1:
      return launch_typed<__nv_bfloat16>(logits, row_stride, songs, cfg, cfg_scale, vocab, topk, inv_temperature, q,
                                         tokens, frame, frame_stride, s);
    case 2:
      return launch_typed<__half>(logits, row_stride, songs, cfg, cfg_scale, vocab, topk, inv_temperature, q, tokens,
                                  frame, frame_stride, s);
    default:
      return -1;
  }
}

}  // namespace heartmula::runtime::cuda
