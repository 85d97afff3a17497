// The CUDA side of model/fused_ops.h: checks the inputs and launches fused_kernels.cu on the
// current stream (so the kernels are captured with the frame-step graphs).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <cstdlib>
#include <string>

#include "heartmula/error.h"
#include "model/cuda/fused_kernels.h"
#include "model/fused_ops.h"

namespace heartmula::model {

namespace {

bool fused_enabled() {
  static const bool on = std::getenv("HEARTMULA_NO_FUSED") == nullptr;
  return on;
}

int dtype_code(c10::ScalarType t) {
  switch (t) {
    case at::kFloat: return 0;
    case at::kBFloat16: return 1;
    case at::kHalf: return 2;
    default: return -1;
  }
}

void check_launch(int err, const char* what) {
  if (err != 0) throw Error(std::string("CUDA kernel ") + what + " failed: " + cudaGetErrorString(static_cast<cudaError_t>(err)));
}

}  // namespace

bool fused_rms_norm(const at::Tensor& x, const at::Tensor& scale, double eps, at::Tensor& out) {
  const int code = dtype_code(x.scalar_type());
  if (!fused_enabled() || !x.is_cuda() || code < 0 || !x.is_contiguous() || !scale.is_contiguous() ||
      scale.scalar_type() != x.scalar_type() || x.dim() < 1 || scale.numel() != x.size(-1) || x.numel() == 0)
    return false;
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
  check_launch(cuda::launch_rope_qk(code, qkv.data_ptr(), rows.cos.data_ptr<float>(), rows.sin.data_ptr<float>(),
                                    n_rows, qkv.size(2), heads_to_rotate, half,
                                    at::cuda::getCurrentCUDAStream().stream()),
               "rope_qk");
  return true;
}

}  // namespace heartmula::model
