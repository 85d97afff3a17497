#include "codec/scalar_decoder.h"

#include <ATen/ATen.h>

#include "io/weight_binder.h"

namespace heartmula::codec {

namespace {
constexpr int64_t kDilations[] = {1, 3, 5, 7, 9};
}

void ResidualUnit::declare(io::WeightBinder& b, const std::string& prefix, int64_t ch, int64_t kernel,
                           int64_t dilation, c10::ScalarType dtype) {
  conv1.declare_weight_norm(b, prefix + ".conv1", ch, ch, kernel, dtype);
  conv1.set_causal(kernel, dilation);
  conv2.declare_weight_norm(b, prefix + ".conv2", ch, ch, 1, dtype);
  activation1.declare(b, prefix + ".activation1", dtype);
  activation2.declare(b, prefix + ".activation2", dtype);
}

at::Tensor ResidualUnit::operator()(const at::Tensor& x) const {
  return activation2(conv2(activation1(conv1(x)))) + x;
}

void ResDecoderBlock::declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out,
                              int64_t stride, int64_t res_kernel, c10::ScalarType dtype, c10::ScalarType up_dtype) {
  up_conv.declare_weight_norm(b, prefix + ".up_conv.layer", in, out, stride, up_dtype);
  convs.resize(std::size(kDilations));
  for (size_t i = 0; i < convs.size(); ++i)
    convs[i].declare(b, prefix + ".convs." + std::to_string(i), out, res_kernel, kDilations[i], dtype);
}

at::Tensor ResDecoderBlock::operator()(const at::Tensor& x_in) const {
  at::Tensor x = up_conv(x_in);
  for (const auto& unit : convs) x = unit(x);
  return x;
}

void ScalarDecoder::declare(io::WeightBinder& b, const std::string& prefix, const HeartCodecConfig& c,
                            c10::ScalarType dtype, c10::ScalarType up_dtype) {
  const int64_t n = static_cast<int64_t>(c.upsample_factors.size());
  int64_t ch = c.init_channel << n;
  pre.declare_weight_norm(b, prefix + ".0", c.latent_hidden_dim, ch, c.delay_kernel_size, dtype);
  pre.set_centred(c.delay_kernel_size);  // the look-ahead conv is not causal
  blocks.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    blocks[i].declare(b, prefix + "." + std::to_string(i + 1), ch, ch / 2, c.upsample_factors[i],
                      c.res_kernel_size, dtype, up_dtype);
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
  out.declare_weight_norm(b, prefix + "." + std::to_string(next), c.init_channel, c.num_bands,
                          c.default_kernel_size, dtype);
  out.set_causal(c.default_kernel_size, 1);
}

at::Tensor ScalarDecoder::decode(const at::Tensor& latent) const {
  at::Tensor x = at::round(latent * 9) / 9;
  x = pre(x);
  for (const auto& blk : blocks) x = blk(x);
  if (has_post) {
    x = x.repeat_interleave(num_samples, 2);  // PostProcessor: each step num_samples times
    x = post_activation(post_conv(x));
  }
  return out(x);
}

}  // namespace heartmula::codec
