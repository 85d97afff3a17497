// The decoder half of ScalarModel (heartcodec/models/sq_codec.py, `decode`):
//   x = round(9x) / 9
//   decoder.0  weight-norm Conv1d(latent_hidden -> C0, delay_kernel, centred)
//   decoder.1..n ResDecoderBlock: causal transposed-conv upsampling (weight norm), then 5
//              ResidualUnits (dilations 1,3,5,7,9): x + PReLU(conv2(PReLU(conv1(x))))
//   decoder.n+1 PostProcessor (when num_samples > 1): repeat each step num_samples times,
//              causal Conv1d + PReLU
//   decoder.n+2 weight-norm causal Conv1d(init_channel -> 1)
// Weight norm is folded at load. [B, latent_hidden, T] -> [B, 1, T * samples_per_latent].
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
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t channels, int64_t kernel,
               int64_t dilation, c10::ScalarType dtype);
  at::Tensor operator()(const at::Tensor& x) const;
};

struct ResDecoderBlock {
  CausalConvTranspose1d up_conv;  // key "<prefix>.up_conv.layer"
  std::vector<ResidualUnit> convs;
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, int64_t stride,
               int64_t res_kernel, c10::ScalarType dtype, c10::ScalarType up_dtype);
  at::Tensor operator()(const at::Tensor& x) const;
};

struct ScalarDecoder {
  Conv1d pre;                         // decoder.0
  std::vector<ResDecoderBlock> blocks;  // decoder.1 .. decoder.n
  bool has_post = false;
  int64_t num_samples = 1;
  Conv1d post_conv;                   // decoder.<n+1>.conv
  PReLU post_activation;              // decoder.<n+1>.activation
  Conv1d out;                         // decoder.<last>

  // prefix: "scalar_model.decoder". `up_dtype`: the dtype transposed convolutions run in.
  void declare(io::WeightBinder& b, const std::string& prefix, const HeartCodecConfig& cfg,
               c10::ScalarType dtype, c10::ScalarType up_dtype);
  // latent [B, latent_hidden, T] -> audio [B, 1, T * samples_per_latent]
  at::Tensor decode(const at::Tensor& latent) const;
};

}  // namespace heartmula::codec
