// Fused RMSNorm and RoPE kernels (see model/fused_ops.h for what they compute).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "fused_kernels.h"

namespace heartmula::model::cuda {

namespace {

template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ __forceinline__ float to_f<__half>(__half v) { return __half2float(v); }

template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }

constexpr int kNormThreads = 256;

// One block per row.
template <typename T>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ scale, T* __restrict__ out,
                                int64_t d, float eps) {
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

}  // namespace

int launch_rms_norm(int dtype, const void* x, const void* scale, void* out, int64_t rows, int64_t d, float eps,
                    void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case 0: return rms_norm_typed<float>(x, scale, out, rows, d, eps, s);
    case 1: return rms_norm_typed<__nv_bfloat16>(x, scale, out, rows, d, eps, s);
    case 2: return rms_norm_typed<__half>(x, scale, out, rows, d, eps, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int launch_rope_qk(int dtype, void* qkv, const float* cos, const float* sin, int64_t rows, int64_t row_stride,
                   int64_t heads, int64_t half, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case 0: return rope_typed<float>(qkv, cos, sin, rows, row_stride, heads, half, s);
    case 1: return rope_typed<__nv_bfloat16>(qkv, cos, sin, rows, row_stride, heads, half, s);
    case 2: return rope_typed<__half>(qkv, cos, sin, rows, row_stride, heads, half, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

}  // namespace heartmula::model::cuda
