// The scalar decoder's 64-channel stage, one residual unit (or the PostProcessor's 7-tap conv)
// per launch on tensor cores with fp16 operands (launch_conv64, decoder_kernels.h); the
// PostProcessor's rep-2 form goes to the polyphase kernel of post64_poly.cu.
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
  __half* w1h = reinterpret_cast<__half*>(smem + 64);             // [64][448]
  __half* w2h = w1h + kCh * kK1;                                  // [64][64]
  float* bufs = reinterpret_cast<float*>(w2h + kCh * kCh);        // 2 x [rows][64] floats
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

}  // namespace

int launch_conv64(const float* x, float* y, const float* w1, const float* b1, const float* a1, const float* w2,
                  const float* b2, const float* a2, int64_t batch, int64_t t_in, int64_t t_out, int64_t t_begin,
                  int dilation, int rep, bool residual, void* stream) {
  if (!x || !y || !w1 || !b1 || !a1 || (w2 && (!b2 || !a2)) || batch <= 0 || t_in <= 0 || t_out <= 0 || dilation < 1 ||
      dilation > 64 || rep < 1 || rep > 64 || (rep & (rep - 1)) != 0 ||
      (residual && (!w2 || rep != 1 || t_begin != 0 || t_in != t_out)) || (w2 && t_begin < 0) || !aligned(x, 16) ||
      !aligned(y, 16) || !aligned(w1, 16) || (w2 && !aligned(w2, 16)))
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
  const size_t smem = conv64h_smem_bytes((kTaps - 1) * dilation);
  if (smem > static_cast<size_t>(optin)) return -1;
  const int sms = io::cuda::sm_count();
  if (sms <= 0) return -1;
  const int64_t tiles = batch * ((t_out + kTile - 1) / kTile);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(tiles, sms));
  int rep_shift = 0;
  while ((1 << rep_shift) < rep) ++rep_shift;
  Conv64Args args{x, y, w1, b1, a1, w2, b2, a2, batch, t_in, t_out, t_begin, dilation, rep, rep_shift, residual};
  if (!w2 && batch == 1 && rep == 2 && dilation == 1) {  // the PostProcessor: polyphase (post64_poly.cu)
    const int err = launch_post64_poly(args, stream);
    if (err != -1) return err;
  }
  conv64_f16_kernel<<<blocks, kConvThreads, smem, static_cast<cudaStream_t>(stream)>>>(args);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace heartmula::codec::cuda
