#include "codec/layers.h"

#include <ATen/ATen.h>

#include <atomic>
#include <vector>

#include "codec/fused_ops.h"
#include "codec/weight_norm.h"
#include "io/env.h"
#include "io/weight_binder.h"

namespace heartmula::codec {

namespace {

std::atomic<bool>& channels_last_flag() {
  static std::atomic<bool> on{!io::env_flag("HEARTMULA_CODEC_NCL")};
  return on;
}

std::atomic<bool> any_device{false};

// w [a, b, k] as [a, b, 1, k] channels-last (memory order a, k, b) when it is a CUDA tensor and
// the channels-last layout is on; undefined otherwise.
at::Tensor channels_last_weight(const at::Tensor& w) {
  if (!w.defined() || !(w.is_cuda() || any_device.load()) || !cuda_channels_last()) return at::Tensor();
  return w.unsqueeze(2).contiguous(at::MemoryFormat::ChannelsLast);
}

}  // namespace

void set_cuda_channels_last(bool on) { channels_last_flag().store(on); }
bool cuda_channels_last() { return channels_last_flag().load(); }
void set_channels_last_on_any_device(bool on) { any_device.store(on); }

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

// The binder keeps the store callbacks until bind(), as it keeps slot pointers: the layer must
// stay where it is between declare and bind (as for every other slot).
void Conv1d::declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, int64_t k,
                     c10::ScalarType dtype) {
  b.expect_with(prefix + ".weight", {out, in, k}, [this](at::Tensor w) { set_weight(std::move(w)); }, dtype);
  b.expect(prefix + ".bias", {out}, &bias, dtype);
}

void Conv1d::declare_weight_norm(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out,
                                 int64_t k, c10::ScalarType dtype) {
  expect_weight_norm(b, prefix, {out, in, k}, [this](at::Tensor w) { set_weight(std::move(w)); }, dtype);
  b.expect(prefix + ".bias", {out}, &bias, dtype);
}

void Conv1d::set_weight(at::Tensor w) {
  weight4 = channels_last ? channels_last_weight(w) : at::Tensor();
  weight = weight4.defined() ? weight4.squeeze(2) : std::move(w);
}

at::Tensor Conv1d::operator()(const at::Tensor& x) const {
  return unpadded((pad_left || pad_right) ? at::constant_pad_nd(x, {pad_left, pad_right}, 0) : x);
}

at::Tensor Conv1d::unpadded(const at::Tensor& x) const {
  const int64_t s[1] = {stride}, pad[1] = {0}, dil[1] = {dilation};
  return at::conv1d(x, weight, bias, at::IntArrayRef(s), at::IntArrayRef(pad), at::IntArrayRef(dil));
}

at::Tensor Conv1d::forward_cl(const at::Tensor& x, bool with_bias) const {
  if (pad_right > pad_left) {  // not in the decoder: explicit padding
    at::Tensor xp = at::constant_pad_nd(x, {pad_left, pad_right}, 0).contiguous(at::MemoryFormat::ChannelsLast);
    return unpadded_cl(xp, with_bias);
  }
  // cuDNN pads both sides by pad_left; the outputs past the real right padding are dropped
  // (a causal conv computes pad_left extra samples: the output stays dense channels-last).
  const int64_t k = weight4.size(3);
  const int64_t n = (x.size(3) + pad_left + pad_right - dilation * (k - 1) - 1) / stride + 1;
  const int64_t s[2] = {1, stride}, pad[2] = {0, pad_left}, dil[2] = {1, dilation};
  at::Tensor y = at::conv2d(x, weight4, with_bias ? bias : at::Tensor(), at::IntArrayRef(s), at::IntArrayRef(pad),
                            at::IntArrayRef(dil));
  return y.size(3) == n ? y : y.narrow(3, 0, n);
}

at::Tensor Conv1d::unpadded_cl(const at::Tensor& x, bool with_bias) const {
  const int64_t s[2] = {1, stride}, pad[2] = {0, 0}, dil[2] = {1, dilation};
  return at::conv2d(x, weight4, with_bias ? bias : at::Tensor(), at::IntArrayRef(s), at::IntArrayRef(pad),
                    at::IntArrayRef(dil));
}

void CausalConvTranspose1d::declare_weight_norm(io::WeightBinder& b, const std::string& prefix, int64_t in,
                                                int64_t out, int64_t s, c10::ScalarType dtype) {
  stride = s;
  op_dtype = dtype;
  expect_weight_norm(b, prefix, {in, out, 2 * s}, [this](at::Tensor w) {
    weight4 = channels_last ? channels_last_weight(w) : at::Tensor();
    weight = weight4.defined() ? weight4.squeeze(2) : std::move(w);
  }, dtype);
  b.expect(prefix + ".bias", {out}, &bias, dtype);
}

at::Tensor CausalConvTranspose1d::operator()(const at::Tensor& x) const {
  const int64_t s[1] = {stride};
  at::Tensor y = at::conv_transpose1d(x.to(op_dtype), weight, bias, at::IntArrayRef(s));
  y = y.narrow(2, 0, y.size(2) - stride);
  return y.to(x.scalar_type());
}

at::Tensor CausalConvTranspose1d::forward_cl(const at::Tensor& x) const {
  const int64_t s[2] = {1, stride}, zero[2] = {0, 0}, one[2] = {1, 1};
  at::Tensor y = at::conv_transpose2d(x.scalar_type() == op_dtype ? x : x.to(op_dtype), weight4, bias,
                                      at::IntArrayRef(s), at::IntArrayRef(zero), at::IntArrayRef(zero), 1,
                                      at::IntArrayRef(one));
  y = y.narrow(3, 0, y.size(3) - stride);  // still dense channels-last (time is outermost)
  return y.scalar_type() == x.scalar_type() ? y : y.to(x.scalar_type());
}

void PReLU::declare(io::WeightBinder& b, const std::string& prefix, c10::ScalarType dtype) {
  b.expect(prefix + ".weight", {1}, &weight, dtype);
}

at::Tensor PReLU::operator()(const at::Tensor& x) const { return at::prelu(x, weight); }

at::Tensor PReLU::bias_act_(at::Tensor& x, const at::Tensor& bias, const at::Tensor& residual) const {
  if (fused_bias_prelu_(x, bias, weight, residual)) return x;
  if (bias.defined()) {
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = bias.size(0);
    x.add_(bias.view(shape));  // as ATen's convolution adds its bias
  }
  at::Tensor y = at::prelu(x, weight);
  return residual.defined() ? y.add_(residual) : y;
}

}  // namespace heartmula::codec
