// HeartCodec's own rotary embedding (heartcodec/models/transformer.py RotaryEmbedding +
// apply_rope_vec): base 10000, positions 0..T-1 of each window, rotating interleaved pairs
// (x[2i], x[2i+1]). The angles are computed in float32 and then stored in the compute dtype
// (upstream computes them in the compute dtype; for float32 that is the same table).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace heartmula::codec {

// Laid out for one multiply-add per element: out = x * cos + swap_pairs(x) * sin.
struct RopeTable {
  at::Tensor cos;  // [T, 1, D]: cos(angle_i) at 2i and 2i+1
  at::Tensor sin;  // [T, 1, D]: -sin(angle_i) at 2i, +sin(angle_i) at 2i+1
  int64_t length() const { return cos.defined() ? cos.size(0) : 0; }
};

// inv_freq = 1 / 10000^(arange(0, dim, 2) / dim); angles = outer(arange(T), inv_freq).
RopeTable make_rope(int64_t dim, int64_t seq_len, c10::ScalarType dtype, c10::Device device);

// x [B, T, N, D] (N heads, D == the table's width) -> rotated pairs, same shape and dtype:
// (x[2i], x[2i+1]) -> (x[2i] c - x[2i+1] s, x[2i] s + x[2i+1] c).
at::Tensor apply_rope(const at::Tensor& x, const RopeTable& rope);

}  // namespace heartmula::codec
