// One estimator block (heartcodec/models/transformer.py LlamaTransformerBlock with
// use_ada_layer_norm_single): RMSNorm(eps 1e-6) + RoPE self-attention + SwiGLU MLP, each
// modulated by (shift, scale, gate) rows of scale_shift_table + the timestep embedding.
#pragma once

#include <ATen/core/Tensor.h>
#include <string>

#include "codec/layers.h"
#include "codec/rope.h"

namespace heartmula::codec {

// x * rsqrt(mean(x^2) + eps) * weight, in the input's dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

struct DiTBlock {
  int64_t dim = 0, heads = 0, head_dim = 0;
  at::Tensor attn_norm, mlp_norm;      // RMSNorm weights [dim]
  Linear q_proj, k_proj, v_proj, o_proj;  // no bias
  Linear gate, up, down;               // SwiGLU, no bias
  at::Tensor scale_shift_table;        // [6, dim]

  // prefix: "flow_matching.estimator.transformer_blocks.N"; mlp_hidden from the checkpoint.
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t dim, int64_t heads,
               int64_t head_dim, int64_t mlp_hidden);
  // x [B, T, dim]; timestep_mod [B, 6*dim]; rope for head_dim -> [B, T, dim].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& timestep_mod, const RopeTable& rope) const;

 private:
  at::Tensor attention(const at::Tensor& x, const RopeTable& rope) const;
};

// LlamaMLP's hidden width: int(2 * 4 * dim / 3) rounded up to a multiple of 256.
int64_t dit_mlp_hidden(int64_t dim);

}  // namespace heartmula::codec
