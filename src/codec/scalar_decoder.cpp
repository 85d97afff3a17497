#include "codec/scalar_decoder.h"

#include <ATen/ATen.h>
#include <algorithm>
#include <utility>

#include "codec/fused_ops.h"
#include "io/kernel_paths.h"
#include "io/switches.h"
#include "io/weight_binder.h"

namespace heartmula::codec {

namespace {

constexpr int64_t kDilations[] = {1, 3, 5, 7, 9};

// Samples [s, e) of x [B, C, T] repeated `times` times along time (sample j = x[j / times]), as
// repeat_interleave gives them, after `front` zero samples: [B, C, front + e - s], contiguous.
at::Tensor repeated_range(const at::Tensor& x, int64_t times, int64_t s, int64_t e, int64_t front) {
  const int64_t i0 = s / times, i1 = (e + times - 1) / times;
  at::Tensor rep = x.narrow(2, i0, i1 - i0).repeat_interleave(times, 2);
  if (front == 0 && s == i0 * times && e == i1 * times) return rep;
  at::Tensor buf = at::empty({x.size(0), x.size(1), front + e - s}, x.options());
  buf.narrow(2, 0, front).zero_();
  buf.narrow(2, front, e - s).copy_(rep.narrow(2, s - i0 * times, e - s));
  return buf;
}

// The same for channels-last x [B, C, 1, T]: [B, C, 1, front + e - s] channels-last (a view
// when nothing needs copying in; dense when B == 1).
at::Tensor repeated_range_cl(const at::Tensor& x, int64_t times, int64_t s, int64_t e, int64_t front) {
  const int64_t i0 = s / times, i1 = (e + times - 1) / times, b = x.size(0), c = x.size(1);
  // Time-major view [B, 1, T', C] (dense for a channels-last x), each step repeated `times` times.
  at::Tensor tm = x.narrow(3, i0, i1 - i0).permute({0, 2, 3, 1});
  at::Tensor rep = tm.unsqueeze(3).expand({b, 1, i1 - i0, times, c}).reshape({b, 1, (i1 - i0) * times, c});
  if (front == 0) return rep.narrow(2, s - i0 * times, e - s).permute({0, 3, 1, 2});
  at::Tensor buf = at::empty({b, 1, front + e - s, c}, x.options());
  buf.narrow(2, 0, front).zero_();
  buf.narrow(2, front, e - s).copy_(rep.narrow(2, s - i0 * times, e - s));
  return buf.permute({0, 3, 1, 2});
}

// HEARTMULA_CODEC_CUDNN_BENCHMARK=1: cuDNN times its algorithms for each new convolution shape
// during the decoder's CUDA calls instead of taking its heuristics' choice. Off by default: the
// search is paid on the first window and was measured far too dear for a song (H100: the first
// window's decoder 4.3 s instead of 0.04 s, 12.5 s when it ran beside the LM, codec peak 13.6 GB
// instead of 5.5 GB); later windows gain ~5 % (120 s of audio, warm: 0.672 s vs 0.708 s).
// Restores the previous setting.
class CudnnBenchmarkScope {
 public:
  explicit CudnnBenchmarkScope(bool cuda) : active_(cuda && wanted()) {
    if (!active_) return;
    was_ = at::globalContext().benchmarkCuDNN();
    at::globalContext().setBenchmarkCuDNN(true);
  }
  ~CudnnBenchmarkScope() {
    if (active_) at::globalContext().setBenchmarkCuDNN(was_);
  }
  CudnnBenchmarkScope(const CudnnBenchmarkScope&) = delete;
  CudnnBenchmarkScope& operator=(const CudnnBenchmarkScope&) = delete;

 private:
  static bool wanted() {
    static const bool on = io::switch_on(io::Switch::kCodecCudnnBenchmark);
    return on;
  }
  bool active_, was_ = false;
};

}  // namespace

void ResidualUnit::declare(io::WeightBinder& b, const std::string& prefix, int64_t ch, int64_t kernel, int64_t dilation,
                           c10::ScalarType dtype) {
  conv1.channels_last = conv2.channels_last = true;  // channels-last on CUDA (see the header)
  conv1.declare_weight_norm(b, prefix + ".conv1", ch, ch, kernel, dtype);
  conv1.set_causal(kernel, dilation);
  conv2.declare_weight_norm(b, prefix + ".conv2", ch, ch, 1, dtype);
  activation1.declare(b, prefix + ".activation1", dtype);
  activation2.declare(b, prefix + ".activation2", dtype);
}

at::Tensor ResidualUnit::operator()(const at::Tensor& x) const {
  // One statement per layer: each intermediate is freed once the next exists (as one
  // expression, all four stayed alive until the sum). h is this unit's own tensor: add in place.
  at::Tensor h = conv1(x);
  h = activation1(h);
  h = conv2(h);
  h = activation2(h);
  return h.add_(x);
}

at::Tensor ResidualUnit::forward_cl(const at::Tensor& x) const {
  // 64 channels, TF32 on CUDA: the whole unit in one tensor-core kernel (fused_ops.h).
  at::Tensor y;
  if (io::record_path(io::KernelPath::kCodecConv64,
                      fused_residual_unit64(x, conv1.weight4, conv1.bias, activation1.weight, conv1.dilation,
                                            conv2.weight4, conv2.bias, activation2.weight, y)))
    return y;
  // The biases are added by the fused epilogues (bias + PReLU, bias + PReLU + residual).
  at::Tensor h = conv1.forward_cl(x, /*with_bias=*/false);
  // 128 channels, TF32 on CUDA: everything after the first convolution in one kernel.
  if (io::record_path(
          io::KernelPath::kCodecPointwise,
          fused_pointwise_unit(h, conv1.bias, activation1.weight, conv2.weight4, conv2.bias, activation2.weight, x, y)))
    return y;
  h = activation1.bias_act_(h, conv1.bias, at::Tensor());
  h = conv2.forward_cl(h, /*with_bias=*/false);
  return activation2.bias_act_(h, conv2.bias, x);
}

void ResDecoderBlock::declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, int64_t stride,
                              int64_t res_kernel, c10::ScalarType dtype, c10::ScalarType up_dtype) {
  up_conv.channels_last = true;
  up_conv.declare_weight_norm(b, prefix + ".up_conv.layer", in, out, stride, up_dtype);
  convs.resize(std::size(kDilations));
  for (size_t i = 0; i < convs.size(); ++i)
    convs[i].declare(b, prefix + ".convs." + std::to_string(i), out, res_kernel, kDilations[i], dtype);
}

at::Tensor ResDecoderBlock::operator()(at::Tensor x) const {
  x = up_conv(x);
  for (const auto& unit : convs) x = unit(x);
  return x;
}

at::Tensor ResDecoderBlock::forward_cl(at::Tensor x) const {
  x = up_conv.forward_cl(x);
  for (const auto& unit : convs) x = unit.forward_cl(x);
  return x;
}

void ScalarDecoder::declare(io::WeightBinder& b, const std::string& prefix, const HeartCodecConfig& c,
                            c10::ScalarType dtype, c10::ScalarType up_dtype) {
  const int64_t n = static_cast<int64_t>(c.upsample_factors.size());
  int64_t ch = c.init_channel << n;
  pre.channels_last = post_conv.channels_last = out.channels_last = true;
  pre.declare_weight_norm(b, prefix + ".0", c.latent_hidden_dim, ch, c.delay_kernel_size, dtype);
  pre.set_centred(c.delay_kernel_size);  // the look-ahead conv is not causal
  blocks.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    blocks[i].declare(b, prefix + "." + std::to_string(i + 1), ch, ch / 2, c.upsample_factors[i], c.res_kernel_size,
                      dtype, up_dtype);
    ch /= 2;
  }
  int64_t next = n + 1;
  num_samples = c.num_samples;
  has_post = c.num_samples > 1;
  if (has_post) {
    const std::string p = prefix + "." + std::to_string(next++);
    post_conv.declare(b, p + ".conv", c.init_channel, c.init_channel, c.default_kernel_size, dtype);
    post_conv.set_causal(c.default_kernel_size, 1);
    post_activation.declare(b, p + ".activation", dtype);
  }
  out.declare_weight_norm(b, prefix + "." + std::to_string(next), c.init_channel, c.num_bands, c.default_kernel_size,
                          dtype);
  out.set_causal(c.default_kernel_size, 1);
}

void ResidualUnit::list_weights(const std::string& prefix, NamedWeights& out) const {
  conv1.list_weights(prefix + ".conv1", out);
  conv2.list_weights(prefix + ".conv2", out);
  activation1.list_weights(prefix + ".activation1", out);
  activation2.list_weights(prefix + ".activation2", out);
}

void ResDecoderBlock::list_weights(const std::string& prefix, NamedWeights& out) const {
  up_conv.list_weights(prefix + ".up_conv.layer", out);
  for (size_t i = 0; i < convs.size(); ++i) convs[i].list_weights(prefix + ".convs." + std::to_string(i), out);
}

void ScalarDecoder::list_weights(const std::string& prefix, NamedWeights& list) const {
  const size_t n = blocks.size();
  pre.list_weights(prefix + ".0", list);
  for (size_t i = 0; i < n; ++i) blocks[i].list_weights(prefix + "." + std::to_string(i + 1), list);
  if (has_post) {
    post_conv.list_weights(prefix + "." + std::to_string(n + 1) + ".conv", list);
    post_activation.list_weights(prefix + "." + std::to_string(n + 1) + ".activation", list);
  }
  out.list_weights(prefix + "." + std::to_string(has_post ? n + 2 : n + 1), list);
}

at::Tensor ScalarDecoder::decode(const at::Tensor& latent) const {
  const CudnnBenchmarkScope benchmark(latent.is_cuda());
  const int64_t rows = latent.size(0);
  if (rows == 1) return decode_row(latent);
  at::Tensor audio;
  for (int64_t r = 0; r < rows; ++r) {
    at::Tensor y = decode_row(latent.narrow(0, r, 1));
    if (!audio.defined()) audio = at::empty({rows, y.size(1), y.size(2)}, y.options());
    audio.narrow(0, r, 1).copy_(y);
  }
  return audio;
}

at::Tensor ScalarDecoder::decode_row(const at::Tensor& latent) const {
  if (channels_last()) {  // weights bound channels-last (on CUDA)
    at::Tensor x = (at::round(latent * 9) / 9).unsqueeze(2).contiguous(at::MemoryFormat::ChannelsLast);
    x = pre.forward_cl(x);
    for (const auto& blk : blocks) x = blk.forward_cl(std::move(x));
    return post_and_out(x);
  }
  at::Tensor x = pre(at::round(latent * 9) / 9);
  for (const auto& blk : blocks) x = blk(std::move(x));
  return post_and_out(x);
}

at::Tensor ScalarDecoder::post_and_out(const at::Tensor& x) const {
  const bool cl = x.dim() == 4;  // channels-last [1, C, 1, T'] (decode_row's CUDA path)
  if (!has_post) return cl ? out.forward_cl(x).squeeze(2).contiguous() : out(x);
  const int64_t n = x.size(-1) * num_samples;
  // Every chunk after the first needs post_conv's and out's context inside its own input. On
  // CUDA at least 2^19 samples (a [2^19 + 6, 64] float32 intermediate, 134 MB): the fused
  // kernels set their weights up per launch, which larger chunks amortise.
  const int64_t wanted = (cl && x.is_cuda()) ? std::max(post_chunk_samples, kCudaPostChunk) : post_chunk_samples;
  const int64_t chunk = std::max(wanted, post_conv.pad_left + out.pad_left + 1);
  if (n <= chunk) return cl ? post_and_out_chunk_cl(x, 0, n) : post_and_out_chunk(x, 0, n);
  at::Tensor audio;
  for (int64_t a = 0; a < n; a += chunk) {
    const int64_t b = std::min(n, a + chunk);
    at::Tensor y = cl ? post_and_out_chunk_cl(x, a, b) : post_and_out_chunk(x, a, b);
    if (!audio.defined()) audio = at::empty({x.size(0), y.size(1), n}, y.options());
    audio.narrow(2, a, b - a).copy_(y);
  }
  return audio;
}

at::Tensor ScalarDecoder::post_and_out_chunk(const at::Tensor& x, int64_t a, int64_t b) const {
  const int64_t kp = post_conv.pad_left, ko = out.pad_left;  // both causal: no right padding
  if (a == 0) {                                              // the zeros of both paddings, as in one pass
    at::Tensor h = post_conv.unpadded(repeated_range(x, num_samples, 0, b, kp));  // [1, C, b]
    h = post_activation(h);
    return out(h);
  }
  // Repeated samples [a - kp - ko, b) -> post_conv -> [a - ko, b) -> out -> [a, b).
  at::Tensor h = post_conv.unpadded(repeated_range(x, num_samples, a - kp - ko, b, 0));
  h = post_activation(h);
  return out.unpadded(h);
}

at::Tensor ScalarDecoder::post_and_out_chunk_cl(const at::Tensor& x, int64_t a, int64_t b) const {
  at::Tensor audio;  // 64 channels, TF32 on CUDA: two kernels (fused_ops.h)
  if (io::record_path(io::KernelPath::kCodecPostOut64,
                      fused_post_and_out64(x, num_samples, post_conv.weight4, post_conv.bias, post_activation.weight,
                                           out.weight4, out.bias, a, b, audio)))
    return audio;
  const int64_t kp = post_conv.pad_left, ko = out.pad_left;  // both causal: no right padding
  const int64_t from = a == 0 ? 0 : a - kp - ko, front = a == 0 ? kp : 0;
  at::Tensor h = post_conv.unpadded_cl(repeated_range_cl(x, num_samples, from, b, front), /*with_bias=*/false);
  h = post_activation.bias_act_(h, post_conv.bias, at::Tensor());
  // [1, bands, 1, b - a] -> [1, bands, b - a] (a view for one band).
  return (a == 0 ? out.forward_cl(h) : out.unpadded_cl(h)).squeeze(2).contiguous();
}

}  // namespace heartmula::codec
