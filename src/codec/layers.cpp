#include "codec/layers.h"

#include <ATen/ATen.h>

#include <atomic>
#include <string>
#include <vector>

#include "codec/fused_ops.h"
#include "codec/weight_norm.h"
#include "heartmula/error.h"
#include "io/kernel_paths.h"
#include "io/switches.h"
#include "io/weight_binder.h"

namespace heartmula::codec {

namespace {

std::atomic<bool>& channels_last_flag() {
  static std::atomic<bool> on{!io::switch_on(io::Switch::kCodecNcl)};
  return on;
}

std::atomic<bool> any_device{false};

std::atomic<bool>& convt_gemm_flag() {
  static std::atomic<bool> on{!io::switch_on(io::Switch::kCodecConvtCudnn)};
  return on;
}

// Whether a decoder weight w takes the channels-last storage (CUDA, or any device in tests).
bool takes_channels_last(const at::Tensor& w) {
  return w.defined() && (w.is_cuda() || any_device.load()) && cuda_channels_last();
}

// w [a, b, k] as [a, b, 1, k] channels-last (memory order a, k, b) when it is a CUDA tensor and
// the channels-last layout is on; undefined otherwise.
at::Tensor channels_last_weight(const at::Tensor& w) {
  if (!takes_channels_last(w)) return at::Tensor();
  return w.unsqueeze(2).contiguous(at::MemoryFormat::ChannelsLast);
}

}  // namespace

void set_cuda_channels_last(bool on) { channels_last_flag().store(on); }
bool cuda_channels_last() { return channels_last_flag().load(); }
void set_channels_last_on_any_device(bool on) { any_device.store(on); }
bool channels_last_on_any_device() { return any_device.load(); }
void set_convt_gemm(bool on) { convt_gemm_flag().store(on); }
bool convt_gemm() { return convt_gemm_flag().load(); }

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

void Linear::declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, bool with_bias) {
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
  b.expect_with(
      prefix + ".weight", {out, in, k}, [this](at::Tensor w) { set_weight(std::move(w)); }, dtype);
  b.expect(prefix + ".bias", {out}, &bias, dtype);
}

void Conv1d::declare_weight_norm(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, int64_t k,
                                 c10::ScalarType dtype) {
  expect_weight_norm(
      b, prefix, {out, in, k}, [this](at::Tensor w) { set_weight(std::move(w)); }, dtype);
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

void CausalConvTranspose1d::declare_weight_norm(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out,
                                                int64_t s, c10::ScalarType dtype) {
  stride = s;
  op_dtype = dtype;
  expect_weight_norm(
      b, prefix, {in, out, 2 * s}, [this](at::Tensor w) { set_weight(std::move(w)); }, dtype);
  b.expect(prefix + ".bias", {out}, &bias, dtype);
}

void CausalConvTranspose1d::set_weight(at::Tensor w) {
  weight4 = weight_mm = at::Tensor();
  if (!channels_last || !takes_channels_last(w)) {
    weight = std::move(w);
  } else if (convt_gemm()) {  // [in, out, k] -> [in, k, out] contiguous, seen as [in, k * out]
    const int64_t in = w.size(0), out = w.size(1), k = w.size(2);
    at::Tensor mm = w.permute({0, 2, 1}).contiguous();
    weight = mm.permute({0, 2, 1});  // [in, out, k], a view: one copy of the weight
    weight_mm = mm.view({in, k * out});
  } else {
    weight4 = channels_last_weight(w);
    weight = weight4.squeeze(2);
  }
}

at::Tensor CausalConvTranspose1d::operator()(const at::Tensor& x) const {
  const int64_t s[1] = {stride};
  at::Tensor y = at::conv_transpose1d(x.to(op_dtype), weight, bias, at::IntArrayRef(s));
  y = y.narrow(2, 0, y.size(2) - stride);
  return y.to(x.scalar_type());
}

at::Tensor CausalConvTranspose1d::forward_cl(const at::Tensor& x) const {
  at::Tensor xo = x.scalar_type() == op_dtype ? x : x.to(op_dtype);  // keeps the memory format
  at::Tensor y;
  if (weight_mm.defined()) {
    y = forward_gemm(xo);
  } else {
    const int64_t s[2] = {1, stride}, zero[2] = {0, 0}, one[2] = {1, 1};
    y = at::conv_transpose2d(xo, weight4, bias, at::IntArrayRef(s), at::IntArrayRef(zero), at::IntArrayRef(zero), 1,
                             at::IntArrayRef(one));
    y = y.narrow(3, 0, y.size(3) - stride);  // still dense channels-last (time is outermost)
  }
  xo = at::Tensor();
  return y.scalar_type() == x.scalar_type() ? y : y.to(x.scalar_type());
}

at::Tensor CausalConvTranspose1d::forward_gemm(const at::Tensor& x) const {
  if (x.dim() != 4 || x.size(2) != 1 || x.size(1) != weight_mm.size(0))
    throw Error("CausalConvTranspose1d::forward_cl: expected x [B, " + std::to_string(weight_mm.size(0)) +
                ", 1, T], got " + c10::str(x.sizes()));
  const int64_t batch = x.size(0), in = x.size(1), t = x.size(3), s = stride;
  const int64_t n = weight_mm.size(1) / 2, out = n / s;  // n = s * out
  // [B * T, in]: a view of a channels-last x (time-major rows, channels innermost).
  const at::Tensor x2 = x.permute({0, 2, 3, 1}).reshape({batch * t, in});
  const at::Tensor w_lo = weight_mm.narrow(1, 0, n), w_hi = weight_mm.narrow(1, n, n);
  // Y = bias (repeated for the s samples of a block) + X W_lo; the bias row is made here, not at
  // load, so that it always follows `bias` (tests write weights through list_weights).
  at::Tensor y = bias.defined() ? at::addmm(bias.repeat({s}), x2, w_lo) : at::mm(x2, w_lo);  // [B*T, n]
  for (int64_t b = 0; b < batch && t > 1; ++b) {  // Y[q] += X[q-1] W_hi, q >= 1, within each row
    at::Tensor dst = y.narrow(0, b * t + 1, t - 1);
    dst.addmm_(x2.narrow(0, b * t, t - 1), w_hi);
  }
  // [B * T, s * out] = [B, T * s, out] memory: [B, out, 1, T * s] channels-last, dense.
  return y.view({batch, 1, t * s, out}).permute({0, 3, 1, 2});
}

void PReLU::declare(io::WeightBinder& b, const std::string& prefix, c10::ScalarType dtype) {
  b.expect(prefix + ".weight", {1}, &weight, dtype);
}

at::Tensor PReLU::operator()(const at::Tensor& x) const { return at::prelu(x, weight); }

at::Tensor PReLU::bias_act_(at::Tensor& x, const at::Tensor& bias, const at::Tensor& residual) const {
  if (io::record_path(io::KernelPath::kCodecBiasPrelu, fused_bias_prelu_(x, bias, weight, residual))) return x;
  if (bias.defined()) {
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = bias.size(0);
    x.add_(bias.view(shape));  // as ATen's convolution adds its bias
  }
  at::Tensor y = at::prelu(x, weight);
  return residual.defined() ? y.add_(residual) : y;
}

}  // namespace heartmula::codec
