// The scalar decoder's output convolution, 64 channels to one, in exact float32
// (launch_out_conv64, decoder_kernels.h).
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

// launch_out_conv64: 128 outputs per block of 128 threads; the block's 134 input rows go to
// shared memory with rows of 65 floats, so thread i reading row i + k hits bank (i + k + c) % 32.
constexpr int kOutTile = 128;
constexpr int kOutRow = kCh + 1;

__global__ void __launch_bounds__(kOutTile)
    out_conv64_kernel(const float* __restrict__ h, float* __restrict__ out, const float* __restrict__ w,
                      const float* __restrict__ b, int64_t n) {
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

}  // namespace

int launch_out_conv64(const float* h, float* out, const float* w, const float* b, int64_t n, void* stream) {
  const int sms = io::cuda::sm_count();
  if (!h || !out || !w || !b || n <= 0 || !aligned(h, 16) || sms <= 0) return -1;
  const int64_t tiles = (n + kOutTile - 1) / kOutTile;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(tiles, int64_t{sms} * 16));
  out_conv64_kernel<<<blocks, kOutTile, 0, static_cast<cudaStream_t>(stream)>>>(h, out, w, b, n);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace heartmula::codec::cuda
