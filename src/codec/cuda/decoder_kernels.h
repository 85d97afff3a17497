// Plain-pointer launchers of the scalar decoder's kernels (nvcc-compiled without LibTorch
// headers; codec/cuda/fused_ops_cuda.cpp checks the tensors and calls them), one .cu each:
//   launch_bias_prelu      bias_prelu.cu      the fused bias + PReLU (+ residual) epilogue
//   launch_conv64          conv64.cu          a 64-channel residual unit / the PostProcessor's
//                                             conv (its rep-2 form: post64_poly.cu)
//   launch_pointwise_unit  pointwise_unit.cu  the pointwise half of a 128-channel residual unit
//   launch_out_conv64      out_conv64.cu      the output convolution, 64 channels to one
// (decoder_common.cuh: what the tensor-core kernels share.) dtype: 0 float32, 1 bfloat16,
// 2 float16 (io/cuda/dtype_code.h). Each launches on `stream` and returns a cudaError_t value,
// or -1 when the arguments do not suit (the caller then runs the composite ATen code).
#pragma once

#include <cstdint>

namespace heartmula::codec::cuda {

// In place on x (n elements of `dtype`, dense in memory), element i of channel
// c = (i / inner) % channels (inner 1: channels innermost, as channels-last [1, C, 1, L]; inner L:
// [B, C, L] contiguous):
//   v = T(x + bias[c])            (skipped when bias is null)
//   v = v > 0 ? v : T(slope * v)  (slope: one element on the device)
//   x = T(v + residual[i])        (skipped when residual is null; same layout as x)
// with the composite's roundings (float math, one rounding to T per step).
int launch_bias_prelu(int dtype, void* x, const void* bias, const void* slope, const void* residual, int64_t n,
                      int64_t channels, int64_t inner, void* stream);

// The scalar decoder's 64-channel stage on tensor cores with float32 accumulation: fp16
// operands with power-of-two scales (m16n8k16): the weights scaled once per block, a tile's
// input rows and its hidden activations each by their maximum into [2^14, 2^15), so every value
// within 2^-28 of its tile's maximum keeps TF32's 11-bit significand; the products accumulate in
// float32 and are scaled back exactly. All float32,
// channels-last rows: x [batch][t_in][64], y [batch][t_out][64] (row r of y is output step
// t_begin + r). Per output step t, with in[s] = x[floor(s / rep)] for 0 <= s < t_in * rep
// and 0 elsewhere (causal zero padding; rep: nearest upsampling by repetition):
//   h[t] = PReLU_a1(b1 + sum_{k<7} W1[:, :, k] in[t - (6 - k) * dilation])
//   w2 == nullptr: y[t] = t < 0 ? 0 : h[t]                      (the PostProcessor's conv)
//   otherwise:     y[t] = PReLU_a2(b2 + W2 h[t]) (+ x[t] when residual)  (a ResidualUnit)
// w1: [64 out][7 taps][64 in] (a channels-last [64, 64, 1, 7] weight's memory), w2: [64][64];
// b1, b2 [64]; a1, a2: one slope each, on the device. rep: a power of two; dilation: up to 11
// (the tile's rows and the weights fill the shared memory). y must not overlap x. Returns a
// cudaError_t value, or -1 when the arguments do not suit (the caller runs the composite).
int launch_conv64(const float* x, float* y, const float* w1, const float* b1, const float* a1, const float* w2,
                  const float* b2, const float* a2, int64_t batch, int64_t t_in, int64_t t_out, int64_t t_begin,
                  int dilation, int rep, bool residual, void* stream);
// The pointwise half of a residual unit of `channels` = 128 (else -1): per row r < rows
// (channels-last rows), y[r] = PReLU_a2(b2 + W2 PReLU_a1(h[r] + b1)) + x[r], h the unit's first
// convolution without its bias; w2 [channels out][channels in], b1, b2 [channels], a1, a2 one
// slope each (on the device). fp16 operands with power-of-two scales (W2 by its maximum, each row
// of activations by its own), float32 accumulation, the bias / PReLU / residual steps in float32
// as the composite rounds them. y must not overlap h or x. A cudaError_t value, or -1 when the
// arguments do not suit.
int launch_pointwise_unit(int channels, const float* h, const float* x, float* y, const float* b1, const float* a1,
                          const float* w2, const float* b2, const float* a2, int64_t rows, void* stream);

// The decoder's output convolution from 64 channels to one, kernel 7, causal, dilation 1, in
// exact float32: out[t] = b + sum_{k<7} sum_c w[k][c] h[t + k][c] for t < n, h [n + 6][64]
// channels-last rows (its first 6 rows the left context), w [7][64] (a channels-last
// [1, 64, 1, 7] weight's memory), b one value on the device. out: n floats.
int launch_out_conv64(const float* h, float* out, const float* w, const float* b, int64_t n, void* stream);

}  // namespace heartmula::codec::cuda
