// HeartCodec's own rotary embedding (heartcodec/models/transformer.py RotaryEmbedding +
// apply_rope_vec): base 10000, positions 0..T-1 of each window, rotating interleaved pairs
// (x[2i], x[2i+1]), with sin/cos computed in the compute dtype (as upstream does).
#pragma once

#include <ATen/core/Tensor.h>

namespace heartmula::codec {

struct RopeTable {
  at::Tensor sin, cos;  // [T, dim/2] in the compute dtype
};

// inv_freq = 1 / 10000^(arange(0, dim, 2) / dim); angles = outer(arange(T), inv_freq).
RopeTable make_rope(int64_t dim, int64_t seq_len, const at::Tensor& like);

// x [B, H, T, D] (D == 2 * table width) -> rotated pairs, same shape and dtype.
at::Tensor apply_rope(const at::Tensor& x, const RopeTable& rope);

}  // namespace heartmula::codec
