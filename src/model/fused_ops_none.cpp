// Builds without a CUDA LibTorch: no fused kernels, the composite ATen versions run.
#include "model/fused_ops.h"

namespace heartmula::model {

bool fused_rms_norm(const at::Tensor&, const at::Tensor&, double, at::Tensor&) { return false; }
bool fused_rope_qk_(at::Tensor&, int64_t, int64_t, const RopeRows&) { return false; }

bool fused_add_rms_norm(const at::Tensor&, const at::Tensor&, const at::Tensor&, double, at::Tensor&, at::Tensor&) {
  return false;
}
bool fused_silu_mul(const at::Tensor&, at::Tensor&) { return false; }
bool fused_rope_qk_cache_(at::Tensor&, int64_t, int64_t, int64_t, const RopeRows&, const at::Tensor&, at::Tensor&,
                          at::Tensor&) {
  return false;
}

bool fused_decode_attention(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, const at::Tensor&,
                            at::Tensor&) {
  return false;
}
bool fused_int8_linear(const at::Tensor&, const at::Tensor&, const at::Tensor&, at::Tensor&) { return false; }
bool fused_int8_linear_ex(const at::Tensor&, const at::Tensor&, const at::Tensor&, LinearPrologue, const at::Tensor&,
                          double, const at::Tensor&, at::Tensor&) {
  return false;
}
bool fused_int8_glu(const at::Tensor&, const at::Tensor&, const at::Tensor&, LinearPrologue, const at::Tensor&, double,
                    at::Tensor&) {
  return false;
}
void set_int8_fusions(unsigned) {}
bool fused_decode_attention_available(c10::ScalarType, c10::Device) { return false; }

}  // namespace heartmula::model
