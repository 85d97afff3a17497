#include "codec/layers.h"

#include <ATen/ATen.h>

#include "codec/weight_norm.h"
#include "io/weight_binder.h"

namespace heartmula::codec {

void add_weight(NamedWeights& out, const std::string& name, const at::Tensor& t) {
  if (t.defined()) out.emplace_back(name, t);
}

void Linear::list_weights(const std::string& prefix, NamedWeights& out) const {
  add_weight(out, prefix + ".weight", weight);
  add_weight(out, prefix + ".bias", bias);
}

void Conv1d::list_weights(const std::string& prefix, NamedWeights& out) const {
  add_weight(out, prefix + ".weight", weight);
  add_weight(out, prefix + ".bias", bias);
}

void CausalConvTranspose1d::list_weights(const std::string& prefix, NamedWeights& out) const {
  add_weight(out, prefix + ".weight", weight);
  add_weight(out, prefix + ".bias", bias);
}

void PReLU::list_weights(const std::string& prefix, NamedWeights& out) const {
  add_weight(out, prefix + ".weight", weight);
}

void Linear::declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out,
                     bool with_bias) {
  b.expect(prefix + ".weight", {out, in}, &weight);
  if (with_bias) b.expect(prefix + ".bias", {out}, &bias);
}

void Linear::declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, bool with_bias,
                     c10::ScalarType dtype) {
  b.expect(prefix + ".weight", {out, in}, &weight, dtype);
  if (with_bias) b.expect(prefix + ".bias", {out}, &bias, dtype);
}

at::Tensor Linear::operator()(const at::Tensor& x) const { return at::linear(x, weight, bias); }

void Conv1d::declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, int64_t k,
                     c10::ScalarType dtype) {
  b.expect(prefix + ".weight", {out, in, k}, &weight, dtype);
  b.expect(prefix + ".bias", {out}, &bias, dtype);
}

void Conv1d::declare_weight_norm(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out,
                                 int64_t k, c10::ScalarType dtype) {
  expect_weight_norm(b, prefix, {out, in, k}, &weight, dtype);
  b.expect(prefix + ".bias", {out}, &bias, dtype);
}

at::Tensor Conv1d::operator()(const at::Tensor& x) const {
  return unpadded((pad_left || pad_right) ? at::constant_pad_nd(x, {pad_left, pad_right}, 0) : x);
}

at::Tensor Conv1d::unpadded(const at::Tensor& x) const {
  const int64_t s[1] = {stride}, pad[1] = {0}, dil[1] = {dilation};
  return at::conv1d(x, weight, bias, at::IntArrayRef(s), at::IntArrayRef(pad), at::IntArrayRef(dil));
}

void CausalConvTranspose1d::declare_weight_norm(io::WeightBinder& b, const std::string& prefix, int64_t in,
                                                int64_t out, int64_t s, c10::ScalarType dtype) {
  stride = s;
  op_dtype = dtype;
  expect_weight_norm(b, prefix, {in, out, 2 * s}, &weight, dtype);
  b.expect(prefix + ".bias", {out}, &bias, dtype);
}

at::Tensor CausalConvTranspose1d::operator()(const at::Tensor& x) const {
  const int64_t s[1] = {stride};
  at::Tensor y = at::conv_transpose1d(x.to(op_dtype), weight, bias, at::IntArrayRef(s));
  y = y.narrow(2, 0, y.size(2) - stride);
  return y.to(x.scalar_type());
}

void PReLU::declare(io::WeightBinder& b, const std::string& prefix, c10::ScalarType dtype) {
  b.expect(prefix + ".weight", {1}, &weight, dtype);
}

at::Tensor PReLU::operator()(const at::Tensor& x) const { return at::prelu(x, weight); }

}  // namespace heartmula::codec
