// Fused RMSNorm and RoPE kernels (see model/fused_ops.h for what they compute).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "io/cuda/convert.cuh"
#include "model/cuda/fused_kernels.h"

namespace heartmula::model::cuda {

namespace {

using io::cuda::from_f;
using io::cuda::Pack;
using io::cuda::to_f;

constexpr int kNormThreads = 256;

// One block per row.
template <typename T>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ scale, T* __restrict__ out, int64_t d,
                                float eps) {
  const T* xr = x + blockIdx.x * d;
  T* orow = out + blockIdx.x * d;
  float acc = 0.f;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const float v = to_f(xr[i]);
    acc = __fadd_rn(acc, __fmul_rn(v, v));
  }
  __shared__ float warp_sums[kNormThreads / 32];
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = acc;
  __syncthreads();
  if (warp == 0) {
    acc = lane < kNormThreads / 32 ? warp_sums[lane] : 0.f;
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) warp_sums[0] = acc;
  }
  __syncthreads();
  const float r = rsqrtf(__fadd_rn(__fdiv_rn(warp_sums[0], static_cast<float>(d)), eps));
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const T normed = from_f<T>(__fmul_rn(to_f(xr[i]), r));
    orow[i] = from_f<T>(__fmul_rn(to_f(normed), to_f(scale[i])));
  }
}

// One thread per (row, head, pair); the same float operations as the composite version,
// without FMA contraction, so the result is bit for bit the same.
template <typename T>
__global__ void rope_qk_kernel(T* __restrict__ qkv, const float* __restrict__ cos, const float* __restrict__ sin,
                               int64_t rows, int64_t row_stride, int64_t heads, int64_t half) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * heads * half) return;
  const int64_t i = idx % half;
  const int64_t rest = idx / half;
  const int64_t head = rest % heads;
  const int64_t row = rest / heads;
  T* p = qkv + row * row_stride + head * 2 * half + 2 * i;
  const float x0 = to_f(p[0]), x1 = to_f(p[1]);
  const float c = cos[row * half + i], s = sin[row * half + i];
  const float o0 = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
  const float o1 = __fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, s));
  p[0] = from_f<T>(o0);
  p[1] = from_f<T>(o1);
}

template <typename T>
int rms_norm_typed(const void* x, const void* scale, void* out, int64_t rows, int64_t d, float eps,
                   cudaStream_t stream) {
  rms_norm_kernel<T><<<static_cast<unsigned>(rows), kNormThreads, 0, stream>>>(
      static_cast<const T*>(x), static_cast<const T*>(scale), static_cast<T*>(out), d, eps);
  return static_cast<int>(cudaGetLastError());
}

template <typename T>
int rope_typed(void* qkv, const float* cos, const float* sin, int64_t rows, int64_t row_stride, int64_t heads,
               int64_t half, cudaStream_t stream) {
  const int64_t total = rows * heads * half;
  const int threads = 256;
  const unsigned blocks = static_cast<unsigned>((total + threads - 1) / threads);
  rope_qk_kernel<T><<<blocks, threads, 0, stream>>>(static_cast<T*>(qkv), cos, sin, rows, row_stride, heads, half);
  return static_cast<int>(cudaGetLastError());
}

// ---- residual add + RMSNorm, vectorised ------------------------------------------------------
// One block of kAddNormThreads per row; each thread keeps up to kMaxVecs vectors of 16 bytes in
// registers so that all its loads are in flight at once. sum = T(x + y) (stored when sum_out is
// set), out = T(T(sum * rsqrt(mean(sum^2) + eps)) * scale), statistics in float32.
constexpr int kAddNormThreads = 256;
constexpr int kMaxVecs = 4;

template <typename T>
struct Vec {
  static constexpr int N = 16 / sizeof(T);
  T v[N];
};

template <typename T>
__global__ void add_rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ y, const T* __restrict__ scale,
                                    T* __restrict__ sum_out, T* __restrict__ out, int64_t d, float eps) {
  using V = Vec<T>;
  constexpr int N = V::N;
  const int64_t nvec = d / N;
  const V* xr = reinterpret_cast<const V*>(x + blockIdx.x * d);
  const V* yr = y ? reinterpret_cast<const V*>(y + blockIdx.x * d) : nullptr;
  V vals[kMaxVecs];
  float acc = 0.f;
#pragma unroll
  for (int k = 0; k < kMaxVecs; ++k) {
    const int64_t i = threadIdx.x + static_cast<int64_t>(k) * kAddNormThreads;
    if (i < nvec) {
      vals[k] = xr[i];
      if (yr) {
        const V b = yr[i];
#pragma unroll
        for (int j = 0; j < N; ++j) vals[k].v[j] = from_f<T>(__fadd_rn(to_f(vals[k].v[j]), to_f(b.v[j])));
      }
#pragma unroll
      for (int j = 0; j < N; ++j) {
        const float f = to_f(vals[k].v[j]);
        acc = __fadd_rn(acc, __fmul_rn(f, f));
      }
    }
  }
  __shared__ float warp_sums[kAddNormThreads / 32];
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = acc;
  __syncthreads();
  if (warp == 0) {
    acc = lane < kAddNormThreads / 32 ? warp_sums[lane] : 0.f;
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) warp_sums[0] = acc;
  }
  __syncthreads();
  const float r = rsqrtf(__fadd_rn(__fdiv_rn(warp_sums[0], static_cast<float>(d)), eps));
  V* orow = reinterpret_cast<V*>(out + blockIdx.x * d);
  V* srow = sum_out ? reinterpret_cast<V*>(sum_out + blockIdx.x * d) : nullptr;
  const V* sc = reinterpret_cast<const V*>(scale);
#pragma unroll
  for (int k = 0; k < kMaxVecs; ++k) {
    const int64_t i = threadIdx.x + static_cast<int64_t>(k) * kAddNormThreads;
    if (i < nvec) {
      if (srow) srow[i] = vals[k];
      const V s = sc[i];
      V o;
#pragma unroll
      for (int j = 0; j < N; ++j) {
        const T normed = from_f<T>(__fmul_rn(to_f(vals[k].v[j]), r));
        o.v[j] = from_f<T>(__fmul_rn(to_f(normed), to_f(s.v[j])));
      }
      orow[i] = o;
    }
  }
}

template <typename T>
int add_rms_norm_typed(const void* x, const void* y, const void* scale, void* sum_out, void* out, int64_t rows,
                       int64_t d, float eps, cudaStream_t stream) {
  constexpr int N = Vec<T>::N;
  if (d % N != 0 || d / N > static_cast<int64_t>(kAddNormThreads) * kMaxVecs) return -1;
  add_rms_norm_kernel<T><<<static_cast<unsigned>(rows), kAddNormThreads, 0, stream>>>(
      static_cast<const T*>(x), static_cast<const T*>(y), static_cast<const T*>(scale), static_cast<T*>(sum_out),
      static_cast<T*>(out), d, eps);
  return static_cast<int>(cudaGetLastError());
}

// ---- SiLU(a) * b over a fused [.., 2F] projection ------------------------------------------------
// out = T(T(silu(a)) * b), silu in float32 as ATen computes it (x / (1 + exp(-x))).
template <typename T>
__global__ void silu_mul_kernel(const T* __restrict__ gu, T* __restrict__ out, int64_t rows, int64_t f) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * f) return;
  const int64_t r = idx / f, i = idx % f;
  const float a = to_f(gu[r * 2 * f + i]);
  const T s = from_f<T>(a / (1.0f + expf(-a)));
  out[idx] = from_f<T>(__fmul_rn(to_f(s), to_f(gu[r * 2 * f + f + i])));
}

template <typename T>
int silu_mul_typed(const void* gu, void* out, int64_t rows, int64_t f, cudaStream_t stream) {
  const int64_t total = rows * f;
  const int threads = 256;
  silu_mul_kernel<T><<<static_cast<unsigned>((total + threads - 1) / threads), threads, 0, stream>>>(
      static_cast<const T*>(gu), static_cast<T*>(out), rows, f);
  return static_cast<int>(cudaGetLastError());
}

// ---- RoPE on q and k + the KV-cache write ---------------------------------------------------------
// qkv [B, S, (H + 2 Hkv) * hd]; one thread per (row, head, pair) over all H + 2 Hkv heads:
// q heads are rotated in place, k heads rotated in place and written to k_cache, v heads
// copied to v_cache. Caches [B, Hkv, max_len, hd]; slot of sequence position s = slots[s].
template <typename T>
__global__ void rope_qk_cache_kernel(T* __restrict__ qkv, const float* __restrict__ cos, const float* __restrict__ sin,
                                     const int64_t* __restrict__ slots, T* __restrict__ k_cache,
                                     T* __restrict__ v_cache, int64_t batch, int64_t seq, int64_t heads,
                                     int64_t kv_heads, int64_t half, int64_t max_len) {
  const int64_t all_heads = heads + 2 * kv_heads;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= batch * seq * all_heads * half) return;
  const int64_t i = idx % half;
  int64_t rest = idx / half;
  const int64_t head = rest % all_heads;
  const int64_t row = rest / all_heads;  // b * seq + s
  const int64_t b = row / seq, s = row % seq;
  T* p = qkv + row * all_heads * 2 * half + head * 2 * half + 2 * i;
  T o0 = p[0], o1 = p[1];
  if (head < heads + kv_heads) {
    const float x0 = to_f(p[0]), x1 = to_f(p[1]);
    const float c = cos[row * half + i], sn = sin[row * half + i];
    o0 = from_f<T>(__fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, sn)));
    o1 = from_f<T>(__fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, sn)));
    p[0] = o0;
    p[1] = o1;
    if (head < heads) return;
  }
  const bool is_k = head < heads + kv_heads;
  const int64_t kvh = is_k ? head - heads : head - heads - kv_heads;
  T* dst = (is_k ? k_cache : v_cache) + ((b * kv_heads + kvh) * max_len + slots[s]) * 2 * half + 2 * i;
  dst[0] = o0;
  dst[1] = o1;
}

template <typename T>
int rope_qk_cache_typed(void* qkv, const float* cos, const float* sin, const int64_t* slots, void* k_cache,
                        void* v_cache, int64_t batch, int64_t seq, int64_t heads, int64_t kv_heads, int64_t half,
                        int64_t max_len, cudaStream_t stream) {
  const int64_t total = batch * seq * (heads + 2 * kv_heads) * half;
  const int threads = 256;
  rope_qk_cache_kernel<T><<<static_cast<unsigned>((total + threads - 1) / threads), threads, 0, stream>>>(
      static_cast<T*>(qkv), cos, sin, slots, static_cast<T*>(k_cache), static_cast<T*>(v_cache), batch, seq, heads,
      kv_heads, half, max_len);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int launch_rms_norm(int dtype, const void* x, const void* scale, void* out, int64_t rows, int64_t d, float eps,
                    void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  HEARTMULA_DTYPE_DISPATCH(dtype, rms_norm_typed<T>(x, scale, out, rows, d, eps, s))
}

int launch_rope_qk(int dtype, void* qkv, const float* cos, const float* sin, int64_t rows, int64_t row_stride,
                   int64_t heads, int64_t half, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  HEARTMULA_DTYPE_DISPATCH(dtype, rope_typed<T>(qkv, cos, sin, rows, row_stride, heads, half, s))
}

int launch_add_rms_norm(int dtype, const void* x, const void* y, const void* scale, void* sum_out, void* out,
                        int64_t rows, int64_t d, float eps, void* stream) {
  auto st = static_cast<cudaStream_t>(stream);
  HEARTMULA_DTYPE_DISPATCH(dtype, add_rms_norm_typed<T>(x, y, scale, sum_out, out, rows, d, eps, st))
}

int launch_silu_mul(int dtype, const void* gu, void* out, int64_t rows, int64_t f, void* stream) {
  auto st = static_cast<cudaStream_t>(stream);
  HEARTMULA_DTYPE_DISPATCH(dtype, silu_mul_typed<T>(gu, out, rows, f, st))
}

int launch_rope_qk_cache(int dtype, void* qkv, const float* cos, const float* sin, const int64_t* slots, void* k_cache,
                         void* v_cache, int64_t batch, int64_t seq, int64_t heads, int64_t kv_heads, int64_t half,
                         int64_t max_len, void* stream) {
  auto st = static_cast<cudaStream_t>(stream);
  HEARTMULA_DTYPE_DISPATCH(dtype, rope_qk_cache_typed<T>(qkv, cos, sin, slots, k_cache, v_cache, batch, seq, heads,
                                                         kv_heads, half, max_len, st))
}

}  // namespace heartmula::model::cuda
