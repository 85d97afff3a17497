// The scalar decoder's fused bias + PReLU (+ residual) epilogue (launch_bias_prelu, see
// decoder_kernels.h and codec/fused_ops.h). The float operations are written with the __f*_rn
// intrinsics so that nvcc cannot contract a multiply and an add into one FMA: the roundings are
// the composite's ones.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "codec/cuda/decoder_kernels.h"
#include "codec/cuda/decoder_common.cuh"
#include "io/cuda/convert.cuh"

namespace heartmula::codec::cuda {

namespace {

using detail::aligned;
using io::cuda::from_f;
using io::cuda::Pack;
using io::cuda::to_f;

constexpr int kThreads = 256;

// One pack of N elements per thread and step (grid-stride); the N elements of a pack share one
// channel run: with inner == 1 they are channels c..c+N-1 (channels % N == 0), otherwise one
// channel (inner % N == 0).
template <typename T, int N, bool kBias, bool kResidual>
__global__ void bias_prelu_kernel(T* __restrict__ x, const T* __restrict__ bias, const T* __restrict__ slope,
                                  const T* __restrict__ residual, int64_t packs, int64_t channels, int64_t inner) {
  const float a = to_f(slope[0]);
  Pack<T, N>* xp = reinterpret_cast<Pack<T, N>*>(x);
  const Pack<T, N>* rp = reinterpret_cast<const Pack<T, N>*>(residual);
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < packs;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = p * N;
    Pack<T, N> v = xp[p];
    Pack<T, N> r;
    if (kResidual) r = rp[p];
    const int64_t c0 = kBias ? (inner == 1 ? i % channels : (i / inner) % channels) : 0;
#pragma unroll
    for (int k = 0; k < N; ++k) {
      T e = v.v[k];
      if (kBias) {
        e = from_f<T>(__fadd_rn(to_f(e), to_f(bias[inner == 1 ? c0 + k : c0])));
      }
      const float f = to_f(e);
      if (!(f > 0.f)) e = from_f<T>(__fmul_rn(a, f));
      if (kResidual) e = from_f<T>(__fadd_rn(to_f(e), to_f(r.v[k])));
      v.v[k] = e;
    }
    xp[p] = v;
  }
}

template <typename T, int N>
int launch_packed(T* x, const T* bias, const T* slope, const T* residual, int64_t n, int64_t channels, int64_t inner,
                  cudaStream_t stream) {
  const int sms = io::cuda::sm_count();
  if (sms <= 0) return -1;
  const int64_t packs = n / N;
  const unsigned blocks =
      static_cast<unsigned>(std::min<int64_t>((packs + kThreads - 1) / kThreads, int64_t{sms} * 16));
  if (bias && residual)
    bias_prelu_kernel<T, N, true, true>
        <<<blocks, kThreads, 0, stream>>>(x, bias, slope, residual, packs, channels, inner);
  else if (bias)
    bias_prelu_kernel<T, N, true, false>
        <<<blocks, kThreads, 0, stream>>>(x, bias, slope, residual, packs, channels, inner);
  else if (residual)
    bias_prelu_kernel<T, N, false, true>
        <<<blocks, kThreads, 0, stream>>>(x, bias, slope, residual, packs, channels, inner);
  else
    bias_prelu_kernel<T, N, false, false>
        <<<blocks, kThreads, 0, stream>>>(x, bias, slope, residual, packs, channels, inner);
  return static_cast<int>(cudaGetLastError());
}

template <typename T>
int launch_typed(void* xv, const void* bv, const void* sv, const void* rv, int64_t n, int64_t channels, int64_t inner,
                 cudaStream_t stream) {
  T* x = static_cast<T*>(xv);
  const T* bias = static_cast<const T*>(bv);
  const T* slope = static_cast<const T*>(sv);
  const T* residual = static_cast<const T*>(rv);
  constexpr int kVec = 16 / sizeof(T);
  const bool packs_share_channels = inner == 1 ? channels % kVec == 0 : inner % kVec == 0;
  if (n % kVec == 0 && packs_share_channels && aligned(x, 16) && aligned(residual, 16))
    return launch_packed<T, kVec>(x, bias, slope, residual, n, channels, inner, stream);
  return launch_packed<T, 1>(x, bias, slope, residual, n, channels, inner, stream);
}

}  // namespace

int launch_bias_prelu(int dtype, void* x, const void* bias, const void* slope, const void* residual, int64_t n,
                      int64_t channels, int64_t inner, void* stream) {
  if (n <= 0 || channels <= 0 || inner <= 0 || x == nullptr || slope == nullptr) return -1;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case 0:
      return launch_typed<float>(x, bias, slope, residual, n, channels, inner, s);
    case 1:
      return launch_typed<__nv_bfloat16>(x, bias, slope, residual, n, channels, inner, s);
    case 2:
      return launch_typed<__half>(x, bias, slope, residual, n, channels, inner, s);
    default:
      return -1;
  }
}

}  // namespace heartmula::codec::cuda
