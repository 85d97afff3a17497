// The pointwise half of the scalar decoder's 128-channel residual units in one kernel on
// tensor cores (launch_pointwise_unit, decoder_kernels.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "codec/cuda/decoder_kernels.h"
#include "codec/cuda/decoder_common.cuh"

namespace heartmula::codec::cuda {

namespace {

using namespace detail;

// ---- The pointwise half of a 128/256-channel residual unit (launch_pointwise_unit) --------------
// y = PReLU_a2(b2 + W2 PReLU_a1(h + b1)) + x per step, h the unit's first convolution without its
// bias (cuDNN's). fp16 operands with power-of-two scales as in conv64_f16_kernel: W2 once per
// block, each row of activations by its own maximum (a GEMM row's scale is undone in its row).
// Persistent blocks over tiles of Pw<C>::kRows = 64 steps x C channels; 8 warps as 4 (rows) x 2
// (columns): 16 x 64 outputs each for C = 128 (three blocks per SM, so that one block's loads
// overlap another's MMAs and stores), 16 x 128 for C = 256 (one: its W2 takes 128 KB).
template <int C>
struct Pw {
  static constexpr int kMi = 1;                     // m16 tiles per warp
  static constexpr int kRows = 16 * kMi * kWarpsM;  // steps per tile
  static constexpr int kNj = C / 2 / 8;             // n8 tiles per warp
  static constexpr int kVecsPerLane = C / 128;      // float4s of a row per lane
  static constexpr int kRowsPerWarp = kRows / (kConvThreads / 32);
  static constexpr int kBatch = 8 / kVecsPerLane;  // rows whose loads are in flight at once
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
  __half* w2h = reinterpret_cast<__half*>(smem + 64);      // [C][C]
  __half* hh = w2h + C * C;                                // [kRows][C]
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
  for (int v = 0; v < P::kVecsPerLane; ++v)
    bias1[v] = __ldg(reinterpret_cast<const float4*>(p.b1 + 4 * lane + 128 * v));
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
  const int sms = io::cuda::sm_count();
  const size_t smem = Pw<C>::smem_bytes();
  if (sms <= 0) return -1;
  if (smem > static_cast<size_t>(optin)) return -1;
  const int64_t tiles = (args.rows + Pw<C>::kRows - 1) / Pw<C>::kRows;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(tiles, int64_t{Pw<C>::kBlocksPerSm} * sms));
  pointwise_unit_kernel<C><<<blocks, kConvThreads, smem, static_cast<cudaStream_t>(stream)>>>(args);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int launch_pointwise_unit(int channels, const float* h, const float* x, float* y, const float* b1, const float* a1,
                          const float* w2, const float* b2, const float* a2, int64_t rows, void* stream) {
  if (rows <= 0 || !aligned(h, 16) || !aligned(x, 16) || !aligned(y, 16) || !aligned(w2, 16) || !aligned(b1, 16) ||
      !aligned(b2, 16))
    return -1;
  const PointwiseArgs args{h, x, y, b1, a1, w2, b2, a2, rows};
  return channels == 128 ? launch_pointwise_typed<128>(args, stream) : -1;
}

}  // namespace heartmula::codec::cuda
