// The DiT block's fused elementwise kernels (see codec/fused_ops.h for what each computes and
// how it rounds against the composite ATen code). Every float operation is written with the
// __f*_rn intrinsics so that nvcc cannot contract a multiply and an add into one FMA: the
// roundings are the composite's ones.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "codec/cuda/dit_kernels.h"
#include "io/cuda/convert.cuh"

namespace heartmula::codec::cuda {

namespace {

using io::cuda::from_f;
using io::cuda::Pack;
using io::cuda::to_f;

bool aligned(const void* p, int64_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

int last_error() { return static_cast<int>(cudaGetLastError()); }

unsigned blocks_for(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

// ---- modulated RMSNorm ---------------------------------------------------------------------------
// One block per row; each thread keeps its (at most kNormVecs) float4s of the row in registers,
// strided by blockDim.x (a multiple of 32, <= 1024: rows of up to 1024 * 4 * 4 = 16384 floats).
constexpr int kNormVecs = 4;

// kRes: the row is first x + gate * y (the gated residual kernel's two roundings), written to
// x_out (which may be x), then normalised: the two kernels' results in one pass over x.
template <typename TOut, bool kRes>
__global__ void modulated_rms_norm_kernel(const float* x, const float* __restrict__ w, const float* __restrict__ mod,
                                          TOut* __restrict__ out, int64_t seq, int64_t d, int64_t mod_rows,
                                          int64_t shift_row, int64_t scale_row, float inv_d, float eps,
                                          const float* __restrict__ gate_mod, int64_t gate_row,
                                          const TOut* __restrict__ y, float* x_out) {
  const int64_t row = blockIdx.x, b = row / seq, nvec = d / 4;
  const float4* xr = reinterpret_cast<const float4*>(x + row * d);
  float4 v[kNormVecs];
  float acc = 0.f;
#pragma unroll
  for (int k = 0; k < kNormVecs; ++k) {
    const int64_t i = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    if (i < nvec) {
      v[k] = xr[i];
      if constexpr (kRes) {
        const float4 g = reinterpret_cast<const float4*>(gate_mod + (b * mod_rows + gate_row) * d)[i];
        const Pack<TOut, 4> yv = reinterpret_cast<const Pack<TOut, 4>*>(y + row * d)[i];
        v[k].x = __fadd_rn(v[k].x, __fmul_rn(g.x, to_f(yv.v[0])));
        v[k].y = __fadd_rn(v[k].y, __fmul_rn(g.y, to_f(yv.v[1])));
        v[k].z = __fadd_rn(v[k].z, __fmul_rn(g.z, to_f(yv.v[2])));
        v[k].w = __fadd_rn(v[k].w, __fmul_rn(g.w, to_f(yv.v[3])));
        reinterpret_cast<float4*>(x_out + row * d)[i] = v[k];
      }
      acc = __fadd_rn(acc, __fmul_rn(v[k].x, v[k].x));
      acc = __fadd_rn(acc, __fmul_rn(v[k].y, v[k].y));
      acc = __fadd_rn(acc, __fmul_rn(v[k].z, v[k].z));
      acc = __fadd_rn(acc, __fmul_rn(v[k].w, v[k].w));
    }
  }
  __shared__ float warp_sums[32];
  for (int o = 16; o > 0; o >>= 1) acc = __fadd_rn(acc, __shfl_xor_sync(0xffffffffu, acc, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = acc;
  __syncthreads();
  if (warp == 0) {
    acc = lane < static_cast<int>(blockDim.x >> 5) ? warp_sums[lane] : 0.f;
    for (int o = 16; o > 0; o >>= 1) acc = __fadd_rn(acc, __shfl_xor_sync(0xffffffffu, acc, o));
    if (lane == 0) warp_sums[0] = acc;
  }
  __syncthreads();
  // ATen: mean = sum * (1 / d), var + eps, rsqrt.
  const float r = rsqrtf(__fadd_rn(__fmul_rn(warp_sums[0], inv_d), eps));
  const float4* w4 = reinterpret_cast<const float4*>(w);
  const float4* shift4 = reinterpret_cast<const float4*>(mod + (b * mod_rows + shift_row) * d);
  const float4* scale4 = reinterpret_cast<const float4*>(mod + (b * mod_rows + scale_row) * d);
  Pack<TOut, 4>* orow = reinterpret_cast<Pack<TOut, 4>*>(out + row * d);
#pragma unroll
  for (int k = 0; k < kNormVecs; ++k) {
    const int64_t i = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    if (i < nvec) {
      const float4 wv = w4[i], sh = shift4[i], sc = scale4[i];
      const float xs[4] = {v[k].x, v[k].y, v[k].z, v[k].w};
      const float ws[4] = {wv.x, wv.y, wv.z, wv.w};
      const float shs[4] = {sh.x, sh.y, sh.z, sh.w};
      const float scs[4] = {sc.x, sc.y, sc.z, sc.w};
      Pack<TOut, 4> o;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        // (w * (x * r)) * (1 + scale) + shift, each op rounded as the composite's tensors are.
        const float normed = __fmul_rn(ws[j], __fmul_rn(xs[j], r));
        o.v[j] = from_f<TOut>(__fadd_rn(__fmul_rn(normed, __fadd_rn(1.f, scs[j])), shs[j]));
      }
      orow[i] = o;
    }
  }
}

template <typename TOut>
int modulated_rms_norm_typed(const float* x, const float* w, const float* mod, void* out, int64_t rows, int64_t seq,
                             int64_t d, int64_t mod_rows, int64_t shift_row, int64_t scale_row, float eps,
                             cudaStream_t stream, const float* gate_mod = nullptr, int64_t gate_row = 0,
                             const void* y = nullptr, float* x_out = nullptr) {
  // About two float4s per thread (D 1536: 192 threads, D 3072: 384), at most kNormVecs.
  const int64_t nvec = d / 4;
  const int threads = static_cast<int>(std::min<int64_t>(1024, std::max<int64_t>(32, (nvec / 2 + 31) / 32 * 32)));
  if (d % 4 != 0 || nvec > static_cast<int64_t>(threads) * kNormVecs || !aligned(x, 16) || !aligned(w, 16) ||
      !aligned(mod, 16) || !aligned(out, 4 * sizeof(TOut)))
    return -1;
  if (x_out == nullptr) {
    modulated_rms_norm_kernel<TOut, false><<<static_cast<unsigned>(rows), threads, 0, stream>>>(
        x, w, mod, static_cast<TOut*>(out), seq, d, mod_rows, shift_row, scale_row, 1.f / static_cast<float>(d), eps,
        nullptr, 0, nullptr, nullptr);
  } else {
    if (!aligned(gate_mod, 16) || !aligned(y, 4 * sizeof(TOut)) || !aligned(x_out, 16)) return -1;
    modulated_rms_norm_kernel<TOut, true><<<static_cast<unsigned>(rows), threads, 0, stream>>>(
        x, w, mod, static_cast<TOut*>(out), seq, d, mod_rows, shift_row, scale_row, 1.f / static_cast<float>(d), eps,
        gate_mod, gate_row, static_cast<const TOut*>(y), x_out);
  }
  return last_error();
}

// ---- gated residual ------------------------------------------------------------------------------
// One thread per 4 consecutive elements of a row. x and out may be the same buffer.
template <typename TY>
__global__ void gated_residual_kernel(const float* x, float* out, const float* __restrict__ mod,
                                      const TY* __restrict__ y, int64_t n4, int64_t seq, int64_t d, int64_t mod_rows,
                                      int64_t gate_row) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n4) return;
  const int64_t e = idx * 4, row = e / d, col = e % d, b = row / seq;
  const float4 xv = reinterpret_cast<const float4*>(x)[idx];
  const float4 g = *reinterpret_cast<const float4*>(mod + (b * mod_rows + gate_row) * d + col);
  const Pack<TY, 4> yv = reinterpret_cast<const Pack<TY, 4>*>(y)[idx];
  float4 o;
  o.x = __fadd_rn(xv.x, __fmul_rn(g.x, to_f(yv.v[0])));
  o.y = __fadd_rn(xv.y, __fmul_rn(g.y, to_f(yv.v[1])));
  o.z = __fadd_rn(xv.z, __fmul_rn(g.z, to_f(yv.v[2])));
  o.w = __fadd_rn(xv.w, __fmul_rn(g.w, to_f(yv.v[3])));
  reinterpret_cast<float4*>(out)[idx] = o;
}

template <typename TY>
int gated_residual_typed(const float* x, float* out, const float* mod, const void* y, int64_t rows, int64_t seq,
                         int64_t d, int64_t mod_rows, int64_t gate_row, cudaStream_t stream) {
  if (d % 4 != 0 || !aligned(x, 16) || !aligned(out, 16) || !aligned(mod, 16) || !aligned(y, 4 * sizeof(TY))) return -1;
  const int64_t n4 = rows * d / 4;
  constexpr int threads = 256;
  gated_residual_kernel<TY><<<blocks_for(n4, threads), threads, 0, stream>>>(x, out, mod, static_cast<const TY*>(y), n4,
                                                                             seq, d, mod_rows, gate_row);
  return last_error();
}

// ---- SiLU(gate) * up -----------------------------------------------------------------------------
// One thread per N consecutive outputs. ATen: silu = x / (1 + exp(-x)) in float, rounded to T;
// the product in float, rounded to T.
template <typename T, int N>
__global__ void silu_mul_kernel(const T* __restrict__ gu, T* __restrict__ out, int64_t nvec, int64_t f) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= nvec) return;
  const int64_t e = idx * N, r = e / f, i = e % f;
  const Pack<T, N> g = *reinterpret_cast<const Pack<T, N>*>(gu + r * 2 * f + i);
  const Pack<T, N> u = *reinterpret_cast<const Pack<T, N>*>(gu + r * 2 * f + f + i);
  Pack<T, N> o;
#pragma unroll
  for (int j = 0; j < N; ++j) {
    const float a = to_f(g.v[j]);
    const T s = from_f<T>(__fdiv_rn(a, __fadd_rn(1.f, expf(-a))));
    o.v[j] = from_f<T>(__fmul_rn(to_f(s), to_f(u.v[j])));
  }
  reinterpret_cast<Pack<T, N>*>(out)[idx] = o;
}

template <typename T>
int silu_mul_typed(const void* gu, void* out, int64_t rows, int64_t f, cudaStream_t stream) {
  constexpr int threads = 256;
  constexpr int kVec = 16 / sizeof(T);
  if (f % kVec == 0 && aligned(gu, 16) && aligned(out, 16)) {
    const int64_t nvec = rows * f / kVec;
    silu_mul_kernel<T, kVec>
        <<<blocks_for(nvec, threads), threads, 0, stream>>>(static_cast<const T*>(gu), static_cast<T*>(out), nvec, f);
  } else {
    silu_mul_kernel<T, 1><<<blocks_for(rows * f, threads), threads, 0, stream>>>(static_cast<const T*>(gu),
                                                                                 static_cast<T*>(out), rows * f, f);
  }
  return last_error();
}

// ---- RoPE on the q and k heads of the fused qkv projection, in place ---------------------------------
// One thread per N consecutive elements (N even: whole pairs) of one head of one row. ATen's
// composite: a = T(x * cos); out = T(float(a) + swapped * sin) (addcmul computes in float).
template <typename T, int N>
__global__ void rope_heads_kernel(T* __restrict__ qkv, const T* __restrict__ cos, const T* __restrict__ sin,
                                  int64_t nvec, int64_t seq, int64_t row_stride, int64_t heads, int64_t head_dim) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= nvec) return;
  const int64_t e = idx * N, c = e % head_dim, rest = e / head_dim;
  const int64_t head = rest % heads, row = rest / heads, t = row % seq;
  Pack<T, N>* p = reinterpret_cast<Pack<T, N>*>(qkv + row * row_stride + head * head_dim + c);
  const Pack<T, N> xv = *p;
  const Pack<T, N> cv = *reinterpret_cast<const Pack<T, N>*>(cos + t * head_dim + c);
  const Pack<T, N> sv = *reinterpret_cast<const Pack<T, N>*>(sin + t * head_dim + c);
  Pack<T, N> o;
#pragma unroll
  for (int j = 0; j < N; j += 2) {
    const float x0 = to_f(xv.v[j]), x1 = to_f(xv.v[j + 1]);
    const float a0 = to_f(from_f<T>(__fmul_rn(x0, to_f(cv.v[j]))));
    const float a1 = to_f(from_f<T>(__fmul_rn(x1, to_f(cv.v[j + 1]))));
    // ATen's addcmul computes a + b * c in float, which nvcc contracts into one fma: so here too
    // (measured on the H100: with a separate multiply and add, float32 differed by 1 ulp).
    o.v[j] = from_f<T>(fmaf(x1, to_f(sv.v[j]), a0));
    o.v[j + 1] = from_f<T>(fmaf(x0, to_f(sv.v[j + 1]), a1));
  }
  *p = o;
}

template <typename T>
int rope_heads_typed(void* qkv, const void* cos, const void* sin, int64_t rows, int64_t seq, int64_t row_stride,
                     int64_t heads, int64_t head_dim, cudaStream_t stream) {
  constexpr int threads = 256;
  constexpr int kVec = 16 / sizeof(T);
  auto* q = static_cast<T*>(qkv);
  auto* c = static_cast<const T*>(cos);
  auto* s = static_cast<const T*>(sin);
  if (head_dim % kVec == 0 && row_stride % kVec == 0 && aligned(qkv, 16) && aligned(cos, 16) && aligned(sin, 16)) {
    const int64_t nvec = rows * heads * head_dim / kVec;
    rope_heads_kernel<T, kVec>
        <<<blocks_for(nvec, threads), threads, 0, stream>>>(q, c, s, nvec, seq, row_stride, heads, head_dim);
  } else if (head_dim % 2 == 0 && row_stride % 2 == 0 && aligned(qkv, 2 * sizeof(T)) && aligned(cos, 2 * sizeof(T)) &&
             aligned(sin, 2 * sizeof(T))) {
    const int64_t nvec = rows * heads * head_dim / 2;
    rope_heads_kernel<T, 2>
        <<<blocks_for(nvec, threads), threads, 0, stream>>>(q, c, s, nvec, seq, row_stride, heads, head_dim);
  } else {
    return -1;
  }
  return last_error();
}

}  // namespace

int launch_modulated_rms_norm(int out_dtype, const float* x, const float* w, const float* mod, void* out, int64_t rows,
                              int64_t seq, int64_t d, int64_t mod_rows, int64_t shift_row, int64_t scale_row, float eps,
                              void* stream) {
  auto st = static_cast<cudaStream_t>(stream);
  HEARTMULA_DTYPE_DISPATCH(
      out_dtype, modulated_rms_norm_typed<T>(x, w, mod, out, rows, seq, d, mod_rows, shift_row, scale_row, eps, st))
}

int launch_gated_residual_rms_norm(int dtype, const float* x, float* x_out, const float* gate_mod, int64_t gate_row,
                                   const void* y, const float* w, const float* mod, void* out, int64_t rows,
                                   int64_t seq, int64_t d, int64_t mod_rows, int64_t shift_row, int64_t scale_row,
                                   float eps, void* stream) {
  auto st = static_cast<cudaStream_t>(stream);
  if (x_out == nullptr) return -1;
  HEARTMULA_DTYPE_DISPATCH(dtype, modulated_rms_norm_typed<T>(x, w, mod, out, rows, seq, d, mod_rows, shift_row,
                                                              scale_row, eps, st, gate_mod, gate_row, y, x_out))
}

int launch_gated_residual(int y_dtype, const float* x, float* out, const float* mod, const void* y, int64_t rows,
                          int64_t seq, int64_t d, int64_t mod_rows, int64_t gate_row, void* stream) {
  auto st = static_cast<cudaStream_t>(stream);
  HEARTMULA_DTYPE_DISPATCH(y_dtype, gated_residual_typed<T>(x, out, mod, y, rows, seq, d, mod_rows, gate_row, st))
}

int launch_silu_mul(int dtype, const void* gu, void* out, int64_t rows, int64_t f, void* stream) {
  auto st = static_cast<cudaStream_t>(stream);
  HEARTMULA_DTYPE_DISPATCH(dtype, silu_mul_typed<T>(gu, out, rows, f, st))
}

int launch_rope_heads(int dtype, void* qkv, const void* cos, const void* sin, int64_t rows, int64_t seq,
                      int64_t row_stride, int64_t heads, int64_t head_dim, void* stream) {
  auto st = static_cast<cudaStream_t>(stream);
  HEARTMULA_DTYPE_DISPATCH(dtype, rope_heads_typed<T>(qkv, cos, sin, rows, seq, row_stride, heads, head_dim, st))
}

}  // namespace heartmula::codec::cuda
