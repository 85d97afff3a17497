#include "model/transformer.h"

#include <ATen/ATen.h>
#include <memory>
#include <tuple>
#include <utility>

#include "io/kernel_paths.h"
#include "io/weight_binder.h"
#include "model/fused_ops.h"

namespace heartmula::model {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& scale, double eps) {
  at::Tensor fused;
  if (io::record_path(io::KernelPath::kLmRmsNorm, fused_rms_norm(x, scale, eps, fused))) return fused;
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor normed = xf.mul(at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true).add(eps)));
  return normed.to(x.scalar_type()).mul(scale);
}

void TransformerStack::declare(io::WeightBinder& binder, const std::string& prefix, const LinearLoad& how) {
  const int64_t d = cfg.embed_dim, hd = cfg.head_dim(), f = cfg.intermediate_dim;
  const c10::ScalarType dtype = how.precision.compute;
  layers.assign(static_cast<size_t>(cfg.num_layers), LlamaLayer{});
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    LlamaLayer& l = layers[static_cast<size_t>(i)];
    const std::string p = prefix + ".layers." + std::to_string(i) + ".";
    binder.expect(p + "sa_norm.scale", {d}, &l.sa_norm, dtype);
    const int64_t q_rows = cfg.num_heads * hd, kv_rows = cfg.num_kv_heads * hd;
    declare_linear(
        binder,
        {{p + "attn.q_proj.weight", q_rows}, {p + "attn.k_proj.weight", kv_rows}, {p + "attn.v_proj.weight", kv_rows}},
        d, q_rows + 2 * kv_rows, &l.wqkv, how);
    declare_linear(binder, p + "attn.output_proj.weight", d, q_rows, &l.wo, how);
    binder.expect(p + "mlp_norm.scale", {d}, &l.mlp_norm, dtype);
    declare_linear(binder, {{p + "mlp.w1.weight", f}, {p + "mlp.w3.weight", f}}, d, 2 * f, &l.w13, how);
    declare_linear(binder, p + "mlp.w2.weight", d, f, &l.w2, how);
  }
  binder.expect(prefix + ".norm.scale", {d}, &norm, dtype);
}

namespace {

// silu(gu[..., :F]) * gu[..., F:].
at::Tensor silu_mul(const at::Tensor& gu) {
  at::Tensor out;
  if (io::record_path(io::KernelPath::kLmSiluMul, fused_silu_mul(gu, out))) return out;
  const int64_t f = gu.size(-1) / 2;
  return at::silu(gu.narrow(-1, 0, f)).mul(gu.narrow(-1, f, f));
}

// sum = x + y; normed = rms_norm(sum): one fused kernel where the device has it.
std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& x, const at::Tensor& y, const at::Tensor& scale,
                                               double eps) {
  at::Tensor sum, normed;
  if (io::record_path(io::KernelPath::kLmAddRmsNorm, fused_add_rms_norm(x, y, scale, eps, sum, normed)))
    return {sum, normed};
  sum = y.defined() ? x + y : x;
  return {sum, rms_norm(sum, scale, eps)};
}

// The int8 layers' fused kernels (fused_int8_linear_ex), each with the unfused sequence it
// equals as the fallback. `normed` is the input's norm when a kernel before produced it, else
// undefined: the product then takes RMSNorm(residual) in its prologue.
at::Tensor norm_linear(const Linear& lin, const at::Tensor& residual, at::Tensor& normed, const at::Tensor& scale,
                       double eps) {
  if (normed.defined()) return lin(normed);
  at::Tensor out;
  if (lin.quantized() && io::record_path(io::KernelPath::kInt8Fused,
                                         fused_int8_linear_ex(residual, lin.weight, lin.scale, LinearPrologue::RmsNorm,
                                                              scale, eps, at::Tensor(), out)))
    return out;
  normed = add_rms_norm(residual, at::Tensor(), scale, eps).second;
  return lin(normed);
}

// silu(gate) · up of the MLP's input (normed, or the residual stream to normalise) in the w13
// product's epilogue (int8 on CUDA with the "glu" fusion), else false.
bool mlp_glu(const Linear& w13, const at::Tensor& residual, const at::Tensor& normed, const at::Tensor& scale,
             double eps, at::Tensor& out) {
  if (!w13.quantized()) return false;
  return io::record_path(
      io::KernelPath::kInt8Glu,
      normed.defined() ? fused_int8_glu(normed, w13.weight, w13.scale, LinearPrologue::None, at::Tensor(), 0.0, out)
                       : fused_int8_glu(residual, w13.weight, w13.scale, LinearPrologue::RmsNorm, scale, eps, out));
}

// residual + lin(x) as the new residual stream; when no fused kernel applies, the
// unfused sequence, which also yields the next norm (`normed`, with `next_scale`).
at::Tensor linear_add(const Linear& lin, const at::Tensor& x, const at::Tensor& residual, at::Tensor& normed,
                      const at::Tensor& next_scale, double eps) {
  at::Tensor out;
  if (lin.quantized() &&
      io::record_path(io::KernelPath::kInt8Fused, fused_int8_linear_ex(x, lin.weight, lin.scale, LinearPrologue::None,
                                                                       at::Tensor(), 0.0, residual, out))) {
    normed = at::Tensor();
    return out;
  }
  const at::Tensor a = lin(x);
  at::Tensor sum;
  std::tie(sum, normed) = add_rms_norm(residual, a, next_scale, eps);
  return sum;
}

}  // namespace

at::Tensor TransformerStack::forward(const at::Tensor& x, const StepContext& step, KVCache& cache) const {
  const int64_t b = x.size(0), s = x.size(1), hd = cfg.head_dim();
  const int64_t h = cfg.num_heads, hkv = cfg.num_kv_heads;
  if (layers.empty()) return rms_norm(x, norm, cfg.norm_eps);
  at::Tensor out = x;
  // Every norm after the first is fused with the residual add before it, or (int8 on CUDA) into
  // the product after it (`normed` undefined: the next product normalises `out` itself).
  at::Tensor normed = rms_norm(out, layers.front().sa_norm, cfg.norm_eps);
  for (size_t i = 0; i < layers.size(); ++i) {
    const LlamaLayer& l = layers[i];
    at::Tensor qkv = norm_linear(l.wqkv, out, normed, l.sa_norm, cfg.norm_eps);
    at::Tensor kc = cache.k.select(0, static_cast<int64_t>(i));
    at::Tensor vc = cache.v.select(0, static_cast<int64_t>(i));
    at::Tensor q;
    if (io::record_path(io::KernelPath::kLmRopeCache,
                        fused_rope_qk_cache_(qkv, h, hkv, hd, step.rope, step.slots, kc, vc))) {  // rotated, cached
      q = qkv.narrow(-1, 0, h * hd).view({b, s, h, hd});
    } else {
      at::Tensor k;
      if (io::record_path(io::KernelPath::kLmRope, fused_rope_qk_(qkv, h + hkv, hd, step.rope))) {  // rotated in place
        q = qkv.narrow(-1, 0, h * hd).view({b, s, h, hd});
        k = qkv.narrow(-1, h * hd, hkv * hd).reshape({b, s, hkv, hd});
      } else {
        q = apply_rope(qkv.narrow(-1, 0, h * hd).view({b, s, h, hd}), step.rope);
        k = apply_rope(qkv.narrow(-1, h * hd, hkv * hd).reshape({b, s, hkv, hd}), step.rope);
      }
      at::Tensor v = qkv.narrow(-1, (h + hkv) * hd, hkv * hd).reshape({b, s, hkv, hd});
      kc.index_copy_(2, step.slots, k.transpose(1, 2));
      vc.index_copy_(2, step.slots, v.transpose(1, 2));
    }
    at::Tensor attn;  // [B, S, H, hd]
    if (s != 1 ||
        !io::record_path(io::KernelPath::kLmAttention, fused_decode_attention(q, kc, vc, step.kv_len, step.mask, attn)))
      attn = grouped_attention(q.transpose(1, 2), kc.narrow(2, 0, step.kv_len), vc.narrow(2, 0, step.kv_len), step.mask)
                 .transpose(1, 2);
    at::Tensor heads = attn.reshape({b, s, h * hd});
    if (l.wo.quantized()) heads = heads.contiguous();  // the fused int8 kernel takes contiguous rows
    out = linear_add(l.wo, heads, out, normed, l.mlp_norm, cfg.norm_eps);
    at::Tensor act;  // silu(gate) · up
    if (!mlp_glu(l.w13, out, normed, l.mlp_norm, cfg.norm_eps, act))
      act = silu_mul(norm_linear(l.w13, out, normed, l.mlp_norm, cfg.norm_eps));
    const at::Tensor& next_scale = i + 1 < layers.size() ? layers[i + 1].sa_norm : norm;
    out = linear_add(l.w2, act, out, normed, next_scale, cfg.norm_eps);
  }
  if (!normed.defined()) normed = add_rms_norm(out, at::Tensor(), norm, cfg.norm_eps).second;
  return normed;
}

}  // namespace heartmula::model
