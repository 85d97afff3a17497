// The PostProcessor's causal kernel-7 conv over the twice-repeated 64-channel input as a
// polyphase conv on tensor cores (fp16 operands): detail::launch_post64_poly, called by
// launch_conv64 (conv64.cu).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "codec/cuda/decoder_common.cuh"

namespace heartmula::codec::cuda::detail {

namespace {

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
    __syncthreads();                                // xh is free
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

}  // namespace

int launch_post64_poly(const Conv64Args& args, void* stream) {
  static const int optin = [] {
    const int v = static_cast<int>(poly_smem_bytes());
    if (cudaFuncSetAttribute(post64_poly_f16_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, v) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return v;
  }();
  const int sms = io::cuda::sm_count();
  if (args.w2 != nullptr || args.batch != 1 || args.rep != 2 || args.dilation != 1 ||
      optin < static_cast<int>(poly_smem_bytes()) || sms <= 0)
    return -1;
  const int64_t tiles = (args.t_out + (args.t_begin & 1) + kTile - 1) / kTile;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(tiles, 2 * int64_t{sms}));
  post64_poly_f16_kernel<<<blocks, kConvThreads, poly_smem_bytes(), static_cast<cudaStream_t>(stream)>>>(args);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace heartmula::codec::cuda::detail
