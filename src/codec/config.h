// HeartCodec hyper-parameters, read from the checkpoint folder's config.json
// (upstream heartcodec/configuration_heartcodec.py; missing keys take upstream's defaults).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace heartmula::codec {

struct HeartCodecConfig {
  // Residual VQ (flow_matching.vq_embed)
  int64_t dim = 512;  // RVQ output / condition width
  int64_t codebook_size = 8192;
  int64_t codebook_dim = 32;
  int64_t num_quantizers = 8;
  // Diffusion transformer (flow_matching.estimator)
  int64_t attention_head_dim = 64;
  int64_t in_channels = 1024;  // = 2 * out_channels + dim (x, in-context x, condition)
  std::string norm_type = "ada_norm_single";
  int64_t num_attention_heads = 24;
  int64_t num_layers = 24;
  int64_t num_layers_2 = 6;
  int64_t out_channels = 256;  // latent width per 25 Hz frame
  // Scalar decoder (scalar_model)
  int64_t num_bands = 1;
  int64_t sample_rate = 48000;
  bool causal = true;
  int64_t num_samples = 2;  // PostProcessor repeat factor
  std::vector<int64_t> upsample_factors{5, 4, 4, 4, 3};
  std::vector<int64_t> upsample_kernel_sizes{10, 8, 8, 8, 6};
  int64_t latent_hidden_dim = 128;
  int64_t default_kernel_size = 7;
  int64_t delay_kernel_size = 5;
  int64_t init_channel = 64;
  int64_t res_kernel_size = 7;

  int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
  // Audio samples per 25 Hz latent frame (= sample_rate / 25 once validated).
  int64_t samples_per_latent() const;

  // Reads `path` (a config.json). Errors name the file and the key.
  static HeartCodecConfig from_file(const std::string& path);
  // Throws Error naming the key and its value when the sizes cannot form a HeartCodec this
  // implementation computes (e.g. in_channels != 2*out_channels + dim).
  void validate(const std::string& origin) const;
};

}  // namespace heartmula::codec
