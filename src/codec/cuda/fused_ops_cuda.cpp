// The CUDA side of codec/fused_ops.h: checks the tensors and launches dit_kernels.cu on the
// current stream (no host sync, no allocation but the outputs), so CUDA graphs can capture it.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "codec/cuda/decoder_kernels.h"
#include "codec/cuda/dit_kernels.h"
#include "codec/fused_ops.h"
#include "heartmula/error.h"
#include "io/cuda/dtype_code.h"
#include "io/switches.h"

namespace heartmula::codec {

namespace {

using io::cuda::dtype_code;

std::atomic<bool>& enabled_flag() {
  static std::atomic<bool> on{!io::switch_on(io::Switch::kNoFused)};
  return on;
}

// The launchers' result: true when the kernel ran, false when it did not suit (-1); throws on a
// CUDA error.
bool launched(int err, const char* what) {
  if (err == -1) return false;
  if (err != 0)
    throw Error(std::string("CUDA kernel codec ") + what +
                " failed: " + cudaGetErrorString(static_cast<cudaError_t>(err)));
  return true;
}

void* stream() { return at::cuda::getCurrentCUDAStream().stream(); }

// A contiguous CUDA tensor of `dtype` on x's device.
bool usable(const at::Tensor& t, const at::Tensor& x, c10::ScalarType dtype) {
  return t.defined() && t.is_cuda() && t.device() == x.device() && t.scalar_type() == dtype && t.is_contiguous();
}

// x float32 [B, T, D] contiguous on CUDA, non-empty.
bool usable_stream(const at::Tensor& x) {
  return enabled_flag().load() && x.defined() && x.is_cuda() && x.scalar_type() == at::kFloat && x.dim() == 3 &&
         x.is_contiguous() && x.numel() > 0;
}

// mod float32 [B, R, D] contiguous with row < R.
bool usable_mod(const at::Tensor& mod, const at::Tensor& x, int64_t row) {
  return usable(mod, x, at::kFloat) && mod.dim() == 3 && mod.size(0) == x.size(0) && mod.size(2) == x.size(2) &&
         row >= 0 && row < mod.size(1);
}

// out = x + mod[:, gate_row] * y; out may be x.
bool gated_residual(const at::Tensor& x, const at::Tensor& mod, int64_t gate_row, const at::Tensor& y,
                    const at::Tensor& out) {
  c10::cuda::CUDAGuard guard(x.device());
  return launched(cuda::launch_gated_residual(dtype_code(y.scalar_type()), x.data_ptr<float>(), out.data_ptr<float>(),
                                              mod.data_ptr<float>(), y.data_ptr(), x.size(0) * x.size(1), x.size(1),
                                              x.size(2), mod.size(1), gate_row, stream()),
                  "gated_residual");
}

// The kernel's channel stride for x [B, C, ...]: 1 when channels are innermost (4-D
// channels-last), the product of the sizes after C when x is contiguous; 0 when neither.
int64_t channel_inner(const at::Tensor& x) {
  if (x.dim() < 2) return 0;
  if (x.is_contiguous()) return x.numel() / (x.size(0) * x.size(1));
  if (x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast)) return 1;
  return 0;
}

bool gated_residual_applies(const at::Tensor& x, const at::Tensor& mod, int64_t gate_row, const at::Tensor& y) {
  return usable_stream(x) && usable_mod(mod, x, gate_row) && y.defined() && dtype_code(y.scalar_type()) >= 0 &&
         usable(y, x, y.scalar_type()) && y.sizes().equals(x.sizes());
}

// The 64-channel stage's kernels (fused_residual_unit64, fused_post_and_out64): float32 with
// TF32 allowed, not switched off.
bool conv64_enabled(const at::Tensor& x) {
  return enabled_flag().load() && at::globalContext().allowTF32CuDNN() && x.defined() && x.is_cuda() &&
         x.scalar_type() == at::kFloat && x.dim() == 4 && x.size(1) == 64 && x.size(2) == 1 && x.size(3) > 0 &&
         x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

// A [64, 64 or 1, 1, k] float32 channels-last weight on x's device.
bool usable_weight64(const at::Tensor& w, const at::Tensor& x, int64_t out, int64_t k) {
  return w.defined() && w.is_cuda() && w.device() == x.device() && w.scalar_type() == at::kFloat && w.dim() == 4 &&
         w.size(0) == out && w.size(1) == 64 && w.size(2) == 1 && w.size(3) == k &&
         w.is_contiguous(at::MemoryFormat::ChannelsLast);
}

bool usable_vec(const at::Tensor& t, const at::Tensor& x, int64_t n) {
  return usable(t, x, at::kFloat) && t.numel() == n;
}

}  // namespace

void set_fused_ops_enabled(bool on) { enabled_flag().store(on); }
bool fused_ops_enabled() { return enabled_flag().load(); }

bool fused_modulated_rms_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& mod, int64_t shift_row,
                              int64_t scale_row, double eps, c10::ScalarType out_dtype, at::Tensor& out) {
  const int code = dtype_code(out_dtype);
  if (code < 0 || !usable_stream(x) || !usable(weight, x, at::kFloat) || weight.numel() != x.size(2) ||
      !usable_mod(mod, x, shift_row) || !usable_mod(mod, x, scale_row))
    return false;
  c10::cuda::CUDAGuard guard(x.device());
  at::Tensor o = at::empty(x.sizes(), x.options().dtype(out_dtype));
  if (!launched(
          cuda::launch_modulated_rms_norm(code, x.data_ptr<float>(), weight.data_ptr<float>(), mod.data_ptr<float>(),
                                          o.data_ptr(), x.size(0) * x.size(1), x.size(1), x.size(2), mod.size(1),
                                          shift_row, scale_row, static_cast<float>(eps), stream()),
          "modulated_rms_norm"))
    return false;
  out = o;
  return true;
}

bool fused_gated_residual_(at::Tensor& x, const at::Tensor& mod, int64_t gate_row, const at::Tensor& y) {
  if (!gated_residual_applies(x, mod, gate_row, y)) return false;
  return gated_residual(x, mod, gate_row, y, x);
}

bool fused_gated_residual(const at::Tensor& x, const at::Tensor& mod, int64_t gate_row, const at::Tensor& y,
                          at::Tensor& out) {
  if (!gated_residual_applies(x, mod, gate_row, y)) return false;
  at::Tensor o = at::empty_like(x);
  if (!gated_residual(x, mod, gate_row, y, o)) return false;
  out = o;
  return true;
}

bool fused_gated_residual_rms_norm(const at::Tensor& x, const at::Tensor& gate_mod, int64_t gate_row,
                                   const at::Tensor& y, const at::Tensor& weight, const at::Tensor& norm_mod,
                                   int64_t shift_row, int64_t scale_row, double eps, bool in_place, at::Tensor& x_out,
                                   at::Tensor& h) {
  if (!gated_residual_applies(x, gate_mod, gate_row, y) || !usable(weight, x, at::kFloat) ||
      weight.numel() != x.size(2) || !usable_mod(norm_mod, x, shift_row) || !usable_mod(norm_mod, x, scale_row) ||
      norm_mod.size(1) != gate_mod.size(1))
    return false;
  c10::cuda::CUDAGuard guard(x.device());
  at::Tensor xo = in_place ? x : at::empty_like(x);
  at::Tensor o = at::empty(x.sizes(), x.options().dtype(y.scalar_type()));
  if (!launched(cuda::launch_gated_residual_rms_norm(
                    dtype_code(y.scalar_type()), x.data_ptr<float>(), xo.data_ptr<float>(), gate_mod.data_ptr<float>(),
                    gate_row, y.data_ptr(), weight.data_ptr<float>(), norm_mod.data_ptr<float>(), o.data_ptr(),
                    x.size(0) * x.size(1), x.size(1), x.size(2), norm_mod.size(1), shift_row, scale_row,
                    static_cast<float>(eps), stream()),
                "gated_residual_rms_norm"))
    return false;
  x_out = xo;
  h = o;
  return true;
}

bool fused_silu_mul(const at::Tensor& gu, int64_t hidden, at::Tensor& out) {
  const int code = gu.defined() ? dtype_code(gu.scalar_type()) : -1;
  if (!enabled_flag().load() || code < 0 || !gu.is_cuda() || !gu.is_contiguous() || gu.dim() < 1 || hidden <= 0 ||
      gu.size(-1) != 2 * hidden || gu.numel() == 0)
    return false;
  c10::cuda::CUDAGuard guard(gu.device());
  std::vector<int64_t> shape(gu.sizes().begin(), gu.sizes().end());
  shape.back() = hidden;
  at::Tensor o = at::empty(shape, gu.options());
  if (!launched(cuda::launch_silu_mul(code, gu.data_ptr(), o.data_ptr(), gu.numel() / (2 * hidden), hidden, stream()),
                "silu_mul"))
    return false;
  out = o;
  return true;
}

bool fused_rope_heads_(at::Tensor& qkv, int64_t heads_to_rotate, const RopeTable& rope) {
  const int code = qkv.defined() ? dtype_code(qkv.scalar_type()) : -1;
  if (!enabled_flag().load() || code < 0 || !qkv.is_cuda() || !qkv.is_contiguous() || qkv.dim() != 4 ||
      qkv.numel() == 0 || heads_to_rotate <= 0 || heads_to_rotate > qkv.size(2))
    return false;
  const int64_t t = qkv.size(1), hd = qkv.size(3);
  for (const at::Tensor* tab : {&rope.cos, &rope.sin})
    if (!usable(*tab, qkv, qkv.scalar_type()) || tab->dim() != 3 || tab->size(0) != t || tab->size(1) != 1 ||
        tab->size(2) != hd)
      return false;
  c10::cuda::CUDAGuard guard(qkv.device());
  return launched(cuda::launch_rope_heads(code, qkv.data_ptr(), rope.cos.data_ptr(), rope.sin.data_ptr(),
                                          qkv.size(0) * t, t, qkv.size(2) * hd, heads_to_rotate, hd, stream()),
                  "rope_heads");
}

bool fused_bias_prelu_(at::Tensor& x, const at::Tensor& bias, const at::Tensor& slope, const at::Tensor& residual) {
  const int code = x.defined() ? dtype_code(x.scalar_type()) : -1;
  if (!enabled_flag().load() || code < 0 || !x.is_cuda() || x.numel() == 0) return false;
  const int64_t inner = channel_inner(x);
  if (inner == 0 || !usable(slope, x, x.scalar_type()) || slope.numel() != 1) return false;
  if (bias.defined() && (!usable(bias, x, x.scalar_type()) || bias.dim() != 1 || bias.size(0) != x.size(1)))
    return false;
  if (residual.defined() &&
      (!residual.is_cuda() || residual.device() != x.device() || residual.scalar_type() != x.scalar_type() ||
       !residual.sizes().equals(x.sizes()) || channel_inner(residual) != inner ||
       (inner == 1 && !residual.is_contiguous(at::MemoryFormat::ChannelsLast)) ||
       (inner != 1 && !residual.is_contiguous())))
    return false;
  c10::cuda::CUDAGuard guard(x.device());
  return launched(cuda::launch_bias_prelu(code, x.data_ptr(), bias.defined() ? bias.data_ptr() : nullptr,
                                          slope.data_ptr(), residual.defined() ? residual.data_ptr() : nullptr,
                                          x.numel(), x.size(1), inner, stream()),
                  "bias_prelu");
}

bool fused_residual_unit64(const at::Tensor& x, const at::Tensor& w1, const at::Tensor& b1, const at::Tensor& a1,
                           int64_t dilation, const at::Tensor& w2, const at::Tensor& b2, const at::Tensor& a2,
                           at::Tensor& out) {
  if (!conv64_enabled(x) || !usable_weight64(w1, x, 64, 7) || !usable_weight64(w2, x, 64, 1) ||
      !usable_vec(b1, x, 64) || !usable_vec(b2, x, 64) || !usable_vec(a1, x, 1) || !usable_vec(a2, x, 1) ||
      dilation < 1)
    return false;
  c10::cuda::CUDAGuard guard(x.device());
  at::Tensor y = at::empty_like(x, at::MemoryFormat::ChannelsLast);
  const int64_t t = x.size(3);
  if (!launched(
          cuda::launch_conv64(x.data_ptr<float>(), y.data_ptr<float>(), w1.data_ptr<float>(), b1.data_ptr<float>(),
                              a1.data_ptr<float>(), w2.data_ptr<float>(), b2.data_ptr<float>(), a2.data_ptr<float>(),
                              x.size(0), t, t, 0, static_cast<int>(dilation), 1, true, stream()),
          "conv64 (residual unit)"))
    return false;
  out = y;
  return true;
}

bool fused_pointwise_unit(const at::Tensor& h, const at::Tensor& b1, const at::Tensor& a1, const at::Tensor& w2,
                          const at::Tensor& b2, const at::Tensor& a2, const at::Tensor& x, at::Tensor& out) {
  if (!enabled_flag().load() || !at::globalContext().allowTF32CuDNN() || !h.defined() || !h.is_cuda() ||
      h.scalar_type() != at::kFloat || h.dim() != 4 || h.size(2) != 1 || h.size(3) <= 0)
    return false;
  const int64_t c = h.size(1);
  if (c != 128 || !h.is_contiguous(at::MemoryFormat::ChannelsLast) || !x.defined() || !x.sizes().equals(h.sizes()) ||
      !x.is_cuda() || x.device() != h.device() || x.scalar_type() != at::kFloat ||
      !x.is_contiguous(at::MemoryFormat::ChannelsLast) || !w2.defined() || !w2.is_cuda() || w2.device() != h.device() ||
      w2.scalar_type() != at::kFloat || !w2.sizes().equals({c, c, 1, 1}) ||
      !w2.is_contiguous(at::MemoryFormat::ChannelsLast) || !usable_vec(b1, h, c) || !usable_vec(b2, h, c) ||
      !usable_vec(a1, h, 1) || !usable_vec(a2, h, 1))
    return false;
  c10::cuda::CUDAGuard guard(h.device());
  at::Tensor y = at::empty_like(x, at::MemoryFormat::ChannelsLast);
  if (!launched(cuda::launch_pointwise_unit(static_cast<int>(c), h.data_ptr<float>(), x.data_ptr<float>(),
                                            y.data_ptr<float>(), b1.data_ptr<float>(), a1.data_ptr<float>(),
                                            w2.data_ptr<float>(), b2.data_ptr<float>(), a2.data_ptr<float>(),
                                            h.size(0) * h.size(3), stream()),
                "pointwise_unit"))
    return false;
  out = y;
  return true;
}

bool fused_post_and_out64(const at::Tensor& x, int64_t rep, const at::Tensor& wp, const at::Tensor& bp,
                          const at::Tensor& ap, const at::Tensor& wo, const at::Tensor& bo, int64_t from, int64_t to,
                          at::Tensor& audio) {
  constexpr int64_t kContext = 6;  // the output conv's causal context (kernel 7, dilation 1)
  if (!conv64_enabled(x) || x.size(0) != 1 || rep < 1 || rep > 64 || !usable_weight64(wp, x, 64, 7) ||
      !usable_weight64(wo, x, 1, 7) || !usable_vec(bp, x, 64) || !usable_vec(ap, x, 1) || !usable_vec(bo, x, 1) ||
      from < 0 || to <= from || to > x.size(3) * rep)
    return false;
  c10::cuda::CUDAGuard guard(x.device());
  const int64_t n = to - from;
  // h for steps [from - 6, to): the post conv's output, zero before step 0 (the output conv's padding).
  at::Tensor h = at::empty({n + kContext, 64}, x.options());
  if (!launched(cuda::launch_conv64(x.data_ptr<float>(), h.data_ptr<float>(), wp.data_ptr<float>(),
                                    bp.data_ptr<float>(), ap.data_ptr<float>(), nullptr, nullptr, nullptr, 1, x.size(3),
                                    n + kContext, from - kContext, 1, static_cast<int>(rep), false, stream()),
                "conv64 (post conv)"))
    return false;
  at::Tensor y = at::empty({1, 1, n}, x.options());
  if (!launched(cuda::launch_out_conv64(h.data_ptr<float>(), y.data_ptr<float>(), wo.data_ptr<float>(),
                                        bo.data_ptr<float>(), n, stream()),
                "out_conv64"))
    return false;
  audio = y;
  return true;
}

}  // namespace heartmula::codec
