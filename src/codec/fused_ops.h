// Fused CUDA kernels for the estimator's DiT block (codec/dit_block.cpp). Each function returns
// false when it does not apply (not a CUDA tensor, a dtype / shape / contiguity / alignment the
// kernel does not take, HEARTMULA_NO_FUSED set, or set_fused_ops_enabled(false)); the caller then
// runs the composite ATen code, which is what every CPU build and CPU tensor runs. The kernels
// launch on the current CUDA stream, sync nothing and allocate only their outputs (at::empty),
// so they can be captured in CUDA graphs. Rounding against the composite: docs/codec.md
// "CUDA kernels".
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <cstdint>

#include "codec/rope.h"

namespace heartmula::codec {

// Process-wide switch (default: on unless HEARTMULA_NO_FUSED is set), for comparisons in tests.
void set_fused_ops_enabled(bool on);
bool fused_ops_enabled();

// out = T_out((weight * (x * rsqrt(mean(x^2) + eps))) * (1 + mod[:, scale_row]) + mod[:, shift_row]),
// float32 math in one kernel. x float32 [B, T, D] contiguous, weight float32 [D], mod float32
// [B, R, D] contiguous (R > shift_row, scale_row); D % 4 == 0 and D <= 16384.
// Equals `(rms_norm(x, w, eps) * (1 + row(scale)) + row(shift)).to(out_dtype)` up to the
// reduction order of mean(x^2) (so r may differ in the last float bits).
bool fused_modulated_rms_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& mod, int64_t shift_row,
                              int64_t scale_row, double eps, c10::ScalarType out_dtype, at::Tensor& out);

// x[b, t, :] += mod[b, gate_row, :] * float(y[b, t, :]) in place, bit for bit `x + row * y`.
// x float32 [B, T, D] contiguous; y [B, T, D] contiguous float32/bfloat16/float16; mod as above.
bool fused_gated_residual_(at::Tensor& x, const at::Tensor& mod, int64_t gate_row, const at::Tensor& y);
// The same into a new tensor out (x unchanged).
bool fused_gated_residual(const at::Tensor& x, const at::Tensor& mod, int64_t gate_row, const at::Tensor& y,
                          at::Tensor& out);

// Both in one pass over x: x_out = x + gate_mod[:, gate_row] * y (in place on x when in_place,
// else a new tensor), then h = the modulated RMSNorm of x_out with `weight` and rows shift_row /
// scale_row of norm_mod, in y's dtype. Bit for bit fused_gated_residual(_) followed by
// fused_modulated_rms_norm (the same kernels' operations and reduction order). gate_mod and
// norm_mod [B, R, D] alike (they may be different blocks' modulations); false (nothing written)
// where either kernel would not apply.
bool fused_gated_residual_rms_norm(const at::Tensor& x, const at::Tensor& gate_mod, int64_t gate_row,
                                   const at::Tensor& y, const at::Tensor& weight, const at::Tensor& norm_mod,
                                   int64_t shift_row, int64_t scale_row, double eps, bool in_place, at::Tensor& x_out,
                                   at::Tensor& h);

// out [..., hidden] = T(T(silu(gu[..., :hidden])) * gu[..., hidden:]) for gu [..., 2 * hidden]
// contiguous (float32/bfloat16/float16): the composite's roundings.
bool fused_silu_mul(const at::Tensor& gu, int64_t hidden, at::Tensor& out);

// Rotates heads 0..heads_to_rotate-1 of qkv [B, T, N, hd] (contiguous, the fused projection
// viewed per head) in place, as apply_rope does: out = T(T(x * cos) + swap_pairs(x) * sin),
// the second step in float32 as addcmul. rope.cos/sin [T, 1, hd] contiguous in qkv's dtype.
bool fused_rope_heads_(at::Tensor& qkv, int64_t heads_to_rotate, const RopeTable& rope);

// The scalar decoder's conv epilogue, in place on x [B, C, ...] (float32/bfloat16/float16, CUDA,
// contiguous or 4-D channels-last): x = PReLU_slope(x + bias[c]), then x += residual when
// `residual` is defined (same sizes, dtype and memory format as x). bias [C] (may be undefined:
// no bias step) and slope [1] (nn.PReLU's one shared weight) in x's dtype, contiguous on x's
// device. Bit for bit `x.add_(bias.view({1, C, 1...})); x = at::prelu(x, slope); x.add_(residual)`.
bool fused_bias_prelu_(at::Tensor& x, const at::Tensor& bias, const at::Tensor& slope, const at::Tensor& residual);

// The scalar decoder's 64-channel stage (the last ResDecoderBlock's residual units, the
// PostProcessor and the output conv) on tensor cores (fp16 operands with power-of-two scales:
// TF32's 11-bit significand), one kernel per unit
// instead of two cuDNN convolutions with their layout changes and two epilogues (decoder_kernels.h;
// docs/codec.md "64-channel stage"). Applies to float32 CUDA tensors while TF32 is allowed for cuDNN (the tf32
// decoder of --codec-dtype auto; never for fp32, whose decoder is IEEE float32); x [B, 64, 1, T]
// channels-last, the weights as
// Conv1d::weight4 holds them (channels-last [64, 64, 1, k]), biases [64], slopes [1].
// A ResidualUnit: out = x + PReLU_a2(b2 + conv2(PReLU_a1(b1 + conv1(x)))), conv1 causal, kernel 7,
// `dilation`; conv2 kernel 1. out: a new channels-last tensor like x.
bool fused_residual_unit64(const at::Tensor& x, const at::Tensor& w1, const at::Tensor& b1, const at::Tensor& a1,
                           int64_t dilation, const at::Tensor& w2, const at::Tensor& b2, const at::Tensor& a2,
                           at::Tensor& out);

// The rest of a 128-channel ResidualUnit after its first convolution (cuDNN's, without
// bias): out = x + PReLU_a2(b2 + conv2(PReLU_a1(h + b1))) in one kernel instead of two epilogue
// passes and a GEMM (decoder_kernels.h, launch_pointwise_unit: fp16 operands with power-of-two
// scales, TF32's 11-bit significand). The same conditions as above with C = 128 channels (a
// 256-channel form was slower than the composite): h and x [B, C, 1, T] channels-last, w2
// channels-last [C, C, 1, 1]. out: a new channels-last tensor like x.
bool fused_pointwise_unit(const at::Tensor& h, const at::Tensor& b1, const at::Tensor& a1, const at::Tensor& w2,
                          const at::Tensor& b2, const at::Tensor& a2, const at::Tensor& x, at::Tensor& out);
// The PostProcessor and the output conv for output samples [from, to) of one row: the input
// x [1, 64, 1, T] repeated `rep` times in time, the causal kernel-7 conv wp/bp + PReLU ap, then
// the causal kernel-7 conv wo [1, 64, 1, 7] / bo [1] to one band. audio: [1, 1, to - from] float32.
bool fused_post_and_out64(const at::Tensor& x, int64_t rep, const at::Tensor& wp, const at::Tensor& bp,
                          const at::Tensor& ap, const at::Tensor& wo, const at::Tensor& bo, int64_t from, int64_t to,
                          at::Tensor& audio);

}  // namespace heartmula::codec
