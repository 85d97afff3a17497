// Fused kernels for the frame step, where the device has them (CUDA). Each function returns
// false when no fused kernel applies (CPU, another dtype, a non-contiguous input, or
// HEARTMULA_NO_FUSED=1); the caller then runs the composite ATen version. Results equal the
// composite ones up to float rounding (RoPE: bit for bit; RMSNorm: the reduction order).
#pragma once

#include <ATen/core/Tensor.h>
#include <cstdint>
#include <string>

#include "model/rope.h"

namespace heartmula::model {

// torchtune RMSNorm: out = T(T(x * rsqrt(mean(x^2) + eps)) * scale), statistics in float32.
// x [..., D] contiguous, scale [D] of x's dtype.
bool fused_rms_norm(const at::Tensor& x, const at::Tensor& scale, double eps, at::Tensor& out);

// Rotates the q and k parts of a fused projection in place (interleaved pairs, float32 math):
// qkv [B, S, (H + 2 Hkv) * hd] contiguous; the first H + Hkv heads are rotated with rows
// (cos/sin [B, S, 1, hd/2] contiguous float32).
bool fused_rope_qk_(at::Tensor& qkv, int64_t heads_to_rotate, int64_t head_dim, const RopeRows& rows);

// sum = T(x + y), out = RMSNorm(sum) as fused_rms_norm (y undefined: plain RMSNorm, sum = x).
// x, y [..., D] contiguous, same dtype and shape.
bool fused_add_rms_norm(const at::Tensor& x, const at::Tensor& y, const at::Tensor& scale, double eps, at::Tensor& sum,
                        at::Tensor& out);

// out [..., F] = T(T(silu(gu[..., :F])) * gu[..., F:]) for gu [..., 2F] contiguous.
bool fused_silu_mul(const at::Tensor& gu, at::Tensor& out);

// fused_rope_qk_ plus the KV-cache write: the k heads (rotated) and v heads of qkv
// [B, S, (H + 2 Hkv) * hd] go to k_cache / v_cache [B, Hkv, max_len, hd] (contiguous) at slots [S]
// (int64 on the device), as index_copy_(2, slots, k.transpose(1, 2)) would.
bool fused_rope_qk_cache_(at::Tensor& qkv, int64_t heads, int64_t kv_heads, int64_t head_dim, const RopeRows& rows,
                          const at::Tensor& slots, at::Tensor& k_cache, at::Tensor& v_cache);

// Single-query attention over a KV cache: q [B, 1, H, hd] (any strides with unit last-dim
// stride and heads hd apart), k_cache/v_cache [B, Hkv, L, hd] contiguous, positions [0, kv_len)
// where mask [B or 1, 1, 1, kv_len] (bool, unit last stride; undefined: all) is true.
// out [B, 1, H, hd]. Masked positions cost no K/V reads, so attending over the whole cache
// costs what the filled part costs (one graph per song instead of one per length bucket).
bool fused_decode_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache, int64_t kv_len,
                            const at::Tensor& mask, at::Tensor& out);
// out [..., N] = x [..., K] · (q [N, K] · scale [N])ᵀ: x bfloat16 with at most
// cuda::kInt8LinearMaxRows rows (the frame loop's), q int8, scale float32, all contiguous,
// K a multiple of 64 (model/linear.h's Linear runs dequantize + matmul otherwise).
bool fused_int8_linear(const at::Tensor& x, const at::Tensor& q, const at::Tensor& scale, at::Tensor& out);

// The frame step's int8 linear with its neighbours in the same kernel (model/cuda/int8_linear.h):
// the input is x (None) or RMSNorm(x) · norm_scale as fused_add_rms_norm's `out` (RmsNorm); with
// `residual` defined ([..., N]) out = T(T(product) + residual) as fused_add_rms_norm's `sum`. Bit
// for bit the unfused sequence of those kernels. False where it does not apply (then run the
// unfused sequence): not CUDA, not int8, more rows than the kernel takes, that fusion off (see
// Int8Fusion below).
enum class LinearPrologue { None, RmsNorm };
bool fused_int8_linear_ex(const at::Tensor& x, const at::Tensor& q, const at::Tensor& scale, LinearPrologue prologue,
                          const at::Tensor& norm_scale, double eps, const at::Tensor& residual, at::Tensor& out);
// The w13 product with silu·mul in its epilogue: q [2N, K] (gate rows, then up rows), out [..., N] =
// T(T(silu(gate)) · up) with gate and up the bf16 products fused_int8_linear writes (bit for bit
// fused_silu_mul after it). prologue: None (x normed already) or RmsNorm (as above).
bool fused_int8_glu(const at::Tensor& x, const at::Tensor& q, const at::Tensor& scale, LinearPrologue prologue,
                    const at::Tensor& norm_scale, double eps, at::Tensor& out);

// Which of the int8 fusions run: HEARTMULA_INT8_FUSION (io/switches.h), a comma list of the names
// below, "1" (all) or "0" (none); unset: kInt8FusionDefault, the set measured fastest (docs/performance.md, "int8
// fusions": "norm" measured slower on an H100, silu·mul in w2's prologue much slower and retired).
enum Int8Fusion : unsigned {
  kInt8FuseNorm = 1,  // "norm": RMSNorm in the qkv / w13 prologue, the residual add in wo / w2's epilogue
  kInt8FuseGlu = 4,   // "glu": silu·mul in w13's epilogue
};
constexpr unsigned kInt8FusionDefault = kInt8FuseGlu;
// The value of HEARTMULA_INT8_FUSION ("" = unset: the default); throws UsageError naming the
// variable and the value for an unknown name.
unsigned parse_int8_fusions(const std::string& value);
// Sets the fusions that run (tests compare the paths). The plain int8 product is not affected.
void set_int8_fusions(unsigned mask);

// Whether fused_decode_attention runs for this dtype and device (and HEARTMULA_NO_FUSED is unset).
bool fused_decode_attention_available(c10::ScalarType dtype, c10::Device device);

}  // namespace heartmula::model
