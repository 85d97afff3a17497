// A torchtune llama3_2 TransformerDecoder without token embeddings and output projection
// (HeartMuLa's backbone and depth decoder): pre-norm blocks of GQA attention with Llama-3
// RoPE and a SwiGLU MLP, then a final RMSNorm.
#pragma once

#include <ATen/core/Tensor.h>
#include <string>
#include <vector>

#include "model/attention.h"
#include "model/config.h"
#include "model/linear.h"

namespace heartmula::io {
class WeightBinder;
}

namespace heartmula::model {

// One block. Checkpoint keys under `<prefix>.layers.<i>.`:
//   sa_norm.scale [D], attn.{q,k,v}_proj.weight, attn.output_proj.weight [D, D],
//   mlp_norm.scale [D], mlp.w1/w3.weight [F, D], mlp.w2.weight [D, F].
struct LlamaLayer {
  at::Tensor sa_norm;   // [D]
  Linear wqkv;          // [(H + 2 Hkv) * hd, D]: q_proj, k_proj, v_proj rows fused at load
  Linear wo;            // [D, H * hd]            attn.output_proj.weight
  at::Tensor mlp_norm;  // [D]
  Linear w13;           // [2F, D]: mlp.w1 (gate) rows then mlp.w3 (up) rows, fused at load
  Linear w2;            // [D, F]
};

struct TransformerStack {
  TransformerConfig cfg;
  std::vector<LlamaLayer> layers;
  at::Tensor norm;  // [D] <prefix>.norm.scale

  // Declares every parameter under `prefix` ("backbone" / "decoder") with its checkpoint key:
  // norms in the compute dtype, the linear weights as `how` says.
  void declare(io::WeightBinder& binder, const std::string& prefix, const LinearLoad& how);

  // x [B, S, D] at the positions described by `step` -> final-normed hidden states [B, S, D].
  // Writes the new keys/values into `cache` (slots step.slots).
  at::Tensor forward(const at::Tensor& x, const StepContext& step, KVCache& cache) const;
};

// torchtune RMSNorm: normalise in float32, cast back, then scale.  x [..., D], scale [D].
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& scale, double eps);

}  // namespace heartmula::model
