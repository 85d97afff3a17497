// The scalar decoder's channels-last layout (codec/scalar_decoder.h; the CUDA path) checked on
// the CPU, where the GPU is missing: a small random decoder bound channels-last
// (set_channels_last_on_any_device, tests only) against the same weights bound as today's NCL
// decoder. Checks the padding (cuDNN-style symmetric + narrow), the transposed conv's trim, the
// PostProcessor's repeat and chunking in the layout, and the composite epilogue (the fused
// kernel is CUDA's). The convolutions are oneDNN's in both layouts: float rounding only.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <iostream>
#include <map>
#include <string>

#include "codec/config.h"
#include "codec/layers.h"
#include "codec/scalar_decoder.h"
#include "io/weight_binder.h"

namespace heartmula::codec {
namespace {

HeartCodecConfig small_config() {
  HeartCodecConfig c;
  c.latent_hidden_dim = 16;
  c.init_channel = 8;
  c.upsample_factors = {3, 2};
  c.upsample_kernel_sizes = {6, 4};
  return c;
}

ScalarDecoder random_decoder(bool channels_last, uint64_t seed) {
  set_channels_last_on_any_device(channels_last);
  const bool was = cuda_channels_last();
  set_cuda_channels_last(channels_last);
  ScalarDecoder d;
  io::WeightBinder binder(at::kFloat, at::kCPU);
  d.declare(binder, "dec", small_config(), at::kFloat, at::kFloat);
  binder.bind_random(seed);
  set_cuda_channels_last(was);
  set_channels_last_on_any_device(false);
  return d;
}

double rel_max_diff(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

TEST(CodecLayout, ChannelsLastDecodeMatchesTheNclPathOnTheCpu) {
  c10::InferenceMode guard;
  ScalarDecoder ncl = random_decoder(false, 3), cl = random_decoder(true, 3);
  ASSERT_FALSE(ncl.channels_last());
  ASSERT_TRUE(cl.channels_last());
  // Usable weight scales (std 1/sqrt(fan-in), PReLU slopes 0.25), written into both.
  NamedWeights wn, wc;
  ncl.list_weights("dec", wn);
  cl.list_weights("dec", wc);
  ASSERT_EQ(wn.size(), wc.size());
  std::map<std::string, at::Tensor> dst(wc.begin(), wc.end());
  for (auto& [name, t] : wn) {
    ASSERT_TRUE(dst.count(name)) << name;
    EXPECT_TRUE(at::equal(dst[name], t)) << name;  // the same draw, stored in another layout
    if (t.dim() == 3) t.mul_(1.0 / (t.std().item<double>() * std::sqrt(double(t.size(1) * t.size(2)))));
    if (name.find("activation") != std::string::npos) t.fill_(0.25);
    dst[name].copy_(t);
  }
  at::manual_seed(4);
  const at::Tensor latent = at::randn({2, 16, 37}).mul(0.5);
  const at::Tensor ref = ncl.decode(latent);
  ASSERT_EQ(ref.size(2), 37 * 3 * 2 * 2);
  for (int64_t chunk : {int64_t(1) << 17, int64_t(50), int64_t(13)}) {  // one pass; chunks; the minimum
    cl.post_chunk_samples = chunk;
    const at::Tensor got = cl.decode(latent);
    ASSERT_TRUE(got.sizes().equals(ref.sizes())) << chunk;
    EXPECT_TRUE(got.is_contiguous());
    const double rel = rel_max_diff(got, ref);
    std::cout << "post_chunk_samples " << chunk << ": max |cl - ncl| / max |ncl| = " << rel << "\n";
    EXPECT_LT(rel, 1e-5) << "post_chunk_samples " << chunk;
  }
}

// Only the scalar decoder's convolutions take the layout: another Conv1d (the estimator's
// ProjectLayer) keeps its contiguous weight.
TEST(CodecLayout, OnlyTheDecodersConvolutionsAreChannelsLast) {
  c10::InferenceMode guard;
  set_channels_last_on_any_device(true);
  const bool was = cuda_channels_last();
  set_cuda_channels_last(true);
  Conv1d plain, decoder_conv;
  decoder_conv.channels_last = true;
  io::WeightBinder binder(at::kFloat, at::kCPU);
  plain.declare(binder, "a", 4, 6, 3, at::kFloat);
  decoder_conv.declare(binder, "b", 4, 6, 3, at::kFloat);
  binder.bind_random(1);
  set_cuda_channels_last(was);
  set_channels_last_on_any_device(false);
  EXPECT_FALSE(plain.weight4.defined());
  EXPECT_TRUE(plain.weight.is_contiguous());
  ASSERT_TRUE(decoder_conv.weight4.defined());
  EXPECT_TRUE(decoder_conv.weight4.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_EQ(decoder_conv.weight.data_ptr(), decoder_conv.weight4.data_ptr());  // one copy of the weight
}

}  // namespace
}  // namespace heartmula::codec
