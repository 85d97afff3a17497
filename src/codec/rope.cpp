#include "codec/rope.h"

#include <ATen/ATen.h>

namespace heartmula::codec {

RopeTable make_rope(int64_t dim, int64_t seq_len, const at::Tensor& like) {
  auto opts = like.options();
  at::Tensor exponent = at::arange(0, dim, 2, opts) / static_cast<double>(dim);
  at::Tensor inv_freq = at::reciprocal(at::pow(10000.0, exponent));
  at::Tensor t = at::arange(seq_len, opts);
  at::Tensor freqs = at::outer(t, inv_freq);
  return {freqs.sin(), freqs.cos()};
}

at::Tensor apply_rope(const at::Tensor& x, const RopeTable& rope) {
  const int64_t b = x.size(0), h = x.size(1), t = x.size(2), d = x.size(3);
  at::Tensor pairs = x.reshape({b, h, t, d / 2, 2});
  at::Tensor x1 = pairs.select(-1, 0);
  at::Tensor x2 = pairs.select(-1, 1);
  const at::Tensor& s = rope.sin;  // [T, D/2] broadcasts over [B, H, T, D/2]
  const at::Tensor& c = rope.cos;
  at::Tensor r1 = x1 * c - x2 * s;
  at::Tensor r2 = x1 * s + x2 * c;
  return at::stack({r1, r2}, -1).reshape({b, h, t, d});
}

}  // namespace heartmula::codec
