#include "codec/rope.h"

#include <ATen/ATen.h>
#include <vector>

namespace heartmula::codec {

RopeTable make_rope(int64_t dim, int64_t seq_len, c10::ScalarType dtype, c10::Device device) {
  auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
  at::Tensor exponent = at::arange(0, dim, 2, opts) / static_cast<double>(dim);
  at::Tensor inv_freq = at::reciprocal(at::pow(10000.0, exponent));
  at::Tensor freqs = at::outer(at::arange(seq_len, opts), inv_freq);  // [T, D/2]
  at::Tensor s = freqs.sin(), c = freqs.cos();
  RopeTable r;
  r.cos = at::stack({c, c}, -1).reshape({seq_len, 1, dim}).to(dtype);
  r.sin = at::stack({-s, s}, -1).reshape({seq_len, 1, dim}).to(dtype);
  return r;
}

at::Tensor apply_rope(const at::Tensor& x, const RopeTable& rope) {
  std::vector<int64_t> pairs = x.sizes().vec();
  const int64_t d = pairs.back();
  pairs.back() = d / 2;
  pairs.push_back(2);
  // (x[2i], x[2i+1]) -> (x[2i+1], x[2i])
  at::Tensor swapped = x.reshape(pairs).flip({-1}).reshape(x.sizes());
  return at::addcmul(x * rope.cos, swapped, rope.sin);
}

}  // namespace heartmula::codec
