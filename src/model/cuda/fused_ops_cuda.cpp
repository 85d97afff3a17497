// The CUDA side of model/fused_ops.h: checks the inputs and launches fused_kernels.cu on the
// current stream (so the kernels are captured with the frame-step graphs).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>
#include <string>

#include "heartmula/error.h"
#include "io/cuda/dtype_code.h"
#include "io/switches.h"
#include "model/cuda/decode_kernels.h"
#include "model/cuda/fused_kernels.h"
#include "model/cuda/int8_linear.h"
#include "model/fused_ops.h"

namespace heartmula::model {

namespace {

using io::cuda::dtype_code;

bool fused_enabled() { return !io::switch_on(io::Switch::kNoFused); }

void check_launch(int err, const char* what) {
  if (err != 0)
    throw Error(std::string("CUDA kernel ") + what + " failed: " + cudaGetErrorString(static_cast<cudaError_t>(err)));
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

bool fused_add_rms_norm(const at::Tensor& x, const at::Tensor& y, const at::Tensor& scale, double eps, at::Tensor& sum,
                        at::Tensor& out) {
  const int code = dtype_code(x.scalar_type());
  if (!fused_enabled() || !x.is_cuda() || code < 0 || !x.is_contiguous() || !scale.is_contiguous() ||
      scale.scalar_type() != x.scalar_type() || x.dim() < 1 || scale.numel() != x.size(-1) || x.numel() == 0 ||
      !aligned16(x.data_ptr()) || !aligned16(scale.data_ptr()))
    return false;
  if (y.defined() && (!y.is_cuda() || !y.is_contiguous() || y.scalar_type() != x.scalar_type() ||
                      !y.sizes().equals(x.sizes()) || !aligned16(y.data_ptr())))
    return false;
  c10::cuda::CUDAGuard guard(x.device());
  const int64_t d = x.size(-1);
  at::Tensor s = y.defined() ? at::empty_like(x) : x;
  at::Tensor o = at::empty_like(x);
  const int err = cuda::launch_add_rms_norm(code, x.data_ptr(), y.defined() ? y.data_ptr() : nullptr, scale.data_ptr(),
                                            y.defined() ? s.data_ptr() : nullptr, o.data_ptr(), x.numel() / d, d,
                                            static_cast<float>(eps), at::cuda::getCurrentCUDAStream().stream());
  if (err == -1) return false;  // a width the vectorised kernel does not take
  check_launch(err, "add_rms_norm");
  sum = s;
  out = o;
  return true;
}

bool fused_silu_mul(const at::Tensor& gu, at::Tensor& out) {
  const int code = dtype_code(gu.scalar_type());
  if (!fused_enabled() || !gu.is_cuda() || code < 0 || !gu.is_contiguous() || gu.dim() < 1 || gu.size(-1) % 2 != 0 ||
      gu.numel() == 0)
    return false;
  c10::cuda::CUDAGuard guard(gu.device());
  const int64_t f = gu.size(-1) / 2;
  std::vector<int64_t> shape(gu.sizes().begin(), gu.sizes().end());
  shape.back() = f;
  out = at::empty(shape, gu.options());
  check_launch(cuda::launch_silu_mul(code, gu.data_ptr(), out.data_ptr(), gu.numel() / (2 * f), f,
                                     at::cuda::getCurrentCUDAStream().stream()),
               "silu_mul");
  return true;
}

bool fused_rope_qk_cache_(at::Tensor& qkv, int64_t heads, int64_t kv_heads, int64_t head_dim, const RopeRows& rows,
                          const at::Tensor& slots, at::Tensor& k_cache, at::Tensor& v_cache) {
  const int code = dtype_code(qkv.scalar_type());
  if (!fused_enabled() || !qkv.is_cuda() || code < 0 || !qkv.is_contiguous() || qkv.dim() != 3 ||
      qkv.size(2) != (heads + 2 * kv_heads) * head_dim || head_dim % 2 != 0 || !rows.cos.is_contiguous() ||
      !rows.sin.is_contiguous() || rows.cos.scalar_type() != at::kFloat || rows.sin.scalar_type() != at::kFloat ||
      !slots.is_cuda() || slots.scalar_type() != at::kLong || !slots.is_contiguous() || slots.dim() != 1 ||
      slots.size(0) != qkv.size(1) || !k_cache.is_contiguous() || !v_cache.is_contiguous() || k_cache.dim() != 4 ||
      !k_cache.sizes().equals(v_cache.sizes()) || k_cache.scalar_type() != qkv.scalar_type() ||
      v_cache.scalar_type() != qkv.scalar_type() || k_cache.size(0) != qkv.size(0) || k_cache.size(1) != kv_heads ||
      k_cache.size(3) != head_dim)
    return false;
  const int64_t b = qkv.size(0), s = qkv.size(1), half = head_dim / 2;
  if (rows.cos.numel() != b * s * half || rows.sin.numel() != b * s * half) return false;
  c10::cuda::CUDAGuard guard(qkv.device());
  check_launch(
      cuda::launch_rope_qk_cache(code, qkv.data_ptr(), rows.cos.data_ptr<float>(), rows.sin.data_ptr<float>(),
                                 slots.data_ptr<int64_t>(), k_cache.data_ptr(), v_cache.data_ptr(), b, s, heads,
                                 kv_heads, half, k_cache.size(2), at::cuda::getCurrentCUDAStream().stream()),
      "rope_qk_cache");
  return true;
}

bool fused_rms_norm(const at::Tensor& x, const at::Tensor& scale, double eps, at::Tensor& out) {
  const int code = dtype_code(x.scalar_type());
  if (!fused_enabled() || !x.is_cuda() || code < 0 || !x.is_contiguous() || !scale.is_contiguous() ||
      scale.scalar_type() != x.scalar_type() || x.dim() < 1 || scale.numel() != x.size(-1) || x.numel() == 0)
    return false;
  at::Tensor unused;
  if (fused_add_rms_norm(x, at::Tensor(), scale, eps, unused, out)) return true;
  c10::cuda::CUDAGuard guard(x.device());
  out = at::empty_like(x);
  const int64_t d = x.size(-1);
  check_launch(cuda::launch_rms_norm(code, x.data_ptr(), scale.data_ptr(), out.data_ptr(), x.numel() / d, d,
                                     static_cast<float>(eps), at::cuda::getCurrentCUDAStream().stream()),
               "rms_norm");
  return true;
}

bool fused_rope_qk_(at::Tensor& qkv, int64_t heads_to_rotate, int64_t head_dim, const RopeRows& rows) {
  const int code = dtype_code(qkv.scalar_type());
  if (!fused_enabled() || !qkv.is_cuda() || code < 0 || !qkv.is_contiguous() || qkv.dim() != 3 ||
      !rows.cos.is_contiguous() || !rows.sin.is_contiguous() || rows.cos.scalar_type() != at::kFloat ||
      rows.sin.scalar_type() != at::kFloat || head_dim % 2 != 0)
    return false;
  const int64_t n_rows = qkv.size(0) * qkv.size(1), half = head_dim / 2;
  if (rows.cos.numel() != n_rows * half || rows.sin.numel() != n_rows * half) return false;
  c10::cuda::CUDAGuard guard(qkv.device());
  check_launch(
      cuda::launch_rope_qk(code, qkv.data_ptr(), rows.cos.data_ptr<float>(), rows.sin.data_ptr<float>(), n_rows,
                           qkv.size(2), heads_to_rotate, half, at::cuda::getCurrentCUDAStream().stream()),
      "rope_qk");
  return true;
}

bool fused_attention_enabled() { return fused_enabled() && !io::switch_on(io::Switch::kNoFusedAttention); }

bool fused_decode_attention_available(c10::ScalarType dtype, c10::Device device) {
  return fused_attention_enabled() && device.is_cuda() && dtype_code(dtype) >= 0;
}

bool fused_decode_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache, int64_t kv_len,
                            const at::Tensor& mask, at::Tensor& out) {
  const int code = dtype_code(q.scalar_type());
  if (!fused_attention_enabled() || !q.is_cuda() || code < 0 || q.dim() != 4 || q.size(1) != 1 || q.stride(3) != 1 ||
      q.stride(2) != q.size(3) || k_cache.dim() != 4 || !k_cache.is_contiguous() || !v_cache.is_contiguous() ||
      !k_cache.sizes().equals(v_cache.sizes()) || k_cache.scalar_type() != q.scalar_type() ||
      v_cache.scalar_type() != q.scalar_type() || k_cache.size(0) != q.size(0) || k_cache.size(3) != q.size(3) ||
      kv_len < 1 || kv_len > k_cache.size(2) || !aligned16(k_cache.data_ptr()) || !aligned16(v_cache.data_ptr()))
    return false;
  int64_t mask_bstride = 0;
  const bool* mask_ptr = nullptr;
  if (mask.defined()) {
    if (mask.scalar_type() != at::kBool || mask.dim() != 4 || mask.size(2) != 1 || mask.size(3) != kv_len ||
        mask.stride(3) != 1 || !(mask.size(0) == 1 || mask.size(0) == q.size(0)) || !mask.is_cuda())
      return false;
    mask_bstride = mask.size(0) == 1 ? 0 : mask.stride(0);
    mask_ptr = mask.data_ptr<bool>();
  }
  const int64_t b = q.size(0), h = q.size(2), hd = q.size(3), hkv = k_cache.size(1);
  // The depth decoder (head_dim 384, at most 9 positions) takes the few-positions kernel; a longer
  // context with head_dim 384 stays on ATen's SDPA (the split kernel's serial dot products).
  if (hd > 128 && (kv_len > cuda::kDecodeAttentionShortMax || io::switch_on(io::Switch::kDecoderSdpa))) return false;
  c10::cuda::CUDAGuard guard(q.device());
  at::Tensor o = at::empty({b, 1, h, hd}, q.options());
  at::Tensor scratch =
      at::empty({cuda::decode_attention_scratch_floats(b, h, hd, kv_len)}, q.options().dtype(at::kFloat));
  const int err = cuda::launch_decode_attention(
      code, q.data_ptr(), q.stride(0), k_cache.data_ptr(), v_cache.data_ptr(), mask_ptr, mask_bstride, o.data_ptr(),
      scratch.data_ptr<float>(), b, h, hkv, hd, k_cache.size(2), kv_len,
      static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd))), at::cuda::getCurrentCUDAStream().stream());
  if (err == -1) return false;
  check_launch(err, "decode_attention");
  out = o;
  return true;
}

namespace {

// HEARTMULA_PDL=1: the int8 kernel is launched with programmatic dependent launch (docs/performance.md).
bool int8_pdl() {
  static const bool on = io::switch_on(io::Switch::kPdl);
  return on;
}

std::atomic<unsigned>& int8_fusion_mask() {
  static std::atomic<unsigned> mask{parse_int8_fusions(io::switch_string(io::Switch::kInt8Fusion))};
  return mask;
}

bool int8_fusion_on(unsigned which) { return (int8_fusion_mask().load(std::memory_order_relaxed) & which) != 0; }

bool bf16_cuda_contiguous(const at::Tensor& t, const at::Tensor& like) {
  return t.is_cuda() && t.scalar_type() == at::kBFloat16 && t.is_contiguous() && t.device() == like.device();
}

}  // namespace

namespace {

bool int8_linear_impl(const at::Tensor& x, const at::Tensor& q, const at::Tensor& scale, LinearPrologue prologue,
                      const at::Tensor& norm_scale, double eps, const at::Tensor& residual, bool glu, at::Tensor& out) {
  if (!fused_enabled() || !x.is_cuda() || x.scalar_type() != at::kBFloat16 || q.scalar_type() != at::kChar ||
      scale.scalar_type() != at::kFloat || q.dim() != 2 || x.dim() < 1 || scale.dim() != 1 ||
      scale.size(0) != q.size(0) || !x.is_contiguous() || !q.is_contiguous() || !scale.is_contiguous() ||
      q.device() != x.device() || scale.device() != x.device())
    return false;
  if (((prologue == LinearPrologue::RmsNorm || residual.defined()) && !int8_fusion_on(kInt8FuseNorm)) ||
      (glu && (!int8_fusion_on(kInt8FuseGlu) || residual.defined() || q.size(0) % 2 != 0)))
    return false;
  const int64_t k = q.size(1), n = glu ? q.size(0) / 2 : q.size(0);
  if (x.size(-1) != k) return false;
  const int64_t rows = x.numel() / std::max<int64_t>(k, 1);
  if (rows < 1 || rows > cuda::kInt8LinearMaxRows) return false;
  if (prologue == LinearPrologue::RmsNorm &&
      (!bf16_cuda_contiguous(norm_scale, x) || norm_scale.numel() != k || !aligned16(norm_scale.data_ptr())))
    return false;
  if (residual.defined() && (!bf16_cuda_contiguous(residual, x) || residual.numel() != rows * n)) return false;
  c10::cuda::CUDAGuard guard(x.device());
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = n;
  at::Tensor o = at::empty(shape, x.options());
  cuda::Int8LinearArgs a;
  a.x = x.data_ptr();
  a.q = q.data_ptr<int8_t>();
  a.scale = scale.data_ptr<float>();
  a.out = o.data_ptr();
  a.rows = rows;
  a.n_out = n;
  a.k = k;
  a.prologue = prologue == LinearPrologue::RmsNorm ? cuda::Int8Prologue::RmsNorm : cuda::Int8Prologue::None;
  a.norm_weight = prologue == LinearPrologue::RmsNorm ? norm_scale.data_ptr() : nullptr;
  a.eps = static_cast<float>(eps);
  a.residual = residual.defined() ? residual.data_ptr() : nullptr;
  a.glu = glu;
  a.pdl = int8_pdl();
  const int err = cuda::launch_int8_linear(a, at::cuda::getCurrentCUDAStream().stream());
  if (err == -1) return false;
  check_launch(err, glu ? "int8_linear (glu)" : "int8_linear");
  out = o;
  return true;
}

}  // namespace

bool fused_int8_linear_ex(const at::Tensor& x, const at::Tensor& q, const at::Tensor& scale, LinearPrologue prologue,
                          const at::Tensor& norm_scale, double eps, const at::Tensor& residual, at::Tensor& out) {
  return int8_linear_impl(x, q, scale, prologue, norm_scale, eps, residual, false, out);
}

bool fused_int8_glu(const at::Tensor& x, const at::Tensor& q, const at::Tensor& scale, LinearPrologue prologue,
                    const at::Tensor& norm_scale, double eps, at::Tensor& out) {
  return int8_linear_impl(x, q, scale, prologue, norm_scale, eps, at::Tensor(), true, out);
}

void set_int8_fusions(unsigned mask) { int8_fusion_mask().store(mask); }

bool fused_int8_linear(const at::Tensor& x, const at::Tensor& q, const at::Tensor& scale, at::Tensor& out) {
  return fused_int8_linear_ex(x, q, scale, LinearPrologue::None, at::Tensor(), 0.0, at::Tensor(), out);
}

}  // namespace heartmula::model
