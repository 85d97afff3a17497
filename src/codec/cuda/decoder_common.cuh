// Internal to src/codec/cuda: what the scalar decoder's tensor-core kernels share (conv64.cu,
// post64_poly.cu, pointwise_unit.cu, out_conv64.cu): the 64-channel tile's constants, cp.async,
// the swizzled shared-row offsets, the fp16 MMA and its power-of-two scaling, the arguments of
// the 64-channel kernels. nvcc only, no LibTorch headers.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "io/cuda/device_props.cuh"

namespace heartmula::codec::cuda::detail {

// Whether p is null or a multiple of `bytes`.
inline bool aligned(const void* p, int64_t bytes) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

// ---- The 64-channel stage on tensor cores (launch_conv64) ----
//
// One block per SM, persistent over tiles of kTile output steps x 64 channels. The block keeps
// W1 (as a [64 out][448] matrix, k = tap * 64 + in) and W2 in shared memory. Each tile's input
// rows (kTile + 6 * dilation of them, the causal context included) arrive by cp.async in one of
// two float buffers while the previous tile is computed, and the block runs
//   GEMM 1: H[kTile, 64] = In_shifted[kTile, 448] x W1^T   (the 7 taps as 7 row offsets)
//   bias + PReLU into shared memory, then
//   GEMM 2: Y[kTile, 64] = H x W2^T, bias + PReLU + residual straight to global memory.
// 8 warps: 4 along time (2 m16 tiles each) x 2 along channels (4 n8 tiles each). Shared float
// rows are dense (64 floats); the 16-byte chunk c of row r is stored at chunk c ^ (4 (r & 1)),
// so that the two rows of each 8-thread phase of a 16-byte load hit 8 different bank groups.
// (A TF32 form of this kernel, m16n8k8 on TF32-rounded floats, was the first; the fp16 one
// below measured faster and the TF32 one was retired: docs/performance.md.)
constexpr int kCh = 64;
constexpr int kTaps = 7;
constexpr int kK1 = kCh * kTaps;  // 448
constexpr int kTile = 128;        // output steps per tile
constexpr int kWarpsM = 4;
constexpr int kMi = kTile / (16 * kWarpsM);  // m16 tiles per warp
constexpr int kConvThreads = kWarpsM * 2 * 32;

// 16 bytes global -> shared without passing through registers (zeros when !valid).
__device__ __forceinline__ void cp_async16(float* dst, const float* src, bool valid) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Offset (floats) of float `col` of row `row` in shared rows of `width` floats (swizzled chunks).
__device__ __forceinline__ int soff(int row, int width, int col) {
  return row * width + ((((col >> 2) ^ ((row & 1) << 2))) << 2) + (col & 3);
}

struct Conv64Args {
  const float* __restrict__ x;
  float* y;
  const float *w1, *b1, *a1, *w2, *b2, *a2;
  int64_t batch, t_in, t_out, t_begin;
  int dilation, rep, rep_shift;  // rep == 1 << rep_shift
  bool residual;
};

// ---- fp16 operands with power-of-two scales ----
//
// fp16 has TF32's 10-bit mantissa; its narrow range is handled by power-of-two scales: W1 and W2
// once per block, each tile's input rows and each tile's H by their maximum (into [2^14, 2^15)),
// so every value within 2^-28 of its tile's maximum keeps a full 11-bit significand, as TF32
// would (smaller ones add < 2^-39 of the maximum). The products accumulate in float32 and are
// scaled back exactly. m16n8k16 MMAs: twice the depth per instruction of m16n8k8 TF32.
constexpr int kRowH = kCh;  // halves per tile row

__device__ __forceinline__ void mma_f16(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                        uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Offset (halves) of half `col` of `row` in rows of `width` halves: 16-byte chunks (8 halves)
// swizzled by row parity as for the float rows.
__device__ __forceinline__ int hoff(int row, int width, int col) {
  return row * width + ((((col >> 3) ^ ((row & 1) << 2))) << 3) + (col & 7);
}

// 2^e as a float (e in [-126, 127]).
__device__ __forceinline__ float pow2f(int e) { return __int_as_float((e + 127) << 23); }

// The exponent e that puts m * 2^e into [2^14, 2^15) (0 for 0 or a non-finite m), clamped so
// that the scales and their inverse products stay normal floats.
__device__ __forceinline__ int scale_exp(float m) {
  if (!(m > 0.f) || !isfinite(m)) return 0;
  const int e = 14 - ilogbf(m);
  return e < -60 ? -60 : (e > 60 ? 60 : e);
}

// The maximum of v over the block (every thread gets it). `red`: blockDim.x / 32 floats.
__device__ __forceinline__ float block_max(float v, float* red) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();  // red is free
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  float m = red[0];
  for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) m = fmaxf(m, red[w]);
  return m;
}

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// rows x cols floats from global (dense) into swizzled shared rows of `cols` halves, times
// 2^e with e from their maximum (returned).
__device__ __forceinline__ int load_f16(__half* dst, const float* __restrict__ src, int rows, int cols, float* red) {
  const int total = rows * cols / 4;
  float m = 0.f;
  for (int i = threadIdx.x; i < total; i += blockDim.x) {
    const float4 v = __ldg(reinterpret_cast<const float4*>(src) + i);
    m = fmaxf(m, fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w))));
  }
  const int e = scale_exp(block_max(m, red));
  const float sc = pow2f(e);
  for (int i = threadIdx.x; i < total; i += blockDim.x) {
    const float4 v = __ldg(reinterpret_cast<const float4*>(src) + i);
    const int r = (i * 4) / cols, c = (i * 4) % cols;
    *reinterpret_cast<uint2*>(dst + hoff(r, cols, c)) =
        make_uint2(pack_half2(v.x * sc, v.y * sc), pack_half2(v.z * sc, v.w * sc));
  }
  return e;
}

// acc[i][j] += A[rows a_row0 + 16 i .. +15][k] * B[rows b_row0 + 8 j .. +7][b_k0 + k], k < 64,
// halves (a rows of 64, b rows of b_width; b_row0 even, b_k0 a multiple of 64). In group G of 32
// channels thread q reads channels 32G + 8q .. +7 of a row in one 16-byte load: the first m16n8k16
// step takes 0-1 (k-slots 2q, 2q+1) and 2-3 (2q+8, 2q+9), the second 4-5 and 6-7 (the same order
// for A and B). Chunk 4G + q of a row of parity p sits at chunk 4 (G ^ p) + q.
__device__ __forceinline__ void mma_64h(float (&acc)[kMi][4][4], const __half* a, int a_row0, const __half* b,
                                        int b_width, int b_row0, int b_k0) {
  const int lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const int pa = (a_row0 + g) & 1, pb = g & 1;
  const __half* a_lane = a + (a_row0 + g) * kRowH + 8 * q;
  const __half* b_lane = b + (b_row0 + g) * b_width + b_k0 + 8 * q;
#pragma unroll
  for (int grp = 0; grp < 2; ++grp) {
    const __half* pa_ = a_lane + 32 * (grp ^ pa);
    const __half* pb_ = b_lane + 32 * (grp ^ pb);
    uint4 lo[kMi], hi[kMi], bw[4];
#pragma unroll
    for (int i = 0; i < kMi; ++i) {
      lo[i] = *reinterpret_cast<const uint4*>(pa_ + 16 * i * kRowH);
      hi[i] = *reinterpret_cast<const uint4*>(pa_ + (16 * i + 8) * kRowH);
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) bw[j] = *reinterpret_cast<const uint4*>(pb_ + 8 * j * b_width);
#pragma unroll
    for (int i = 0; i < kMi; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) mma_f16(acc[i][j], lo[i].x, hi[i].x, lo[i].y, hi[i].y, bw[j].x, bw[j].y);
#pragma unroll
    for (int i = 0; i < kMi; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) mma_f16(acc[i][j], lo[i].z, hi[i].z, lo[i].w, hi[i].w, bw[j].z, bw[j].w);
  }
}

// The PostProcessor's conv (w2 null, batch 1, rep 2, dilation 1) as a polyphase kernel
// (post64_poly.cu); -1 when the arguments or the shared memory do not suit.
int launch_post64_poly(const Conv64Args& args, void* stream);

}  // namespace heartmula::codec::cuda::detail
