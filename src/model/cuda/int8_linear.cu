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

__device__ __forceinline__ void mma_bf16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Activations as the MMA takes them: two bf16 of row m (one 32-bit word), after the prologue.
// kPlain: x as stored. kNorm: T(T(x · rinv[m]) · w[k]) — the `out` of fused_kernels.cu's
// add_rms_norm_kernel, element for element.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  const __nv_bfloat16 a = __float2bfloat16_rn(lo), b = __float2bfloat16_rn(hi);
  return static_cast<uint32_t>(__bfloat16_as_ushort(a)) | (static_cast<uint32_t>(__bfloat16_as_ushort(b)) << 16);
}
__device__ __forceinline__ float lo_f(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float hi_f(uint32_t w) { return __uint_as_float(w & 0xFFFF0000u); }

__device__ __forceinline__ uint32_t norm_word(uint32_t xw, uint32_t sw, float r) {
  const float n0 = __bfloat162float(__float2bfloat16_rn(__fmul_rn(lo_f(xw), r)));
  const float n1 = __bfloat162float(__float2bfloat16_rn(__fmul_rn(hi_f(xw), r)));
  return pack_bf16x2(__fmul_rn(n0, lo_f(sw)), __fmul_rn(n1, hi_f(sw)));
}
__device__ __forceinline__ float silu_bf16(float a) {
  return __bfloat162float(__float2bfloat16_rn(a / (1.0f + expf(-a))));
}

// Activations: through L1 (blocks on one SM share them: at 16–32 rows they are a large part of
// the traffic), or with programmatic dependent launch through L2 only (ld.global.cg): they were
// written by a grid that may still have been running when this one started.
template <bool kPdl>
__device__ __forceinline__ uint4 load_act(const void* p) {
  if constexpr (!kPdl) return __ldg(static_cast<const uint4*>(p));
  uint4 v;
  asm volatile("ld.global.cg.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}
template <bool kPdl>
__device__ __forceinline__ uint16_t load_act_u16(const void* p) {
  if constexpr (!kPdl) return __ldg(static_cast<const unsigned short*>(p));
  uint16_t v;
  asm volatile("ld.global.cg.u16 %0, [%1];" : "=h"(v) : "l"(p));
  return v;
}

// Programmatic dependent launch (sm_90): the next grid may start (its blocks prefetch their
// weights) once every block of this one has started; griddepcontrol.wait blocks until the grids
// this one depends on have finished and their writes are visible. Both are no-ops without PDL.
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

struct KernelArgs {
  const __nv_bfloat16* x;  // [rows, x_stride]
  const int8_t* q;
  const float* scale;
  const __nv_bfloat16* norm_w;    // kNorm: [k]
  const __nv_bfloat16* residual;  // kResidual: [rows, n_out]
  __nv_bfloat16* out;
  int rows, n_out, k, x_stride;
  float eps;
};

constexpr int kPlain = 0, kNorm = 1;
constexpr int kNormVecs = 4;  // add_rms_norm_kernel's kMaxVecs: 8-element vectors per thread

// kTiles: n8 tiles of activation rows (rows ≤ 8 · kTiles); kUnroll: chunks whose loads are in
// flight together per warp; kPro: the prologue on the activations; kResidual: out = T(T(acc ·
// scale) + residual), the residual add of add_rms_norm_kernel. kGlu: the weight is [2 n_out, k]
// (gate rows, then up rows); the block's tile rows g are gate features n0 + g and rows g + 8 the up
// features of the same n0 + g, so one lane holds both halves of an output and the epilogue writes
// T(T(silu(T(gate))) · T(up)): silu_mul_kernel applied to the unfused product, bit for bit.
template <int kTiles, int kUnroll, int kPro, bool kResidual, bool kPdl, bool kGlu>
__global__ void __launch_bounds__(kThreads) int8_linear_kernel(const KernelArgs a) {
  static_assert(!(kGlu && kResidual), "GLU epilogue: no residual");
  __shared__ float red[kWarps * kTiles * 4 * 32];
  __shared__ float norm_part[kPro == kNorm ? kTiles * 8 * kWarps : 1];
  __shared__ float rinv[kPro == kNorm ? kTiles * 8 : 1];
  if constexpr (kPdl) pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int n0 = blockIdx.x * (kGlu ? 8 : 16), k = a.k, rows = a.rows;
  const bool va = n0 + g < a.n_out, vb = kGlu ? va : n0 + g + 8 < a.n_out;
  const int rb = kGlu ? a.n_out + n0 + g : n0 + g + 8;  // the tile's rows g + 8
  const int8_t* qa = a.q + static_cast<size_t>(va ? n0 + g : 0) * k + t * 16;
  const int8_t* qb = a.q + static_cast<size_t>(vb ? rb : 0) * k + t * 16;
  const __nv_bfloat16* xr[kTiles];
  bool xv[kTiles];
#pragma unroll
  for (int j = 0; j < kTiles; ++j) {
    xv[j] = g + 8 * j < rows;
    xr[j] = a.x + static_cast<size_t>(xv[j] ? g + 8 * j : 0) * a.x_stride + t * 16;
  }
  float acc[kTiles][4];
#pragma unroll
  for (int j = 0; j < kTiles; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

  const int chunks = k / kChunk;
  const uint4 zero = make_uint4(0, 0, 0, 0);
  uint4 wa[kUnroll], wb[kUnroll];
  auto load_weights = [&](int c0) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * kWarps;
      const bool in = c < chunks;
      const size_t off = static_cast<size_t>(in ? c : 0) * kChunk;
      wa[u] = in && va ? load_stream(qa + off) : zero;
      wb[u] = in && vb ? load_stream(qb + off) : zero;
    }
  };
  // The weights do not depend on the grid before: their first loads go out before the wait.
  load_weights(warp);
  if constexpr (kPdl) pdl_wait();

  if constexpr (kPro == kNorm) {
    // rinv[m] = rsqrt(mean(x[m]^2) + eps) with add_rms_norm_kernel's float operations in its
    // order (thread i sums its vectors i, i + 256, ... element by element; warps by xor shuffles).
    const int nvec = k / 8;
    for (int m = 0; m < rows; ++m) {
      float s = 0.f;
#pragma unroll
      for (int v = 0; v < kNormVecs; ++v) {
        const int i = threadIdx.x + v * kThreads;
        if (i < nvec) {
          const uint4 w = load_act<kPdl>(a.x + static_cast<size_t>(m) * a.x_stride + i * 8);
          const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float f0 = lo_f(ws[e]), f1 = hi_f(ws[e]);
            s = __fadd_rn(s, __fmul_rn(f0, f0));
            s = __fadd_rn(s, __fmul_rn(f1, f1));
          }
        }
      }
      for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      if (lane == 0) norm_part[m * kWarps + warp] = s;
    }
    __syncthreads();
    for (int m = warp; m < rows; m += kWarps) {
      float s = lane < kWarps ? norm_part[m * kWarps + lane] : 0.f;
      for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      if (lane == 0) rinv[m] = rsqrtf(__fadd_rn(__fdiv_rn(s, static_cast<float>(k)), a.eps));
    }
    __syncthreads();
  }
  float r[kTiles];
#pragma unroll
  for (int j = 0; j < kTiles; ++j) r[j] = (kPro == kNorm && xv[j]) ? rinv[g + 8 * j] : 0.f;

  for (int c0 = warp, it = 0; c0 < chunks; c0 += kWarps * kUnroll, ++it) {
    if (it > 0) load_weights(c0);
    uint4 xs[kUnroll][kTiles][2];
    uint4 ws[kPro == kPlain ? 1 : kUnroll][2];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * kWarps;
      const bool in = c < chunks;
      const size_t off = static_cast<size_t>(in ? c : 0) * kChunk;
#pragma unroll
      for (int j = 0; j < kTiles; ++j) {
        const __nv_bfloat16* p = xr[j] + off;
        xs[u][j][0] = in && xv[j] ? load_act<kPdl>(p) : zero;
        xs[u][j][1] = in && xv[j] ? load_act<kPdl>(p + 8) : zero;
      }
      if constexpr (kPro == kNorm) {
        const uint4* sp = reinterpret_cast<const uint4*>(a.norm_w + off + t * 16);
        ws[u][0] = in ? __ldg(sp) : zero;
        ws[u][1] = in ? __ldg(sp + 1) : zero;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (c0 + u * kWarps >= chunks) break;
      if constexpr (kPro != kPlain) {
#pragma unroll
        for (int j = 0; j < kTiles; ++j)
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            uint4& xw = xs[u][j][h];
            const uint4& sw = ws[u][h];
            xw = make_uint4(norm_word(xw.x, sw.x, r[j]), norm_word(xw.y, sw.y, r[j]), norm_word(xw.z, sw.z, r[j]),
                            norm_word(xw.w, sw.w, r[j]));
          }
      }
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
    for (int q4 = 0; q4 < 4; ++q4) red[((warp * kTiles + j) * 4 + q4) * 32 + lane] = acc[j][q4];
  __syncthreads();
  if constexpr (kGlu) {
    // One thread per (row m, feature n0 + l/4): c0/c1 (gate) and c2/c3 (up) of the same lane.
    for (int idx = threadIdx.x; idx < kTiles * 2 * 32; idx += kThreads) {
      const int l = idx % 32, q2 = (idx / 32) % 2, j = idx / 64;
      const int ig = (j * 4 + q2) * 32 + l, iu = ig + 2 * 32;
      float sg = 0.f, su = 0.f;  // the same order as the plain epilogue's sum
#pragma unroll
      for (int w = 0; w < kWarps; ++w) sg += red[w * kTiles * 4 * 32 + ig];
#pragma unroll
      for (int w = 0; w < kWarps; ++w) su += red[w * kTiles * 4 * 32 + iu];
      const int n = n0 + l / 4, m = 8 * j + 2 * (l % 4) + q2;
      if (n < a.n_out && m < rows) {
        const float gv = __bfloat162float(__float2bfloat16_rn(sg * a.scale[n]));
        const float uv = __bfloat162float(__float2bfloat16_rn(su * a.scale[a.n_out + n]));
        a.out[static_cast<size_t>(m) * a.n_out + n] = __float2bfloat16_rn(__fmul_rn(silu_bf16(gv), uv));
      }
    }
  } else {
    for (int idx = threadIdx.x; idx < kTiles * 4 * 32; idx += kThreads) {
      float sum = 0.f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) sum += red[w * kTiles * 4 * 32 + idx];
      const int l = idx % 32, q4 = (idx / 32) % 4, j = idx / 128;
      // c0, c1: row g, columns 2t, 2t+1; c2, c3: row g+8, the same columns.
      const int n = n0 + l / 4 + (q4 >= 2 ? 8 : 0);
      const int m = 8 * j + 2 * (l % 4) + (q4 & 1);
      if (n < a.n_out && m < rows) {
        const size_t o = static_cast<size_t>(m) * a.n_out + n;
        __nv_bfloat16 y = __float2bfloat16_rn(sum * a.scale[n]);
        if constexpr (kResidual)
          y = __float2bfloat16_rn(__fadd_rn(
              __uint_as_float(static_cast<uint32_t>(load_act_u16<kPdl>(a.residual + o)) << 16), __bfloat162float(y)));
        a.out[o] = y;
      }
    }
  }  // kGlu
}

template <int kTiles, int kUnroll, int kPro, bool kResidual, bool kPdl, bool kGlu>
int launch(const KernelArgs& a, cudaStream_t stream) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(static_cast<unsigned>(kGlu ? (a.n_out + 7) / 8 : (a.n_out + 15) / 16));
  config.blockDim = dim3(kThreads);
  config.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attr;
  config.numAttrs = kPdl ? 1 : 0;
  return static_cast<int>(
      cudaLaunchKernelEx(&config, int8_linear_kernel<kTiles, kUnroll, kPro, kResidual, kPdl, kGlu>, a));
}

template <int kPro, bool kResidual, bool kPdl, bool kGlu = false>
int launch_rows(const KernelArgs& a, cudaStream_t stream) {
  const int m = a.rows;
  return m <= 8    ? launch<1, 4, kPro, kResidual, kPdl, kGlu>(a, stream)
         : m <= 16 ? launch<2, 2, kPro, kResidual, kPdl, kGlu>(a, stream)
         : m <= 24 ? launch<3, 2, kPro, kResidual, kPdl, kGlu>(a, stream)
                   : launch<4, 2, kPro, kResidual, kPdl, kGlu>(a, stream);
}

template <bool kPdl>
int launch_kind(const KernelArgs& a, bool norm, bool residual, bool glu, cudaStream_t stream) {
  if (glu)
    return norm ? launch_rows<kNorm, false, kPdl, true>(a, stream) : launch_rows<kPlain, false, kPdl, true>(a, stream);
  return norm       ? launch_rows<kNorm, false, kPdl>(a, stream)
         : residual ? launch_rows<kPlain, true, kPdl>(a, stream)
                    : launch_rows<kPlain, false, kPdl>(a, stream);
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

int launch_int8_linear(const Int8LinearArgs& args, void* stream_ptr) {
  const int64_t rows = args.rows, n_out = args.n_out, k = args.k;
  const bool norm = args.prologue == Int8Prologue::RmsNorm;
  const bool residual = args.residual != nullptr, glu = args.glu;
  // The fused combinations the frame step has: norm -> qkv / w13, attention -> wo + residual,
  // silu·mul -> w2 + residual, and the plain product.
  if (rows < 1 || rows > kInt8LinearMaxRows || n_out < 1 || k < kChunk || k % kChunk != 0 || n_out > (1 << 30) ||
      k > (1 << 24) || !aligned16(args.x) || !aligned16(args.q) || !aligned16(args.out) ||
      (norm && (residual || !args.norm_weight || !aligned16(args.norm_weight) || k / 8 > kThreads * kNormVecs)) ||
      (residual && !aligned16(args.residual)) || (glu && residual) || (glu && n_out > (1 << 29)))
    return -1;
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  const int64_t x_stride = k;
  for (int64_t r0 = 0; r0 < rows; r0 += 32) {  // 32 rows per pass over the weights
    KernelArgs a;
    a.x = static_cast<const __nv_bfloat16*>(args.x) + r0 * x_stride;
    a.q = args.q;
    a.scale = args.scale;
    a.norm_w = static_cast<const __nv_bfloat16*>(args.norm_weight);
    a.residual = residual ? static_cast<const __nv_bfloat16*>(args.residual) + r0 * n_out : nullptr;
    a.out = static_cast<__nv_bfloat16*>(args.out) + r0 * n_out;
    a.rows = static_cast<int>(std::min<int64_t>(32, rows - r0));
    a.n_out = static_cast<int>(n_out);
    a.k = static_cast<int>(k);
    a.x_stride = static_cast<int>(x_stride);
    a.eps = args.eps;
    const int err = args.pdl ? launch_kind<true>(a, norm, residual, glu, stream)
                             : launch_kind<false>(a, norm, residual, glu, stream);
    if (err != 0) return err;
  }
  return 0;
}

int launch_int8_linear(const void* x, const int8_t* q, const float* scale, void* out, int64_t rows, int64_t n_out,
                       int64_t k, void* stream) {
  Int8LinearArgs a;
  a.x = x;
  a.q = q;
  a.scale = scale;
  a.out = out;
  a.rows = rows;
  a.n_out = n_out;
  a.k = k;
  return launch_int8_linear(a, stream);
}

}  // namespace heartmula::model::cuda
