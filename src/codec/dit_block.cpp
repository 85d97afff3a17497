#include "codec/dit_block.h"

#include <ATen/ATen.h>
#include <cmath>

#include "io/weight_binder.h"

namespace heartmula::codec {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor var = x.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (x * at::rsqrt(var + eps));
}

int64_t dit_mlp_hidden(int64_t dim) {
  const int64_t h = static_cast<int64_t>(2 * (4 * dim) / 3);
  return 256 * ((h + 255) / 256);
}

void DiTBlock::declare(io::WeightBinder& b, const std::string& prefix, int64_t d, int64_t h, int64_t hd,
                       int64_t mlp_hidden) {
  dim = d;
  heads = h;
  head_dim = hd;
  const int64_t inner = h * hd;
  b.expect(prefix + ".attn_norm.weight", {d}, &attn_norm);
  b.expect(prefix + ".mlp_norm.weight", {d}, &mlp_norm);
  q_proj.declare(b, prefix + ".attn.q_proj", d, inner, false);
  k_proj.declare(b, prefix + ".attn.k_proj", d, inner, false);
  v_proj.declare(b, prefix + ".attn.v_proj", d, inner, false);
  o_proj.declare(b, prefix + ".attn.o_proj", inner, d, false);
  gate.declare(b, prefix + ".mlp.gate", d, mlp_hidden, false);
  up.declare(b, prefix + ".mlp.up", d, mlp_hidden, false);
  down.declare(b, prefix + ".mlp.down", mlp_hidden, d, false);
  b.expect(prefix + ".scale_shift_table", {6, d}, &scale_shift_table);
}

at::Tensor DiTBlock::attention(const at::Tensor& x, const RopeTable& rope) const {
  const int64_t bsz = x.size(0), t = x.size(1);
  auto heads_first = [&](const at::Tensor& y) { return y.view({bsz, t, heads, head_dim}).transpose(1, 2); };
  at::Tensor q = apply_rope(heads_first(q_proj(x)), rope);
  at::Tensor k = apply_rope(heads_first(k_proj(x)), rope);
  at::Tensor v = heads_first(v_proj(x));
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  at::Tensor out = at::matmul(at::softmax(scores, -1), v);  // [B, H, T, D]
  return o_proj(out.transpose(1, 2).reshape({bsz, t, heads * head_dim}));
}

at::Tensor DiTBlock::forward(const at::Tensor& x_in, const at::Tensor& timestep_mod, const RopeTable& rope) const {
  const int64_t bsz = x_in.size(0);
  // [B, 6, dim] -> shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp, each [B, 1, dim]
  at::Tensor mod = scale_shift_table.unsqueeze(0) + timestep_mod.reshape({bsz, 6, -1});
  auto row = [&](int64_t i) { return mod.narrow(1, i, 1); };
  at::Tensor x = x_in;
  at::Tensor h = rms_norm(x, attn_norm, 1e-6) * (1 + row(1)) + row(0);
  x = x + row(2) * attention(h, rope);
  h = rms_norm(x, mlp_norm, 1e-6) * (1 + row(4)) + row(3);
  x = x + row(5) * down(at::silu(gate(h)) * up(h));
  return x;
}

}  // namespace heartmula::codec
