// One estimator block (heartcodec/models/transformer.py LlamaTransformerBlock with
// use_ada_layer_norm_single): RMSNorm(eps 1e-6) + RoPE self-attention + SwiGLU MLP, each
// modulated by (shift, scale, gate) rows of scale_shift_table + the timestep embedding.
//
// Precision split (docs/codec.md "Precision"): the residual stream, the norms' statistics and
// the modulation stay float32; the projections (weights and their inputs) and attention run
// in the block's compute dtype (float32, bfloat16 or float16).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <string>
#include <vector>

#include "codec/layers.h"
#include "codec/rope.h"

namespace heartmula::codec {

// x * rsqrt(mean(x^2) + eps) * weight, in the input's dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// softmax(q k^T / sqrt(D)) v for q, k, v [B, H, T, D] (no mask): scaled_dot_product_attention
// on LibTorch >= 2.0, else matmul + float32 softmax.
at::Tensor dit_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

struct DiTBlock {
  int64_t dim = 0, heads = 0, head_dim = 0, mlp_hidden = 0;
  c10::ScalarType compute = c10::ScalarType::Float;
  at::Tensor attn_norm, mlp_norm;  // RMSNorm weights [dim], float32
  at::Tensor wqkv;                 // [3 * inner, dim]: attn.q_proj, k_proj, v_proj rows, fused at load
  Linear o_proj;                   // no bias
  at::Tensor w_gate_up;            // [2 * mlp_hidden, dim]: mlp.gate rows, then mlp.up rows
  Linear down;                     // no bias
  at::Tensor scale_shift_table;    // [6, dim], float32

  // prefix: "flow_matching.estimator.transformer_blocks.N"; mlp_hidden from the checkpoint.
  // Projection weights are stored in `compute`, the rest in float32.
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t dim, int64_t heads, int64_t head_dim,
               int64_t mlp_hidden, c10::ScalarType compute);
  // x float32 [B, T, dim]; timestep_mod float32 [B, 6*dim]; rope for head_dim in `compute`
  // -> float32 [B, T, dim].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& timestep_mod, const RopeTable& rope) const;
  // The block's modulation [B, 6, dim] (scale_shift_table + timestep_mod) for forward_chained.
  at::Tensor modulation(const at::Tensor& timestep_mod, int64_t batch) const;
  // forward() as one of a stack (run_dit_stack): `mod` from modulation(); h_in, when defined,
  // is this block's attention-norm input already made by the previous block. With `next` (the
  // next block and its modulation next_mod), the last gated residual also makes next's
  // attention norm into *h_next in the same pass (on CUDA; else *h_next stays undefined and
  // next makes it). The same numbers as forward(), bit for bit.
  at::Tensor forward_chained(const at::Tensor& x, const at::Tensor& mod, const RopeTable& rope, const at::Tensor& h_in,
                             const DiTBlock* next, const at::Tensor& next_mod, at::Tensor* h_next) const;
  // "<prefix>.attn.wqkv" and "<prefix>.mlp.w_gate_up" are the fused matrices.
  void list_weights(const std::string& prefix, NamedWeights& out) const;

 private:
  at::Tensor attention(const at::Tensor& h, const RopeTable& rope) const;  // h [B, T, dim] in `compute`
};

// x through blocks in order (each forward() with timestep_mod), the norms chained between
// blocks (DiTBlock::forward_chained).
at::Tensor run_dit_stack(const std::vector<DiTBlock>& blocks, at::Tensor x, const at::Tensor& timestep_mod,
                         const RopeTable& rope);

// LlamaMLP's hidden width: int(2 * 4 * dim / 3) rounded up to a multiple of 256.
int64_t dit_mlp_hidden(int64_t dim);

}  // namespace heartmula::codec
