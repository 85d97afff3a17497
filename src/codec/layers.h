// Small layers holding plain at::Tensor weights, named like the checkpoint's modules.
// Each declares its parameters to a WeightBinder under a key prefix ("<prefix>.weight", ...).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <string>
#include <utility>
#include <vector>

namespace heartmula::io {
class WeightBinder;
}

namespace heartmula::codec {

// The weights a module holds, as loaded (fused, folded, converted), named by the module path
// ("<prefix>.weight"): for HeartCodec::weights(). Undefined tensors are left out.
using NamedWeights = std::vector<std::pair<std::string, at::Tensor>>;
void add_weight(NamedWeights& out, const std::string& name, const at::Tensor& t);

// nn.Linear: y = x W^T + b. weight [out, in], bias [out] (optional).
struct Linear {
  at::Tensor weight, bias;
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, bool with_bias);
  // Same, stored in `dtype` instead of the binder's dtype.
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, bool with_bias,
               c10::ScalarType dtype);
  at::Tensor operator()(const at::Tensor& x) const;  // [..., in] -> [..., out]
  void list_weights(const std::string& prefix, NamedWeights& out) const;
};

// The scalar decoder's CUDA layout (docs/codec.md "CUDA decoder layout"): while this is on
// (default: unless HEARTMULA_CODEC_NCL=1), the convolution weights bound onto a CUDA device are
// stored channels-last (weight4 below) and the decoder runs its activations as channels-last
// [1, C, 1, T] there, so cuDNN needs no layout change around the convolutions. Read at load.
void set_cuda_channels_last(bool on);
bool cuda_channels_last();
// Tests only: the CUDA layouts (the decoder's channels-last weights, the estimator's GEMM-form
// ProjectLayer) for weights bound on any device (the CPU included), so that their logic can be
// checked against the plain path where there is no GPU.
void set_channels_last_on_any_device(bool on);
bool channels_last_on_any_device();
// The channels-last transposed convolution as GEMMs (CausalConvTranspose1d below; default:
// unless HEARTMULA_CODEC_CONVT_CUDNN=1, which keeps at::conv_transpose2d, for A/B timing).
// Read when the first weight is bound; the setter is for tests.
void set_convt_gemm(bool on);
bool convt_gemm();

// nn.Conv1d with explicit (left, right) zero padding: causal convs pad dilation*(k-1) on the
// left only, centred ones k/2 on both sides. weight [out, in, k], bias [out].
// With channels_last set before declare (the scalar decoder's convs) and cuda_channels_last()
// on at load, a weight bound on CUDA is held by weight4 [out, in, 1, k] channels-last and
// `weight` is a (non-contiguous) view of it; otherwise weight4 is undefined.
struct Conv1d {
  at::Tensor weight, bias, weight4;
  bool channels_last = false;  // may take the channels-last layout (see above)
  int64_t stride = 1, dilation = 1, pad_left = 0, pad_right = 0;
  // Plain weight at "<prefix>.weight" / "<prefix>.bias".
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, int64_t k,
               c10::ScalarType dtype);
  // Weight-normalised weight at "<prefix>.parametrizations.weight.original{0,1}" (folded).
  void declare_weight_norm(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, int64_t k,
                           c10::ScalarType dtype);
  void set_causal(int64_t k, int64_t dil) {
    dilation = dil;
    pad_left = dil * (k - 1);
    pad_right = 0;
  }
  void set_centred(int64_t k) { pad_left = pad_right = k / 2; }
  at::Tensor operator()(const at::Tensor& x) const;  // [B, in, T] -> [B, out, T']
  // The same convolution on input that already carries its context (pad_left + pad_right
  // samples, zeros or real ones): [B, in, T + pad_left + pad_right] -> [B, out, T'].
  at::Tensor unpadded(const at::Tensor& x) const;
  // The channels-last forms (weight4 defined): x [1, in, 1, T] channels-last -> [1, out, 1, T']
  // channels-last; the bias is left out when !with_bias (the caller adds it, fused).
  at::Tensor forward_cl(const at::Tensor& x, bool with_bias = true) const;
  at::Tensor unpadded_cl(const at::Tensor& x, bool with_bias = true) const;
  void list_weights(const std::string& prefix, NamedWeights& out) const;
  void set_weight(at::Tensor w);  // stores w (and weight4 on CUDA, see above)
};

// Causal nn.ConvTranspose1d (kernel 2*stride, no padding) followed by dropping the last
// `stride` samples: [B, in, T] -> [B, out, T*stride]. Weight-normalised, weight [in, out, k].
// `op_dtype` is the dtype the op runs in (float32 where the compute dtype's kernel is missing).
// Channels-last storage (as for Conv1d: channels_last set, bound on CUDA, cuda_channels_last()):
//  - convt_gemm() on (the default): weight_mm [in, k * out] (W permuted to [in, k, out]) and
//    `weight` a view of it; forward_cl runs two GEMMs (see there). weight4 undefined.
//  - convt_gemm() off: weight4 [in, out, 1, k] channels-last, `weight` a view of it (cuDNN).
struct CausalConvTranspose1d {
  at::Tensor weight, bias, weight4, weight_mm;
  bool channels_last = false;  // as for Conv1d
  int64_t stride = 1;
  c10::ScalarType op_dtype = c10::ScalarType::Float;
  void declare_weight_norm(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, int64_t stride,
                           c10::ScalarType op_dtype);
  at::Tensor operator()(const at::Tensor& x) const;
  // x [B, in, 1, T] channels-last -> [B, out, 1, T*stride] channels-last (weight_mm or weight4
  // defined). With weight_mm, output block q (samples q*s .. q*s+s-1, s = stride) sees inputs q
  // and q-1 only: Y[q, j] = bias + X[q] W[:, :, j] + X[q-1] W[:, :, s+j] (j < s), so with X the
  // input as a [T, in] matrix (a view) and Y the output as a [T, s*out] one (dense channels-last):
  //   Y = bias_s + X @ W_lo;  Y[1:] += X[:-1] @ W_hi   (W_lo/W_hi: the halves of weight_mm)
  at::Tensor forward_cl(const at::Tensor& x) const;
  void list_weights(const std::string& prefix, NamedWeights& out) const;

 private:
  void set_weight(at::Tensor w);
  at::Tensor forward_gemm(const at::Tensor& x) const;  // the weight_mm form of forward_cl
};

// nn.PReLU with one shared slope: max(0, x) + a * min(0, x). weight [1].
struct PReLU {
  at::Tensor weight;
  void declare(io::WeightBinder& b, const std::string& prefix, c10::ScalarType dtype);
  at::Tensor operator()(const at::Tensor& x) const;
  // x = PReLU(x + bias) [+ residual], in place where the fused CUDA kernel applies
  // (codec/fused_ops.h), else the composite (bias [C] broadcast over x [B, C, ...]; undefined
  // bias / residual: no such step). Returns the result (x itself, or a new tensor).
  at::Tensor bias_act_(at::Tensor& x, const at::Tensor& bias, const at::Tensor& residual) const;
  void list_weights(const std::string& prefix, NamedWeights& out) const;
};

}  // namespace heartmula::codec
