// The flow-matching estimator (heartcodec/models/transformer.py LlamaTransformer, a DiT):
//   s = proj_in(h); blocks(s, t); s = LN(s) * (1 + scale) + shift
//   x = connection_proj([h, s]); blocks_2(x, t); x = LN(x) * (1 + scale_2) + shift_2
//   out = proj_out(x)
// with AdaLN-single timestep modulation at two widths (inner, 2*inner; heads of head_dim and
// 2*head_dim).
//
// Precision: the projections and attention run in the estimator's compute dtype; the timestep
// embedding and AdaLN MLPs, the residual streams, the norms and the modulation stay float32,
// and so does the output (docs/codec.md "Precision").
#pragma once

#include <ATen/core/Tensor.h>
#include <string>
#include <vector>

#include "codec/config.h"
#include "codec/dit_block.h"
#include "codec/layers.h"

namespace heartmula::codec {

// ProjectLayer: Conv1d(k, padding k/2) over time, times k^-0.5, then a Linear.
// On CUDA the convolution runs as one GEMM over the k time-shifted copies of the input side by
// side ([B, T, k * in] @ wmat^T, wmat [out, k * in] in the compute dtype, made at load; ffn_1's
// weight is then a view of it): the input is time-major already, and cuDNN changed its layout
// around each call (~0.1 ms per call on the H100, 30 calls per window). Same sums, another order.
struct ProjectLayer {
  Conv1d ffn_1;
  Linear ffn_2;
  at::Tensor wmat;  // defined: the GEMM form (CUDA weights, or any device in layout tests)
  int64_t kernel = 3;
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, int64_t k,
               c10::ScalarType dtype);
  // [B, T, in] (any float dtype; converted to the weights') -> [B, T, out] in the weights' dtype
  at::Tensor operator()(const at::Tensor& x) const;
  void list_weights(const std::string& prefix, NamedWeights& out) const;
};

// AdaLayerNormSingleFlow: 512-wide sinusoidal embedding of t * 1000 (cos first) -> linear_1,
// SiLU, linear_2 = embedded [B, D]; linear(SiLU(embedded)) = modulation [B, 6D].
struct AdaLNSingle {
  Linear linear_1, linear_2, linear;
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t dim);  // float32 weights
  // timestep float32 [B] -> {modulation [B, 6D], embedded [B, D]}, float32.
  std::pair<at::Tensor, at::Tensor> operator()(const at::Tensor& timestep) const;
  // The same for the timestep that every row of a step shares, given the output of this
  // operator for [S] timesteps and a step s < S: [rows, 6D] and [rows, D] (broadcast views).
  static std::pair<at::Tensor, at::Tensor> step_rows(const std::pair<at::Tensor, at::Tensor>& all, int64_t s,
                                                     int64_t rows);
  void list_weights(const std::string& prefix, NamedWeights& out) const;
};

// The rotary tables of both block stacks for one sequence length (made once per window).
struct EstimatorRope {
  RopeTable rope, rope2;  // head_dim and 2 * head_dim
};

struct Estimator {
  HeartCodecConfig cfg;
  c10::ScalarType compute = c10::ScalarType::Float;
  ProjectLayer proj_in, connection_proj, proj_out;
  std::vector<DiTBlock> transformer_blocks, transformer_blocks_2;
  AdaLNSingle adaln_single, adaln_single_2;
  at::Tensor scale_shift_table, scale_shift_table_2;  // [2, inner], [2, 2*inner]

  // prefix: "flow_matching.estimator". `compute`: the dtype of the projections (see above).
  void declare(io::WeightBinder& b, const std::string& prefix, const HeartCodecConfig& cfg, c10::ScalarType compute);
  EstimatorRope rope_tables(int64_t seq_len, c10::Device device) const;
  // hidden [B, T, in_channels] (float32 or the compute dtype), timestep float32 [B], rope for T
  // -> float32 [B, T, out_channels]
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& timestep, const EstimatorRope& rope) const;
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& timestep) const;  // makes the tables
  // The AdaLN outputs of both stacks for timesteps t float32 [S] (one row each): the Euler
  // solver computes every step's at once (one GEMM per linear for all steps instead of one
  // GEMV per step; each step's rows share its timestep).
  struct Modulations {
    std::pair<at::Tensor, at::Tensor> first, second;  // {mod, embedded} of adaln_single, _2
  };
  Modulations modulations(const at::Tensor& t) const;
  // forward() with the modulations of step s of `all` (made by modulations()) for every row.
  at::Tensor forward_step(const at::Tensor& hidden, const Modulations& all, int64_t s, const EstimatorRope& rope) const;
  void list_weights(const std::string& prefix, NamedWeights& out) const;
};

}  // namespace heartmula::codec
