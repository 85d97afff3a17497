// Element <-> float32 conversions and the vector access type shared by the .cu kernels (float,
// __nv_bfloat16, __half), for every layer's kernels (src/<layer>/cuda/*.cu).
// nvcc only, no LibTorch headers: #include "io/cuda/convert.cuh".
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace heartmula::io::cuda {

template <typename T>
__device__ __forceinline__ float to_f(T v);
template <>
__device__ __forceinline__ float to_f<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
template <>
__device__ __forceinline__ float to_f<__half>(__half v) {
  return __half2float(v);
}

// Round to nearest even.
template <typename T>
__device__ __forceinline__ T from_f(float v);
template <>
__device__ __forceinline__ float from_f<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half from_f<__half>(float v) {
  return __float2half_rn(v);
}

// N elements loaded / stored as one access (N * sizeof(T) <= 16 bytes, aligned to that).
template <typename T, int N>
struct alignas(N * sizeof(T)) Pack {
  T v[N];
};

}  // namespace heartmula::io::cuda

// The launchers' dtype switch (0 float32, 1 bfloat16, 2 float16): runs `return CALL;` with T the
// element type, cudaErrorInvalidValue for another code. One definition for every layer's .cu.
#define HEARTMULA_DTYPE_DISPATCH(CODE, CALL)          \
  switch (CODE) {                                     \
    case 0: {                                         \
      using T = float;                                \
      return CALL;                                    \
    }                                                 \
    case 1: {                                         \
      using T = __nv_bfloat16;                        \
      return CALL;                                    \
    }                                                 \
    case 2: {                                         \
      using T = __half;                               \
      return CALL;                                    \
    }                                                 \
    default:                                          \
      return static_cast<int>(cudaErrorInvalidValue); \
  }
