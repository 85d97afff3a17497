// Llama-3 scaled rotary position embedding (torchtune Llama3ScaledRoPE), applied to
// interleaved pairs (x[2i], x[2i+1]) and computed in float32 whatever the compute dtype.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "model/config.h"

namespace heartmula::model {

// theta [head_dim/2] float32: base^(-2i/head_dim) with the Llama-3 wavelength scaling
// (scale_factor, low_freq_factor 1, high_freq_factor 4, old_context_len 8192).
at::Tensor llama3_rope_theta(int64_t head_dim, double base, double scale_factor);

// cos/sin of position * theta for positions [0, max_len).
struct RopeTable {
  at::Tensor cos;  // [max_len, head_dim/2] float32
  at::Tensor sin;  // [max_len, head_dim/2] float32

  static RopeTable build(const TransformerConfig& cfg, int64_t max_len, c10::Device device);
  int64_t max_len() const;
};

// The table rows for `positions` [B, S] (int64, on the table's device), shaped for
// apply_rope: cos, sin [B, S, 1, head_dim/2].
struct RopeRows {
  at::Tensor cos;
  at::Tensor sin;
};
RopeRows gather_rope(const RopeTable& table, const at::Tensor& positions);

// x [B, S, H, head_dim] (any float dtype) -> same shape and dtype, rotated in float32.
at::Tensor apply_rope(const at::Tensor& x, const RopeRows& rows);

}  // namespace heartmula::model
