// The scalar decoder's fused bias + PReLU (+ residual) kernel (see decoder_kernels.h and
// codec/fused_ops.h). The float operations are written with the __f*_rn intrinsics so that nvcc
// cannot contract a multiply and an add into one FMA: the roundings are the composite's ones.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "codec/cuda/decoder_kernels.h"
#include "model/cuda/convert.cuh"

namespace heartmula::codec::cuda {

namespace {

using model::cuda::from_f;
using model::cuda::Pack;
using model::cuda::to_f;

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

bool aligned(const void* p, int64_t bytes) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % bytes == 0; }

template <typename T, int N>
int launch_packed(T* x, const T* bias, const T* slope, const T* residual, int64_t n, int64_t channels, int64_t inner,
                  cudaStream_t stream) {
  const int64_t packs = n / N;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((packs + kThreads - 1) / kThreads, 132 * 16));
  if (bias && residual)
    bias_prelu_kernel<T, N, true, true><<<blocks, kThreads, 0, stream>>>(x, bias, slope, residual, packs, channels, inner);
  else if (bias)
    bias_prelu_kernel<T, N, true, false><<<blocks, kThreads, 0, stream>>>(x, bias, slope, residual, packs, channels, inner);
  else if (residual)
    bias_prelu_kernel<T, N, false, true><<<blocks, kThreads, 0, stream>>>(x, bias, slope, residual, packs, channels, inner);
  else
    bias_prelu_kernel<T, N, false, false><<<blocks, kThreads, 0, stream>>>(x, bias, slope, residual, packs, channels, inner);
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

__device__ __forceinline__ void mma_f16(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                        uint32_t b0, uint32_t b1) {
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

// Shared memory: 64 floats for reductions, W1 and W2 in halves, two float tile buffers, the
// tile in halves, H in halves.
size_t conv64h_smem_bytes(int halo) {
  const size_t rows = static_cast<size_t>(kTile + halo);
  return 64 * sizeof(float) + 2 * (static_cast<size_t>(kCh) * kK1 + static_cast<size_t>(kCh) * kCh) +
         2 * rows * kCh * sizeof(float) + rows * kCh * 2 + static_cast<size_t>(kTile) * kCh * 2;
}

__global__ void __launch_bounds__(kConvThreads, 1) conv64_f16_kernel(Conv64Args p) {
  extern __shared__ __align__(16) float smem[];
  const int halo = (kTaps - 1) * p.dilation, rows = kTile + halo;
  float* red = smem;
  __half* w1h = reinterpret_cast<__half*>(smem + 64);  // [64][448]
  __half* w2h = w1h + kCh * kK1;                       // [64][64]
  float* bufs = reinterpret_cast<float*>(w2h + kCh * kCh);  // 2 x [rows][64] floats
  __half* xh = reinterpret_cast<__half*>(bufs + 2 * rows * kCh);  // [rows][64]
  __half* hh = xh + rows * kCh;                                   // [kTile][64]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, q = lane & 3;
  const int m_base = (warp % kWarpsM) * 16 * kMi, n_base = (warp / kWarpsM) * 32;
  const bool two = p.w2 != nullptr;

  const int e_w1 = load_f16(w1h, p.w1, kCh, kK1, red);
  const int e_w2 = two ? load_f16(w2h, p.w2, kCh, kCh, red) : 0;
  const float a1 = *p.a1, a2 = two ? *p.a2 : 0.f;
  float bias1[4][2], bias2[4][2];
#pragma unroll
  for (int j = 0; j < 4; ++j)
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      bias1[j][e] = p.b1[n_base + j * 8 + 2 * q + e];
      bias2[j][e] = two ? p.b2[n_base + j * 8 + 2 * q + e] : 0.f;
    }

  const int64_t t_rep = p.t_in * p.rep;
  const int64_t tiles_per_row = (p.t_out + kTile - 1) / kTile, tiles = tiles_per_row * p.batch;
  auto fetch = [&](int64_t tile, float* buf) {
    if (tile < tiles) {
      const int64_t b = tile / tiles_per_row, t0 = p.t_begin + (tile % tiles_per_row) * kTile;
      const float* xb = p.x + b * p.t_in * kCh;
      for (int i = threadIdx.x; i < rows * (kCh / 4); i += kConvThreads) {
        const int64_t s = t0 - halo + (i >> 4);
        const bool ok = s >= 0 && s < t_rep;
        cp_async16(buf + soff(i >> 4, kCh, (i & 15) * 4), ok ? xb + (s >> p.rep_shift) * kCh + (i & 15) * 4 : p.x, ok);
      }
    }
    cp_async_commit();
  };
  const int buf_floats = rows * kCh;
  fetch(blockIdx.x, bufs);
  int it = 0;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x, ++it) {
    const int64_t b = tile / tiles_per_row, r0 = (tile % tiles_per_row) * kTile;
    const int64_t t0 = p.t_begin + r0;
    float* yb = p.y + b * p.t_out * kCh;
    float* xs = bufs + (it & 1) * buf_floats;
    __syncthreads();  // the other float buffer and xh / hh are free
    fetch(tile + gridDim.x, bufs + ((it + 1) & 1) * buf_floats);
    cp_async_wait<1>();  // this thread's copies of this tile are in
    float m = 0.f;
    for (int i = threadIdx.x; i < rows * (kCh / 4); i += kConvThreads) {
      const float4 v = *reinterpret_cast<const float4*>(xs + soff(i >> 4, kCh, (i & 15) * 4));
      m = fmaxf(m, fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w))));
    }
    const int e_x = scale_exp(block_max(m, red));  // (its barriers also publish everyone's copies)
    const float sx = pow2f(e_x);
    for (int i = threadIdx.x; i < rows * (kCh / 4); i += kConvThreads) {
      const int r = i >> 4, c = (i & 15) * 4;
      const float4 v = *reinterpret_cast<const float4*>(xs + soff(r, kCh, c));
      *reinterpret_cast<uint2*>(xh + hoff(r, kRowH, c)) =
          make_uint2(pack_half2(v.x * sx, v.y * sx), pack_half2(v.z * sx, v.w * sx));
    }
    __syncthreads();

    float acc[kMi][4][4];
#pragma unroll
    for (int i = 0; i < kMi; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;
    for (int tap = 0; tap < kTaps; ++tap) mma_64h(acc, xh, m_base + tap * p.dilation, w1h, kK1, n_base, tap * kCh);

    // Scale back, bias + PReLU (into acc).
    const float un1 = pow2f(-(e_x + e_w1));
    float mh = 0.f;
#pragma unroll
    for (int i = 0; i < kMi; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float v = __fadd_rn(acc[i][j][e] * un1, bias1[j][e & 1]);
          if (!(v > 0.f)) v = __fmul_rn(a1, v);
          acc[i][j][e] = v;
          mh = fmaxf(mh, fabsf(v));
        }
    if (!two) {
#pragma unroll
      for (int i = 0; i < kMi; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
          for (int hh2 = 0; hh2 < 2; ++hh2) {
            const int row = m_base + i * 16 + g + 8 * hh2, col = n_base + j * 8 + 2 * q;
            if (r0 + row >= p.t_out) continue;
            float v0 = acc[i][j][2 * hh2], v1 = acc[i][j][2 * hh2 + 1];
            if (t0 + row < 0) v0 = v1 = 0.f;
            *reinterpret_cast<float2*>(yb + (r0 + row) * kCh + col) = make_float2(v0, v1);
          }
      continue;
    }
    const int e_h = scale_exp(block_max(mh, red));
    const float sh = pow2f(e_h);
#pragma unroll
    for (int i = 0; i < kMi; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int hh2 = 0; hh2 < 2; ++hh2) {
          const int row = m_base + i * 16 + g + 8 * hh2, col = n_base + j * 8 + 2 * q;
          *reinterpret_cast<uint32_t*>(hh + hoff(row, kRowH, col)) =
              pack_half2(acc[i][j][2 * hh2] * sh, acc[i][j][2 * hh2 + 1] * sh);
        }
    __syncthreads();

#pragma unroll
    for (int i = 0; i < kMi; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;
    mma_64h(acc, hh, m_base, w2h, kCh, n_base, 0);
    const float un2 = pow2f(-(e_h + e_w2));
#pragma unroll
    for (int i = 0; i < kMi; ++i) {
      float2 res[4][2];
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int hh2 = 0; hh2 < 2; ++hh2) {
          const int row = m_base + i * 16 + g + 8 * hh2, col = n_base + j * 8 + 2 * q;
          // The residual x[t0 + row] is the float tile's row row + halo (rep 1, t_begin 0): exact,
          // still in shared memory (only the half copy feeds the MMAs).
          res[j][hh2] = make_float2(0.f, 0.f);
          if (p.residual && r0 + row < p.t_out)
            res[j][hh2] = *reinterpret_cast<const float2*>(xs + soff(row + halo, kCh, col));
        }
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int hh2 = 0; hh2 < 2; ++hh2) {
          const int row = m_base + i * 16 + g + 8 * hh2, col = n_base + j * 8 + 2 * q;
          if (r0 + row >= p.t_out) continue;
          float v0 = __fadd_rn(acc[i][j][2 * hh2] * un2, bias2[j][0]);
          float v1 = __fadd_rn(acc[i][j][2 * hh2 + 1] * un2, bias2[j][1]);
          if (!(v0 > 0.f)) v0 = __fmul_rn(a2, v0);
          if (!(v1 > 0.f)) v1 = __fmul_rn(a2, v1);
          if (p.residual) {
            v0 = __fadd_rn(v0, res[j][hh2].x);
            v1 = __fadd_rn(v1, res[j][hh2].y);
          }
          *reinterpret_cast<float2*>(yb + (r0 + row) * kCh + col) = make_float2(v0, v1);
        }
    }
  }
  cp_async_wait<0>();
}

// ---- The PostProcessor's conv as a polyphase one (fp16 operands; batch 1, rep 2, dilation 1) ----
// With each input step repeated twice, output step s = 2u + p (p = s & 1) of the causal k = 7
// conv reads in[s - 6 + k] = x[u - 3 + ((p + k) >> 1)]: per phase a 4-tap conv over the
// unrepeated steps, with taps V[p][d] = the sum of the W_k with (p + k) >> 1 == d:
//   p = 0: W0+W1, W2+W3, W4+W5, W6;   p = 1: W0, W1+W2, W3+W4, W5+W6
// (4/7 of the MMAs). The zero padding maps to x rows outside [0, t_in) either way. Tiles of 128
// output steps from an even step: u in [u0, u0 + 64) for both phases; warp (m, n): phase m & 1,
// u rows (m >> 1) * 32 .. + 31, 32 channels. V (halves, one power-of-two scale) in shared memory.
constexpr int kPolyRows = kTile / 2 + 3;  // x rows u0 - 3 .. u0 + 63

size_t poly_smem_bytes() { return 64 * sizeof(float) + 2 * (2 * size_t{kCh} * 4 * kCh + size_t{kPolyRows} * kCh); }

__global__ void __launch_bounds__(kConvThreads, 2) post64_poly_f16_kernel(Conv64Args p) {
  extern __shared__ __align__(16) float smem[];
  float* red = smem;
  __half* vh = reinterpret_cast<__half*>(smem + 64);  // [2 phases][64 out][4 taps x 64 in]
  __half* xh = vh + 2 * kCh * 4 * kCh;                // [kPolyRows][64]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, q = lane & 3;
  const int wm = warp % kWarpsM, phase = wm & 1, u_base = (wm >> 1) * 32, n_base = (warp / kWarpsM) * 32;
  constexpr int kV = 2 * kCh * 4 * kCh;
  // V[ph][o][d][c] from w1[o][k][c]: tap k joins d = (ph + k) >> 1.
  auto v_at = [&](int idx) {
    const int c = idx % kCh, d = (idx / kCh) % 4, o = (idx / (4 * kCh)) % kCh, ph = idx / (4 * kCh * kCh);
    const int k0 = 2 * d - ph;  // the taps k0 and k0 + 1 that exist
    const float lo = k0 >= 0 ? __ldg(p.w1 + (o * kTaps + k0) * kCh + c) : 0.f;
    const float hi = k0 + 1 < kTaps ? __ldg(p.w1 + (o * kTaps + k0 + 1) * kCh + c) : 0.f;
    return __fadd_rn(lo, hi);
  };
  float m = 0.f;
  for (int i = threadIdx.x; i < kV; i += kConvThreads) m = fmaxf(m, fabsf(v_at(i)));
  const int e_w = scale_exp(block_max(m, red));
  const float sw = pow2f(e_w);
  for (int i = threadIdx.x; i < kV / 2; i += kConvThreads) {
    const int e = 2 * i, row = e / (4 * kCh), col = e % (4 * kCh);  // row = ph * 64 + o
    *reinterpret_cast<uint32_t*>(vh + hoff(row, 4 * kCh, col)) = pack_half2(v_at(e) * sw, v_at(e + 1) * sw);
  }
  const float a1 = *p.a1;
  float bias1[4][2];
#pragma unroll
  for (int j = 0; j < 4; ++j)
#pragma unroll
    for (int e = 0; e < 2; ++e) bias1[j][e] = p.b1[n_base + j * 8 + 2 * q + e];
  const int64_t odd = p.t_begin & 1, s_al0 = p.t_begin - odd, n_al = p.t_out + odd;
  const int64_t tiles = (n_al + kTile - 1) / kTile;
  const float* __restrict__ xg = p.x;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t u0 = (s_al0 + tile * kTile) / 2;  // s_al0 + tile * kTile is even
    __syncthreads();  // xh is free
    float4 t[(kPolyRows * kCh / 4 + kConvThreads - 1) / kConvThreads];
    float mx = 0.f;
#pragma unroll
    for (int k = 0; k < static_cast<int>(sizeof(t) / sizeof(t[0])); ++k) {
      const int i = threadIdx.x + k * kConvThreads;
      const int64_t mrow = u0 - 3 + i / (kCh / 4);
      t[k] = (i < kPolyRows * kCh / 4 && mrow >= 0 && mrow < p.t_in)
                 ? __ldg(reinterpret_cast<const float4*>(xg + mrow * kCh + (i % (kCh / 4)) * 4))
                 : make_float4(0.f, 0.f, 0.f, 0.f);
      mx = fmaxf(mx, fmaxf(fmaxf(fabsf(t[k].x), fabsf(t[k].y)), fmaxf(fabsf(t[k].z), fabsf(t[k].w))));
    }
    const int e_x = scale_exp(block_max(mx, red));
    const float sx = pow2f(e_x);
#pragma unroll
    for (int k = 0; k < static_cast<int>(sizeof(t) / sizeof(t[0])); ++k) {
      const int i = threadIdx.x + k * kConvThreads;
      if (i < kPolyRows * kCh / 4)
        *reinterpret_cast<uint2*>(xh + hoff(i / (kCh / 4), kRowH, (i % (kCh / 4)) * 4)) =
            make_uint2(pack_half2(t[k].x * sx, t[k].y * sx), pack_half2(t[k].z * sx, t[k].w * sx));
    }
    __syncthreads();
    float acc[kMi][4][4];
#pragma unroll
    for (int i = 0; i < kMi; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;
    // Output u (tile row u - u0) reads x rows u - 3 + d = tile rows (u - u0) + d.
#pragma unroll
    for (int d = 0; d < 4; ++d) mma_64h(acc, xh, u_base + d, vh + phase * kCh * 4 * kCh, 4 * kCh, n_base, d * kCh);
    const float un = pow2f(-(e_x + e_w));
#pragma unroll
    for (int i = 0; i < kMi; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int hh2 = 0; hh2 < 2; ++hh2) {
          const int64_t u = u0 + u_base + i * 16 + g + 8 * hh2, s = 2 * u + phase, r = s - p.t_begin;
          if (r < 0 || r >= p.t_out) continue;
          const int col = n_base + j * 8 + 2 * q;
          float v0 = __fadd_rn(acc[i][j][2 * hh2] * un, bias1[j][0]);
          float v1 = __fadd_rn(acc[i][j][2 * hh2 + 1] * un, bias1[j][1]);
          if (!(v0 > 0.f)) v0 = __fmul_rn(a1, v0);
          if (!(v1 > 0.f)) v1 = __fmul_rn(a1, v1);
          if (s < 0) v0 = v1 = 0.f;
          *reinterpret_cast<float2*>(p.y + r * kCh + col) = make_float2(v0, v1);
        }
  }
}

// ---- The pointwise half of a 128/256-channel residual unit (launch_pointwise_unit) --------------
// y = PReLU_a2(b2 + W2 PReLU_a1(h + b1)) + x per step, h the unit's first convolution without its
// bias (cuDNN's). fp16 operands with power-of-two scales as in conv64_f16_kernel: W2 once per
// block, each row of activations by its own maximum (a GEMM row's scale is undone in its row).
// Persistent blocks over tiles of Pw<C>::kRows = 64 steps x C channels; 8 warps as 4 (rows) x 2
// (columns): 16 x 64 outputs each for C = 128 (three blocks per SM, so that one block's loads
// overlap another's MMAs and stores), 16 x 128 for C = 256 (one: its W2 takes 128 KB).
template <int C>
struct Pw {
  static constexpr int kMi = 1;                           // m16 tiles per warp
  static constexpr int kRows = 16 * kMi * kWarpsM;         // steps per tile
  static constexpr int kNj = C / 2 / 8;                    // n8 tiles per warp
  static constexpr int kVecsPerLane = C / 128;             // float4s of a row per lane
  static constexpr int kRowsPerWarp = kRows / (kConvThreads / 32);
  static constexpr int kBatch = 8 / kVecsPerLane;          // rows whose loads are in flight at once
  static constexpr int kBlocksPerSm = C == 128 ? 3 : 1;
  static size_t smem_bytes() {
    return 64 * sizeof(float) + 2 * (size_t{C} * C + size_t{kRows} * C) + kRows * sizeof(int);
  }
};

// acc[i][j] += A[rows a_row0 + 16 i ..][a_k0 + k] * B[rows b_row0 + 8 j ..][b_k0 + k], k < 64, in
// swizzled half rows (a_width / b_width halves; row0s even, k0s multiples of 64): mma_64h's
// fragment order for any row widths and numbers of tiles.
template <int kMiT, int kNjT>
__device__ __forceinline__ void mma_k64h_pw(float (&acc)[kMiT][kNjT][4], const __half* a, int a_width, int a_row0,
                                            int a_k0, const __half* b, int b_width, int b_row0, int b_k0) {
  const int lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const int pa = (a_row0 + g) & 1, pb = g & 1;
  const __half* a_lane = a + (a_row0 + g) * a_width + a_k0 + 8 * q;
  const __half* b_lane = b + (b_row0 + g) * b_width + b_k0 + 8 * q;
#pragma unroll
  for (int grp = 0; grp < 2; ++grp) {
    const __half* pa_ = a_lane + 32 * (grp ^ pa);
    const __half* pb_ = b_lane + 32 * (grp ^ pb);
    uint4 lo[kMiT], hi[kMiT];
#pragma unroll
    for (int i = 0; i < kMiT; ++i) {
      lo[i] = *reinterpret_cast<const uint4*>(pa_ + 16 * i * a_width);
      hi[i] = *reinterpret_cast<const uint4*>(pa_ + (16 * i + 8) * a_width);
    }
#pragma unroll
    for (int j = 0; j < kNjT; ++j) {
      const uint4 bw = *reinterpret_cast<const uint4*>(pb_ + 8 * j * b_width);
#pragma unroll
      for (int i = 0; i < kMiT; ++i) {
        mma_f16(acc[i][j], lo[i].x, hi[i].x, lo[i].y, hi[i].y, bw.x, bw.y);
        mma_f16(acc[i][j], lo[i].z, hi[i].z, lo[i].w, hi[i].w, bw.z, bw.w);
      }
    }
  }
}

struct PointwiseArgs {
  const float *h, *x;
  float* y;
  const float *b1, *a1, *w2, *b2, *a2;
  int64_t rows;
};

template <int C>
__global__ void __launch_bounds__(kConvThreads, Pw<C>::kBlocksPerSm) pointwise_unit_kernel(PointwiseArgs p) {
  using P = Pw<C>;
  extern __shared__ __align__(16) float smem[];
  float* red = smem;
  __half* w2h = reinterpret_cast<__half*>(smem + 64);     // [C][C]
  __half* hh = w2h + C * C;                               // [kRows][C]
  int* e_row = reinterpret_cast<int*>(hh + P::kRows * C);  // [kRows]: each row's scale exponent
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, q = lane & 3;
  constexpr int kWarps = kConvThreads / 32;
  const int m_base = (warp % kWarpsM) * 16 * P::kMi, n_base = (warp / kWarpsM) * (C / 2);
  const int e_w2 = load_f16(w2h, p.w2, C, C, red);
  const float a1 = *p.a1, a2 = *p.a2;
  // This lane's channels in the activation rows: 4 lane + 128 v, v < kVecsPerLane.
  float4 bias1[P::kVecsPerLane];
#pragma unroll
  for (int v = 0; v < P::kVecsPerLane; ++v) bias1[v] = __ldg(reinterpret_cast<const float4*>(p.b1 + 4 * lane + 128 * v));
  const float* __restrict__ hp = p.h;
  const float* __restrict__ xp = p.x;
  float* __restrict__ yp = p.y;
  const int64_t tiles = (p.rows + P::kRows - 1) / P::kRows;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t r0 = tile * P::kRows;
    // PReLU_a1(h + b1), each row scaled to fp16 by its own maximum (a row is one warp's: its
    // maximum is a shuffle reduction), the exponents kept for the epilogue.
    __syncthreads();  // hh and e_row are free (the last tile's GEMM and epilogue are done)
#pragma unroll
    for (int k0 = 0; k0 < P::kRowsPerWarp; k0 += P::kBatch) {
      float4 t[P::kBatch][P::kVecsPerLane];
#pragma unroll
      for (int u = 0; u < P::kBatch; ++u) {
        const int64_t row = r0 + warp + (k0 + u) * kWarps;
#pragma unroll
        for (int v = 0; v < P::kVecsPerLane; ++v)
          t[u][v] = row < p.rows ? __ldg(reinterpret_cast<const float4*>(hp + row * C + 4 * lane + 128 * v))
                                 : make_float4(0.f, 0.f, 0.f, 0.f);
      }
#pragma unroll
      for (int u = 0; u < P::kBatch; ++u) {
        const int r = warp + (k0 + u) * kWarps;
        float m = 0.f;
#pragma unroll
        for (int v = 0; v < P::kVecsPerLane; ++v) {
          float4& w = t[u][v];
          if (r0 + r < p.rows) {
            w.x = __fadd_rn(w.x, bias1[v].x);
            w.y = __fadd_rn(w.y, bias1[v].y);
            w.z = __fadd_rn(w.z, bias1[v].z);
            w.w = __fadd_rn(w.w, bias1[v].w);
            if (!(w.x > 0.f)) w.x = __fmul_rn(a1, w.x);
            if (!(w.y > 0.f)) w.y = __fmul_rn(a1, w.y);
            if (!(w.z > 0.f)) w.z = __fmul_rn(a1, w.z);
            if (!(w.w > 0.f)) w.w = __fmul_rn(a1, w.w);
          }
          m = fmaxf(m, fmaxf(fmaxf(fabsf(w.x), fabsf(w.y)), fmaxf(fabsf(w.z), fabsf(w.w))));
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        const int e = scale_exp(m);
        const float sc = pow2f(e);
        if (lane == 0) e_row[r] = e;
#pragma unroll
        for (int v = 0; v < P::kVecsPerLane; ++v)
          *reinterpret_cast<uint2*>(hh + hoff(r, C, 4 * lane + 128 * v)) =
              make_uint2(pack_half2(t[u][v].x * sc, t[u][v].y * sc), pack_half2(t[u][v].z * sc, t[u][v].w * sc));
      }
    }
    __syncthreads();
    float acc[P::kMi][P::kNj][4];
#pragma unroll
    for (int i = 0; i < P::kMi; ++i)
#pragma unroll
      for (int j = 0; j < P::kNj; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;
#pragma unroll
    for (int k0 = 0; k0 < C; k0 += 64) mma_k64h_pw(acc, hh, C, m_base, k0, w2h, C, n_base, k0);
    float un[P::kMi][2];
#pragma unroll
    for (int i = 0; i < P::kMi; ++i)
#pragma unroll
      for (int hh2 = 0; hh2 < 2; ++hh2) un[i][hh2] = pow2f(-(e_row[m_base + i * 16 + g + 8 * hh2] + e_w2));
#pragma unroll
    for (int i = 0; i < P::kMi; ++i)
#pragma unroll
      for (int j = 0; j < P::kNj; ++j) {
        const int col = n_base + j * 8 + 2 * q;
        const float2 b2 = __ldg(reinterpret_cast<const float2*>(p.b2 + col));
#pragma unroll
        for (int hh2 = 0; hh2 < 2; ++hh2) {
          const int64_t row = r0 + m_base + i * 16 + g + 8 * hh2;
          if (row >= p.rows) continue;
          const float2 res = __ldg(reinterpret_cast<const float2*>(xp + row * C + col));
          float v0 = __fadd_rn(acc[i][j][2 * hh2] * un[i][hh2], b2.x);
          float v1 = __fadd_rn(acc[i][j][2 * hh2 + 1] * un[i][hh2], b2.y);
          if (!(v0 > 0.f)) v0 = __fmul_rn(a2, v0);
          if (!(v1 > 0.f)) v1 = __fmul_rn(a2, v1);
          *reinterpret_cast<float2*>(yp + row * C + col) = make_float2(__fadd_rn(v0, res.x), __fadd_rn(v1, res.y));
        }
      }
  }
}

int sm_count();  // below

template <int C>
int launch_pointwise_typed(const PointwiseArgs& args, void* stream) {
  static const int optin = [] {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess ||
        cudaFuncSetAttribute(pointwise_unit_kernel<C>, cudaFuncAttributeMaxDynamicSharedMemorySize, v) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return v;
  }();
  const size_t smem = Pw<C>::smem_bytes();
  if (smem > static_cast<size_t>(optin)) return -1;
  const int64_t tiles = (args.rows + Pw<C>::kRows - 1) / Pw<C>::kRows;
  const unsigned blocks =
      static_cast<unsigned>(std::min<int64_t>(tiles, int64_t{Pw<C>::kBlocksPerSm} * sm_count()));
  pointwise_unit_kernel<C><<<blocks, kConvThreads, smem, static_cast<cudaStream_t>(stream)>>>(args);
  return static_cast<int>(cudaGetLastError());
}

// launch_out_conv64: 128 outputs per block of 128 threads; the block's 134 input rows go to
// shared memory with rows of 65 floats, so thread i reading row i + k hits bank (i + k + c) % 32.
constexpr int kOutTile = 128;
constexpr int kOutRow = kCh + 1;

__global__ void __launch_bounds__(kOutTile) out_conv64_kernel(const float* __restrict__ h, float* __restrict__ out,
                                                              const float* __restrict__ w, const float* __restrict__ b,
                                                              int64_t n) {
  __shared__ float hs[(kOutTile + kTaps - 1) * kOutRow];
  __shared__ float ws[kTaps * kCh];
  for (int i = threadIdx.x; i < kTaps * kCh; i += blockDim.x) ws[i] = w[i];
  const float bias = *b;
  const int64_t tiles = (n + kOutTile - 1) / kOutTile;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t t0 = tile * kOutTile;
    const int rows = static_cast<int>(n - t0 < kOutTile ? n - t0 : kOutTile) + kTaps - 1;
    __syncthreads();
    for (int i = threadIdx.x; i < rows * (kCh / 4); i += blockDim.x) {
      const int r = i >> 4, c = (i & 15) * 4;
      const float4 v = *reinterpret_cast<const float4*>(h + (t0 + r) * kCh + c);
      float* d = hs + r * kOutRow + c;
      d[0] = v.x;
      d[1] = v.y;
      d[2] = v.z;
      d[3] = v.w;
    }
    __syncthreads();
    const int t = threadIdx.x;
    if (t0 + t >= n) continue;
    float acc = 0.f;
    for (int k = 0; k < kTaps; ++k) {
      const float* hr = hs + (t + k) * kOutRow;
      const float* wk = ws + k * kCh;
#pragma unroll 16
      for (int c = 0; c < kCh; ++c) acc = fmaf(wk[c], hr[c], acc);
    }
    out[t0 + t] = acc + bias;
  }
}

int sm_count() {
  static const int n = [] {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      return 132;
    return v;
  }();
  return n;
}

}  // namespace

int launch_bias_prelu(int dtype, void* x, const void* bias, const void* slope, const void* residual, int64_t n,
                      int64_t channels, int64_t inner, void* stream) {
  if (n <= 0 || channels <= 0 || inner <= 0 || x == nullptr || slope == nullptr) return -1;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case 0: return launch_typed<float>(x, bias, slope, residual, n, channels, inner, s);
    case 1: return launch_typed<__nv_bfloat16>(x, bias, slope, residual, n, channels, inner, s);
    case 2: return launch_typed<__half>(x, bias, slope, residual, n, channels, inner, s);
    default: return -1;
  }
}

}  // namespace heartmula::codec::cuda

namespace heartmula::codec::cuda {

int launch_conv64(const float* x, float* y, const float* w1, const float* b1, const float* a1, const float* w2,
                  const float* b2, const float* a2, int64_t batch, int64_t t_in, int64_t t_out, int64_t t_begin,
                  int dilation, int rep, bool residual, void* stream) {
  if (!x || !y || !w1 || !b1 || !a1 || (w2 && (!b2 || !a2)) || batch <= 0 || t_in <= 0 || t_out <= 0 ||
      dilation < 1 || dilation > 64 || rep < 1 || rep > 64 || (rep & (rep - 1)) != 0 ||
      (residual && (!w2 || rep != 1 || t_begin != 0 || t_in != t_out)) ||
      (w2 && t_begin < 0) || !aligned(x, 16) || !aligned(y, 16) || !aligned(w1, 16) || (w2 && !aligned(w2, 16)))
    return -1;
  // Once: the kernels may use all the shared memory a block can opt into (0 if that failed).
  static const int optin = [] {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess ||
        cudaFuncSetAttribute(conv64_f16_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, v) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return v;
  }();
  static const int poly_optin = [] {
    const int v = static_cast<int>(poly_smem_bytes());
    if (cudaFuncSetAttribute(post64_poly_f16_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, v) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return v;
  }();
  const size_t smem = conv64h_smem_bytes((kTaps - 1) * dilation);
  if (smem > static_cast<size_t>(optin)) return -1;
  const int64_t tiles = batch * ((t_out + kTile - 1) / kTile);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(tiles, sm_count()));
  int rep_shift = 0;
  while ((1 << rep_shift) < rep) ++rep_shift;
  Conv64Args args{x, y, w1, b1, a1, w2, b2, a2, batch, t_in, t_out, t_begin, dilation, rep, rep_shift, residual};
  if (!w2 && batch == 1 && rep == 2 && dilation == 1 && poly_optin >= static_cast<int>(poly_smem_bytes())) {
    const int64_t poly_tiles = (t_out + (t_begin & 1) + kTile - 1) / kTile;
    const unsigned poly_blocks = static_cast<unsigned>(std::min<int64_t>(poly_tiles, 2 * int64_t{sm_count()}));
    post64_poly_f16_kernel<<<poly_blocks, kConvThreads, poly_smem_bytes(), static_cast<cudaStream_t>(stream)>>>(args);
  } else {
    conv64_f16_kernel<<<blocks, kConvThreads, smem, static_cast<cudaStream_t>(stream)>>>(args);
  }
  return static_cast<int>(cudaGetLastError());
}

int launch_pointwise_unit(int channels, const float* h, const float* x, float* y, const float* b1, const float* a1,
                          const float* w2, const float* b2, const float* a2, int64_t rows, void* stream) {
  if (rows <= 0 || !aligned(h, 16) || !aligned(x, 16) || !aligned(y, 16) || !aligned(w2, 16) || !aligned(b1, 16) ||
      !aligned(b2, 16))
    return -1;
  const PointwiseArgs args{h, x, y, b1, a1, w2, b2, a2, rows};
  return channels == 128 ? launch_pointwise_typed<128>(args, stream) : -1;
}

int launch_out_conv64(const float* h, float* out, const float* w, const float* b, int64_t n, void* stream) {
  if (!h || !out || !w || !b || n <= 0 || !aligned(h, 16)) return -1;
  const int64_t tiles = (n + kOutTile - 1) / kOutTile;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(tiles, static_cast<int64_t>(sm_count()) * 16));
  out_conv64_kernel<<<blocks, kOutTile, 0, static_cast<cudaStream_t>(stream)>>>(h, out, w, b, n);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace heartmula::codec::cuda
