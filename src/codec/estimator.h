// The flow-matching estimator (heartcodec/models/transformer.py LlamaTransformer, a DiT):
//   s = proj_in(h); blocks(s, t); s = LN(s) * (1 + scale) + shift
//   x = connection_proj([h, s]); blocks_2(x, t); x = LN(x) * (1 + scale_2) + shift_2
//   out = proj_out(x)
// with AdaLN-single timestep modulation at two widths (inner, 2*inner; heads of head_dim and
// 2*head_dim).
#pragma once

#include <ATen/core/Tensor.h>
#include <string>
#include <vector>

#include "codec/config.h"
#include "codec/dit_block.h"
#include "codec/layers.h"

namespace heartmula::codec {

// ProjectLayer: Conv1d(k, padding k/2) over time, times k^-0.5, then a Linear.
struct ProjectLayer {
  Conv1d ffn_1;
  Linear ffn_2;
  int64_t kernel = 3;
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, int64_t k,
               c10::ScalarType dtype);
  at::Tensor operator()(const at::Tensor& x) const;  // [B, T, in] -> [B, T, out]
};

// AdaLayerNormSingleFlow: 512-wide sinusoidal embedding of t * 1000 (cos first) -> linear_1,
// SiLU, linear_2 = embedded [B, D]; linear(SiLU(embedded)) = modulation [B, 6D].
struct AdaLNSingle {
  Linear linear_1, linear_2, linear;
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t dim);
  // timestep float32 [B] -> {modulation [B, 6D], embedded [B, D]} in the weights' dtype.
  std::pair<at::Tensor, at::Tensor> operator()(const at::Tensor& timestep) const;
};

struct Estimator {
  HeartCodecConfig cfg;
  ProjectLayer proj_in, connection_proj, proj_out;
  std::vector<DiTBlock> transformer_blocks, transformer_blocks_2;
  AdaLNSingle adaln_single, adaln_single_2;
  at::Tensor scale_shift_table, scale_shift_table_2;  // [2, inner], [2, 2*inner]

  // prefix: "flow_matching.estimator"
  void declare(io::WeightBinder& b, const std::string& prefix, const HeartCodecConfig& cfg,
               c10::ScalarType dtype);
  // hidden [B, T, in_channels], timestep float32 [B] -> [B, T, out_channels]
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& timestep) const;
};

}  // namespace heartmula::codec
