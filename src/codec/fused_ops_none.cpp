// Builds without a CUDA LibTorch: no fused kernels, the DiT block runs the composite ATen code.
#include "codec/fused_ops.h"

#include <atomic>

#include "io/switches.h"

namespace heartmula::codec {

namespace {
std::atomic<bool>& enabled_flag() {
  static std::atomic<bool> on{!io::switch_on(io::Switch::kNoFused)};
  return on;
}
}  // namespace

void set_fused_ops_enabled(bool on) { enabled_flag().store(on); }
bool fused_ops_enabled() { return enabled_flag().load(); }

bool fused_modulated_rms_norm(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, int64_t, double,
                              c10::ScalarType, at::Tensor&) {
  return false;
}
bool fused_gated_residual_(at::Tensor&, const at::Tensor&, int64_t, const at::Tensor&) { return false; }
bool fused_gated_residual(const at::Tensor&, const at::Tensor&, int64_t, const at::Tensor&, at::Tensor&) {
  return false;
}
bool fused_gated_residual_rms_norm(const at::Tensor&, const at::Tensor&, int64_t, const at::Tensor&, const at::Tensor&,
                                   const at::Tensor&, int64_t, int64_t, double, bool, at::Tensor&, at::Tensor&) {
  return false;
}
bool fused_pointwise_unit(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                          const at::Tensor&, const at::Tensor&, at::Tensor&) {
  return false;
}
bool fused_silu_mul(const at::Tensor&, int64_t, at::Tensor&) { return false; }
bool fused_rope_heads_(at::Tensor&, int64_t, const RopeTable&) { return false; }
bool fused_bias_prelu_(at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&) { return false; }
bool fused_residual_unit64(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                           const at::Tensor&, const at::Tensor&, const at::Tensor&, at::Tensor&) {
  return false;
}
bool fused_post_and_out64(const at::Tensor&, int64_t, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                          const at::Tensor&, const at::Tensor&, int64_t, int64_t, at::Tensor&) {
  return false;
}

}  // namespace heartmula::codec
