// The decoder half of ScalarModel (heartcodec/models/sq_codec.py, `decode`):
//   x = round(9x) / 9
//   decoder.0  weight-norm Conv1d(latent_hidden -> C0, delay_kernel, centred)
//   decoder.1..n ResDecoderBlock: causal transposed-conv upsampling (weight norm), then 5
//              ResidualUnits (dilations 1,3,5,7,9): x + PReLU(conv2(PReLU(conv1(x))))
//   decoder.n+1 PostProcessor (when num_samples > 1): repeat each step num_samples times,
//              causal Conv1d + PReLU
//   decoder.n+2 weight-norm causal Conv1d(init_channel -> 1)
// Weight norm is folded at load. [B, latent_hidden, T] -> [B, 1, T * samples_per_latent].
//
// Memory (issue #7): the rows of the batch (the two stereo channels) are decoded one after
// another, each layer's intermediate is released as soon as the next exists, and the
// PostProcessor + output conv run over chunks of post_chunk_samples output samples. A row's
// working set is then ~3 tensors of its current stage instead of ~6 for both rows (one window,
// real size, float32: 2.9 GB of live tensors before, 0.74 GB after on the CPU; on a caching GPU
// allocator, whose per-stage blocks cannot serve the next, larger stage, ~8 GB reserved
// before, ~1.3 GB after). Each gives the numbers of one pass, bit for bit on the CPU
// (test_codec_memory): rows are independent, and each PostProcessor chunk recomputes its left
// context from the input (zeros only at the start). The residual units are not chunked in
// time: LibTorch's CPU 1x1 convolution rounds differently for a different length.
//
// CUDA layout (issue #7, docs/codec.md): when the weights were bound onto CUDA with
// cuda_channels_last() on (layers.h; HEARTMULA_CODEC_NCL=1 turns it off), every activation is a
// channels-last [1, C, 1, T] tensor (time-major, channels innermost) and the convolutions run as
// 2-D ones on the channels-last weights, so cuDNN changes no layout (the transposed convolutions
// run as two GEMMs on a [T, C] view, layers.h); the bias, PReLU and residual add after a
// convolution run as one fused kernel in place (fused_bias_prelu_). With the decoder in TF32,
// the 64-channel stage (its residual units, the PostProcessor and the output conv) runs as
// tensor-core kernels of our own instead (fused_residual_unit64 / fused_post_and_out64), and a
// 128-channel unit's steps after its first convolution run as one (fused_pointwise_unit). The same
// working set: rows one at a time, early frees, chunked last stage (on CUDA in chunks of at least
// kCudaPostChunk samples). Elsewhere: [B, C, T] as above.
#pragma once

#include <ATen/core/Tensor.h>
#include <string>
#include <vector>

#include "codec/config.h"
#include "codec/layers.h"

namespace heartmula::codec {

struct ResidualUnit {
  Conv1d conv1, conv2;
  PReLU activation1, activation2;
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t channels, int64_t kernel, int64_t dilation,
               c10::ScalarType dtype);
  at::Tensor operator()(const at::Tensor& x) const;  // x + PReLU(conv2(PReLU(conv1(x))))
  at::Tensor forward_cl(const at::Tensor& x) const;  // the same, channels-last [1, C, 1, T]
  void list_weights(const std::string& prefix, NamedWeights& out) const;
};

struct ResDecoderBlock {
  CausalConvTranspose1d up_conv;  // key "<prefix>.up_conv.layer"
  std::vector<ResidualUnit> convs;
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, int64_t stride,
               int64_t res_kernel, c10::ScalarType dtype, c10::ScalarType up_dtype);
  // Takes x by value: the caller std::move()s it in, so it is freed once upsampled.
  at::Tensor operator()(at::Tensor x) const;
  at::Tensor forward_cl(at::Tensor x) const;  // channels-last [1, in, 1, T] -> [1, out, 1, T*stride]
  void list_weights(const std::string& prefix, NamedWeights& out) const;
};

struct ScalarDecoder {
  Conv1d pre;                           // decoder.0
  std::vector<ResDecoderBlock> blocks;  // decoder.1 .. decoder.n
  bool has_post = false;
  int64_t num_samples = 1;
  Conv1d post_conv;       // decoder.<n+1>.conv
  PReLU post_activation;  // decoder.<n+1>.activation
  Conv1d out;             // decoder.<last>

  // prefix: "scalar_model.decoder". `up_dtype`: the dtype transposed convolutions run in.
  void declare(io::WeightBinder& b, const std::string& prefix, const HeartCodecConfig& cfg, c10::ScalarType dtype,
               c10::ScalarType up_dtype);
  // Output samples per PostProcessor chunk (2^17: 2.7 s at 48 kHz; ~34 MB per fp32 tensor of
  // 64 channels instead of ~366 MB for a whole window's row).
  int64_t post_chunk_samples = int64_t(1) << 17;
  static constexpr int64_t kCudaPostChunk = int64_t(1) << 19;  // the least on CUDA (post_and_out)

  // latent [B, latent_hidden, T] -> audio [B, 1, T * samples_per_latent]
  at::Tensor decode(const at::Tensor& latent) const;
  void list_weights(const std::string& prefix, NamedWeights& list) const;
  // True when the weights were bound channels-last (CUDA; see the top of this file).
  bool channels_last() const { return pre.weight4.defined(); }

 private:
  at::Tensor decode_row(const at::Tensor& latent) const;  // [1, latent_hidden, T] -> [1, 1, N]
  // PostProcessor (if any) and the output conv over x [1, init_channel, T'] -> [1, 1, N].
  at::Tensor post_and_out(const at::Tensor& x) const;
  // Output samples [a, b) of post_and_out (a > 0: context recomputed from x).
  at::Tensor post_and_out_chunk(const at::Tensor& x, int64_t a, int64_t b) const;
  // The same for channels-last x [1, init_channel, 1, T'] (output [1, 1, b - a] as above).
  at::Tensor post_and_out_chunk_cl(const at::Tensor& x, int64_t a, int64_t b) const;
};

}  // namespace heartmula::codec
