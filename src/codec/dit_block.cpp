#include "codec/dit_block.h"

#include <ATen/ATen.h>
#include <cmath>
#include <torch/version.h>
#include <utility>
#include <vector>

#include "codec/fused_ops.h"
#include "io/kernel_paths.h"
#include "io/weight_binder.h"

#define HEARTMULA_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace heartmula::codec {

namespace {

// Declares `keys` (each [rows_i, cols]) to be copied into consecutive row blocks of *fused in
// `dtype`, allocated when the first piece arrives (after the binder's checks passed).
void expect_fused(io::WeightBinder& b, const std::vector<std::pair<std::string, int64_t>>& keys, int64_t cols,
                  at::Tensor* fused, c10::ScalarType dtype) {
  int64_t total = 0;
  for (const auto& kv : keys) total += kv.second;
  int64_t offset = 0;
  for (const auto& [key, rows] : keys) {
    b.expect_with(
        key, {rows, cols},
        [fused, total, cols, offset, rows = rows](at::Tensor t) {
          if (!fused->defined()) *fused = at::empty({total, cols}, t.options());
          fused->narrow(0, offset, rows).copy_(t);
        },
        dtype);
    offset += rows;
  }
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor var = x.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (x * at::rsqrt(var + eps));
}

at::Tensor dit_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
#if HEARTMULA_TORCH_AT_LEAST(2, 0)
  return at::scaled_dot_product_attention(q, k, v, c10::nullopt, 0.0, false);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * scale;
  return at::matmul(at::softmax(scores, -1, at::kFloat).to(v.scalar_type()), v);
#endif
}

int64_t dit_mlp_hidden(int64_t dim) {
  const int64_t h = static_cast<int64_t>(2 * (4 * dim) / 3);
  return 256 * ((h + 255) / 256);
}

void DiTBlock::declare(io::WeightBinder& b, const std::string& prefix, int64_t d, int64_t h, int64_t hd, int64_t hidden,
                       c10::ScalarType dtype) {
  dim = d, heads = h, head_dim = hd, mlp_hidden = hidden, compute = dtype;
  const int64_t inner = h * hd;
  b.expect(prefix + ".attn_norm.weight", {d}, &attn_norm, at::kFloat);
  b.expect(prefix + ".mlp_norm.weight", {d}, &mlp_norm, at::kFloat);
  const std::string a = prefix + ".attn.";
  expect_fused(b, {{a + "q_proj.weight", inner}, {a + "k_proj.weight", inner}, {a + "v_proj.weight", inner}}, d, &wqkv,
               dtype);
  o_proj.declare(b, a + "o_proj", inner, d, false, dtype);
  expect_fused(b, {{prefix + ".mlp.gate.weight", hidden}, {prefix + ".mlp.up.weight", hidden}}, d, &w_gate_up, dtype);
  down.declare(b, prefix + ".mlp.down", hidden, d, false, dtype);
  b.expect(prefix + ".scale_shift_table", {6, d}, &scale_shift_table, at::kFloat);
}

void DiTBlock::list_weights(const std::string& prefix, NamedWeights& out) const {
  add_weight(out, prefix + ".attn_norm.weight", attn_norm);
  add_weight(out, prefix + ".mlp_norm.weight", mlp_norm);
  add_weight(out, prefix + ".attn.wqkv", wqkv);
  o_proj.list_weights(prefix + ".attn.o_proj", out);
  add_weight(out, prefix + ".mlp.w_gate_up", w_gate_up);
  down.list_weights(prefix + ".mlp.down", out);
  add_weight(out, prefix + ".scale_shift_table", scale_shift_table);
}

at::Tensor DiTBlock::attention(const at::Tensor& h, const RopeTable& rope) const {
  const int64_t bsz = h.size(0), t = h.size(1), inner = heads * head_dim;
  at::Tensor qkv = at::linear(h, wqkv).view({bsz, t, 3 * heads, head_dim});
  // [B, T, 2H, D]: rotated in place inside qkv (CUDA), else a rotated copy.
  at::Tensor qk = io::record_path(io::KernelPath::kCodecRope, fused_rope_heads_(qkv, 2 * heads, rope))
                      ? qkv.narrow(2, 0, 2 * heads)
                      : apply_rope(qkv.narrow(2, 0, 2 * heads), rope);
  at::Tensor q = qk.narrow(2, 0, heads).transpose(1, 2);  // [B, H, T, D]
  at::Tensor k = qk.narrow(2, heads, heads).transpose(1, 2);
  at::Tensor v = qkv.narrow(2, 2 * heads, heads).transpose(1, 2);
  at::Tensor out = dit_attention(q, k, v);  // [B, H, T, D]
  return o_proj(out.transpose(1, 2).reshape({bsz, t, inner}));
}

at::Tensor DiTBlock::modulation(const at::Tensor& timestep_mod, int64_t batch) const {
  return scale_shift_table.unsqueeze(0) + timestep_mod.reshape({batch, 6, -1});
}

at::Tensor DiTBlock::forward(const at::Tensor& x_in, const at::Tensor& timestep_mod, const RopeTable& rope) const {
  return forward_chained(x_in, modulation(timestep_mod, x_in.size(0)), rope, at::Tensor(), nullptr, at::Tensor(),
                         nullptr);
}

at::Tensor DiTBlock::forward_chained(const at::Tensor& x_in, const at::Tensor& mod, const RopeTable& rope,
                                     const at::Tensor& h_in, const DiTBlock* next, const at::Tensor& next_mod,
                                     at::Tensor* h_next) const {
  // mod [B, 6, dim]: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp, each [B, 1, dim]
  auto row = [&](int64_t i) { return mod.narrow(1, i, 1); };
  // Each step: the fused CUDA kernel where it applies (codec/fused_ops.h), else the composite.
  at::Tensor h = h_in;
  if (!h.defined() && !io::record_path(io::KernelPath::kCodecModRmsNorm,
                                       fused_modulated_rms_norm(x_in, attn_norm, mod, 0, 1, 1e-6, compute, h)))
    h = (rms_norm(x_in, attn_norm, 1e-6) * (1 + row(1)) + row(0)).to(compute);
  at::Tensor x, y = attention(h, rope);
  h = at::Tensor();
  // The gated residual and the MLP norm in one pass where they fuse, else one after the other.
  if (!fused_gated_residual_rms_norm(x_in, mod, 2, y, mlp_norm, mod, 3, 4, 1e-6,
                                     /*in_place=*/false, x, h)) {
    if (!io::record_path(io::KernelPath::kCodecGatedResidual, fused_gated_residual(x_in, mod, 2, y, x)))
      x = x_in + row(2) * y;  // float32: the promotion happens inside the multiply
    if (!io::record_path(io::KernelPath::kCodecModRmsNorm,
                         fused_modulated_rms_norm(x, mlp_norm, mod, 3, 4, 1e-6, compute, h)))
      h = (rms_norm(x, mlp_norm, 1e-6) * (1 + row(4)) + row(3)).to(compute);
  } else {
    io::record_path(io::KernelPath::kCodecGatedResidual, true);  // with the MLP norm
  }
  y = at::Tensor();
  at::Tensor gu = at::linear(h, w_gate_up), act;
  h = at::Tensor();
  if (!io::record_path(io::KernelPath::kCodecSiluMul, fused_silu_mul(gu, mlp_hidden, act)))
    act = at::silu(gu.narrow(-1, 0, mlp_hidden)) * gu.narrow(-1, mlp_hidden, mlp_hidden);
  gu = at::Tensor();
  y = down(act);
  // x is this call's own tensor: in place. With a next block, its attention norm in the same pass.
  if (next != nullptr && h_next != nullptr &&
      fused_gated_residual_rms_norm(x, mod, 5, y, next->attn_norm, next_mod, 0, 1, 1e-6, /*in_place=*/true, x,
                                    *h_next)) {
    io::record_path(io::KernelPath::kCodecGatedResidual, true);  // with the next block's attention norm
    return x;
  }
  if (!io::record_path(io::KernelPath::kCodecGatedResidual, fused_gated_residual_(x, mod, 5, y))) x = x + row(5) * y;
  return x;
}

at::Tensor run_dit_stack(const std::vector<DiTBlock>& blocks, at::Tensor x, const at::Tensor& timestep_mod,
                         const RopeTable& rope) {
  if (blocks.empty()) return x;
  const int64_t batch = x.size(0);
  at::Tensor mod = blocks[0].modulation(timestep_mod, batch), h;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const DiTBlock* next = i + 1 < blocks.size() ? &blocks[i + 1] : nullptr;
    at::Tensor next_mod = next ? next->modulation(timestep_mod, batch) : at::Tensor(), h_next;
    x = blocks[i].forward_chained(x, mod, rope, h, next, next_mod, &h_next);
    mod = std::move(next_mod);
    h = std::move(h_next);
  }
  return x;
}

}  // namespace heartmula::codec
