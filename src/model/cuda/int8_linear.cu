// The frame loop's 8-bit weight GEMM: out[M, N] = x[M, K] · (q[N, K] · scale[N])ᵀ for the few
// rows a frame has (M ≤ 32), streaming the int8 weights once at close to the memory bandwidth.
//
// A block owns 16 output features (one m16n8k16 tile's rows) and splits K among its 8 warps in
// chunks of 64. A lane (group g = lane/4, t = lane%4) loads 16 weight bytes of rows g and g+8
// (k = chunk·64 + 16t …+15) with one 16-byte load each, straight into registers (no shared-memory
// round trip), and 16 activations of row m = g (+8j) from L2. The MMA's k order inside a chunk is a
// permutation of the physical one: step s takes the lane's bytes 4s…4s+3 as its k slots
// (2t, 2t+1, 2t+8, 2t+9), so both operands come out of the loads without shuffles; the dot product
// is the same sum. int8 → bf16 is exact (|q| ≤ 127 has 8 significant bits): the byte goes into a
// float's mantissa above 2^23 (PRMT), one FADD removes the bias, and the float's upper half is the
// bf16 (PRMT). Accumulation in fp32 (tensor cores), one sum over the warps in shared memory, the
// row scale applied once, one rounding to bf16.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "model/cuda/int8_linear.h"

namespace heartmula::model::cuda {

namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kChunk = 64;  // k per warp step: 4 lanes × 16 bytes of one row

__device__ __forceinline__ uint4 load_stream(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// Two signed bytes of `biased` (= word ^ 0x80808080), bytes `lo` and `lo + 1`, as bf16x2.
template <int kLo>
__device__ __forceinline__ uint32_t bytes_to_bf16x2(uint32_t biased) {
  constexpr uint32_t kSel0 = 0x7440u | kLo, kSel1 = 0x7440u | (kLo + 1);
  const float f0 = __uint_as_float(__byte_perm(biased, 0x4B000000u, kSel0)) - 8388736.0f;  // 2^23 + 128
  const float f1 = __uint_as_float(__byte_perm(biased, 0x4B000000u, kSel1)) - 8388736.0f;
  return __byte_perm(__float_as_uint(f0), __float_as_uint(f1), 0x7632);
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// kTiles: n8 tiles of activation rows (rows ≤ 8 · kTiles); kUnroll: chunks whose loads are in
// flight together per warp.
template <int kTiles, int kUnroll>
__global__ void __launch_bounds__(kThreads) int8_linear_kernel(const __nv_bfloat16* __restrict__ x,
                                                               const int8_t* __restrict__ q,
                                                               const float* __restrict__ scale,
                                                               __nv_bfloat16* __restrict__ out, int rows, int n_out,
                                                               int k) {
  __shared__ float red[kWarps * kTiles * 4 * 32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int n0 = blockIdx.x * 16;
  const bool va = n0 + g < n_out, vb = n0 + g + 8 < n_out;
  const int8_t* qa = q + static_cast<size_t>(va ? n0 + g : 0) * k + t * 16;
  const int8_t* qb = q + static_cast<size_t>(vb ? n0 + g + 8 : 0) * k + t * 16;
  const __nv_bfloat16* xr[kTiles];
  bool xv[kTiles];
#pragma unroll
  for (int j = 0; j < kTiles; ++j) {
    xv[j] = g + 8 * j < rows;
    xr[j] = x + static_cast<size_t>(xv[j] ? g + 8 * j : 0) * k + t * 16;
  }
  float acc[kTiles][4];
#pragma unroll
  for (int j = 0; j < kTiles; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

  const int chunks = k / kChunk;
  const uint4 zero = make_uint4(0, 0, 0, 0);
  for (int c0 = warp; c0 < chunks; c0 += kWarps * kUnroll) {
    uint4 wa[kUnroll], wb[kUnroll], xs[kUnroll][kTiles][2];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * kWarps;
      const bool in = c < chunks;
      const size_t off = static_cast<size_t>(in ? c : 0) * kChunk;
      wa[u] = in && va ? load_stream(qa + off) : zero;
      wb[u] = in && vb ? load_stream(qb + off) : zero;
#pragma unroll
      for (int j = 0; j < kTiles; ++j) {
        const uint4* p = reinterpret_cast<const uint4*>(xr[j] + off);
        xs[u][j][0] = in && xv[j] ? __ldg(p) : zero;
        xs[u][j][1] = in && xv[j] ? __ldg(p + 1) : zero;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (c0 + u * kWarps >= chunks) break;
      const uint32_t wa_w[4] = {wa[u].x, wa[u].y, wa[u].z, wa[u].w};
      const uint32_t wb_w[4] = {wb[u].x, wb[u].y, wb[u].z, wb[u].w};
#pragma unroll
      for (int s = 0; s < 4; ++s) {
        const uint32_t ua = wa_w[s] ^ 0x80808080u, ub = wb_w[s] ^ 0x80808080u;
        const uint32_t a0 = bytes_to_bf16x2<0>(ua), a1 = bytes_to_bf16x2<0>(ub);
        const uint32_t a2 = bytes_to_bf16x2<2>(ua), a3 = bytes_to_bf16x2<2>(ub);
#pragma unroll
        for (int j = 0; j < kTiles; ++j) {
          const uint4& xw = xs[u][j][s / 2];
          const uint32_t b0 = (s % 2 == 0) ? xw.x : xw.z;
          const uint32_t b1 = (s % 2 == 0) ? xw.y : xw.w;
          mma_bf16(acc[j], a0, a1, a2, a3, b0, b1);
        }
      }
    }
  }

#pragma unroll
  for (int j = 0; j < kTiles; ++j)
#pragma unroll
    for (int r = 0; r < 4; ++r) red[((warp * kTiles + j) * 4 + r) * 32 + lane] = acc[j][r];
  __syncthreads();
  for (int idx = threadIdx.x; idx < kTiles * 4 * 32; idx += kThreads) {
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum += red[w * kTiles * 4 * 32 + idx];
    const int l = idx % 32, r = (idx / 32) % 4, j = idx / 128;
    // c0, c1: row g, columns 2t, 2t+1; c2, c3: row g+8, the same columns.
    const int n = n0 + l / 4 + (r >= 2 ? 8 : 0);
    const int m = 8 * j + 2 * (l % 4) + (r & 1);
    if (n < n_out && m < rows) out[static_cast<size_t>(m) * n_out + n] = __float2bfloat16_rn(sum * scale[n]);
  }
}

template <int kTiles, int kUnroll>
int launch(const void* x, const int8_t* q, const float* scale, void* out, int64_t rows, int64_t n_out, int64_t k,
           cudaStream_t stream) {
  const unsigned blocks = static_cast<unsigned>((n_out + 15) / 16);
  int8_linear_kernel<kTiles, kUnroll><<<blocks, kThreads, 0, stream>>>(
      static_cast<const __nv_bfloat16*>(x), q, scale, static_cast<__nv_bfloat16*>(out), static_cast<int>(rows),
      static_cast<int>(n_out), static_cast<int>(k));
  return static_cast<int>(cudaGetLastError());
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

int launch_int8_linear(const void* x, const int8_t* q, const float* scale, void* out, int64_t rows, int64_t n_out,
                       int64_t k, void* stream_ptr) {
  if (rows < 1 || rows > kInt8LinearMaxRows || n_out < 1 || k < kChunk || k % kChunk != 0 || n_out > (1 << 30) ||
      k > (1 << 24) || !aligned16(x) || !aligned16(q) || !aligned16(out))
    return -1;
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  for (int64_t r0 = 0; r0 < rows; r0 += 32) {  // 32 rows per pass over the weights
    const int64_t m = std::min<int64_t>(32, rows - r0);
    const void* xr = static_cast<const __nv_bfloat16*>(x) + r0 * k;
    void* outr = static_cast<__nv_bfloat16*>(out) + r0 * n_out;
    const int err = m <= 8    ? launch<1, 4>(xr, q, scale, outr, m, n_out, k, stream)
                    : m <= 16 ? launch<2, 2>(xr, q, scale, outr, m, n_out, k, stream)
                    : m <= 24 ? launch<3, 2>(xr, q, scale, outr, m, n_out, k, stream)
                              : launch<4, 2>(xr, q, scale, outr, m, n_out, k, stream);
    if (err != 0) return err;
  }
  return 0;
}

}  // namespace heartmula::model::cuda
