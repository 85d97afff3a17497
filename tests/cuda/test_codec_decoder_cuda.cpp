// The scalar decoder's CUDA layout (codec/scalar_decoder.h, issue #7): the fused bias + PReLU
// (+ residual) epilogue bit for bit against the composite ATen code, and a real-size random
// decoder decoding one window's latents [2, 128, 744] channels-last against the NCL path
// (HEARTMULA_CODEC_NCL's path, chosen here with set_cuda_channels_last before binding). Part of
// test_cuda_kernels (CUDA builds only, tests/unit/cuda_kernels.cmake).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "codec/config.h"
#include "codec/fused_ops.h"
#include "codec/layers.h"
#include "codec/scalar_decoder.h"
#include "io/weight_binder.h"

namespace heartmula::codec {
namespace {

at::TensorOptions cuda(at::ScalarType t) { return at::TensorOptions().dtype(t).device(at::kCUDA); }

// x.add_(bias) (as ATen's convolution adds it), at::prelu, add_(residual): the composite.
at::Tensor composite(at::Tensor x, const at::Tensor& bias, const at::Tensor& slope, const at::Tensor& residual) {
  if (bias.defined()) {
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = bias.size(0);
    x.add_(bias.view(shape));
  }
  at::Tensor y = at::prelu(x, slope);
  return residual.defined() ? y.add_(residual) : y;
}

TEST(CodecDecoderCuda, FusedBiasPreluIsBitForBitTheComposite) {
  at::manual_seed(21);
  struct Case {
    int64_t c, t;
    bool channels_last;
  };
  // Real stage shapes (1024 channels x 3720 steps, 64 x 2^17), an odd channel count (the
  // unvectorised kernel) and a contiguous [1, C, T] tensor.
  const std::vector<Case> cases = {{1024, 3720, true}, {64, int64_t(1) << 17, true}, {3, 1001, true}, {256, 999, false}};
  for (const Case& cs : cases)
  for (auto dtype : {at::kFloat, at::kBFloat16, at::kHalf})
  for (int variant = 0; variant < 4; ++variant) {
    const bool with_bias = variant & 1, with_residual = variant & 2;
    auto make = [&](double scale) {
      at::Tensor t = at::randn({1, cs.c, 1, cs.t}, cuda(at::kFloat)).mul(scale).to(dtype);
      return cs.channels_last ? t.contiguous(at::MemoryFormat::ChannelsLast) : t.squeeze(2).contiguous();
    };
    const at::Tensor x = make(2.0);
    const at::Tensor bias = with_bias ? at::randn({cs.c}, cuda(at::kFloat)).to(dtype) : at::Tensor();
    const at::Tensor residual = with_residual ? make(1.0) : at::Tensor();
    const at::Tensor slope = at::full({1}, 0.2371, cuda(dtype));
    const at::Tensor ref = composite(x.clone(), bias, slope, residual);
    at::Tensor got = cs.channels_last ? x.clone().contiguous(at::MemoryFormat::ChannelsLast) : x.clone();
    const void* before = got.data_ptr();
    ASSERT_TRUE(fused_bias_prelu_(got, bias, slope, residual)) << dtype << " C " << cs.c;
    EXPECT_EQ(got.data_ptr(), before);  // in place
    EXPECT_TRUE(at::equal(got, ref)) << dtype << " C " << cs.c << " T " << cs.t << " bias " << with_bias
                                     << " residual " << with_residual;
  }
  // Not handled: CPU tensors, a residual in another memory format, a non-dense x.
  at::Tensor cpu = at::randn({1, 8, 1, 16});
  EXPECT_FALSE(fused_bias_prelu_(cpu, at::Tensor(), at::full({1}, 0.25), at::Tensor()));
  at::Tensor cl = at::randn({1, 8, 1, 16}, cuda(at::kFloat)).contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor slope = at::full({1}, 0.25, cuda(at::kFloat));
  EXPECT_FALSE(fused_bias_prelu_(cl, at::Tensor(), slope, at::randn({1, 8, 1, 16}, cuda(at::kFloat))));
  at::Tensor strided = at::randn({1, 8, 32}, cuda(at::kFloat)).narrow(2, 0, 16);
  EXPECT_FALSE(fused_bias_prelu_(strided, at::Tensor(), slope, at::Tensor()));
}

// A real-size ScalarDecoder with random weights on CUDA in `dtype`, channels-last or not (bound
// while set_cuda_channels_last(on)); the switch is restored after.
ScalarDecoder random_decoder(bool channels_last, uint64_t seed, at::ScalarType dtype) {
  const bool was = cuda_channels_last();
  set_cuda_channels_last(channels_last);
  ScalarDecoder d;
  io::WeightBinder binder(at::kFloat, at::Device(at::kCUDA));
  d.declare(binder, "dec", HeartCodecConfig{}, dtype, dtype);
  binder.bind_random(seed);
  set_cuda_channels_last(was);
  return d;
}

// Weights of a usable scale (std 1/sqrt(fan-in) per conv, PReLU slopes 0.25) into both
// decoders (into the channels-last storage for `cl`: its weight is a view of weight4).
void same_weights(const ScalarDecoder& ncl, const ScalarDecoder& cl) {
  NamedWeights wn, wc;
  ncl.list_weights("dec", wn);
  cl.list_weights("dec", wc);
  ASSERT_EQ(wn.size(), wc.size());
  std::map<std::string, at::Tensor> dst(wc.begin(), wc.end());
  for (auto& [name, t] : wn) {
    if (t.dim() == 3) t.mul_(1.0 / (t.std().item<double>() * std::sqrt(double(t.size(1) * t.size(2)))));
    if (name.find("activation") != std::string::npos) t.fill_(0.25);
    ASSERT_TRUE(dst.count(name)) << name;
    dst[name].copy_(t);
  }
}

double rel_max_diff(const at::Tensor& a, const at::Tensor& b) {
  return ((a.to(at::kFloat) - b.to(at::kFloat)).abs().max() / b.to(at::kFloat).abs().max()).item<double>();
}

double seconds_of(const ScalarDecoder& d, const at::Tensor& latent, at::Tensor& out) {
  out = d.decode(latent);
  out.sum().item<float>();  // warm-up (cuDNN plans, allocator) and sync
  const auto t0 = std::chrono::steady_clock::now();
  out = d.decode(latent);
  out.sum().item<float>();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One window's latents [2, 128, 744] through both paths; returns max |cl - ncl| / max |ncl|.
double compare_paths(const ScalarDecoder& ncl, const ScalarDecoder& cl, at::ScalarType dtype, const char* what) {
  const at::Tensor latent = at::randn({2, 128, 744}, cuda(at::kFloat)).mul(0.5).to(dtype);
  at::Tensor ref, got;
  const double t_ncl = seconds_of(ncl, latent, ref), t_cl = seconds_of(cl, latent, got);
  EXPECT_TRUE(got.sizes().equals(ref.sizes()));
  EXPECT_EQ(got.size(2), 744 * 1920);
  EXPECT_TRUE(at::isfinite(got).all().item<bool>());
  const double rel = rel_max_diff(got, ref);
  std::cout << "ScalarDecoder::decode [2, 128, 744] " << what << ": NCL " << t_ncl * 1e3 << " ms, channels-last "
            << t_cl * 1e3 << " ms; max |cl - ncl| / max |ncl| = " << rel << " (max |ncl| "
            << ref.abs().max().item<float>() << ")\n";
  return rel;
}

TEST(CodecDecoderCuda, ChannelsLastDecodeMatchesTheNclPath) {
  c10::InferenceMode guard;
  at::manual_seed(22);
  const ScalarDecoder ncl = random_decoder(false, 5, at::kFloat), cl = random_decoder(true, 6, at::kFloat);
  ASSERT_FALSE(ncl.channels_last());
  ASSERT_TRUE(cl.channels_last());
  same_weights(ncl, cl);
  auto& ctx = at::globalContext();
  const bool tf32_was = ctx.allowTF32CuDNN();
  ctx.setAllowTF32CuDNN(false);
  EXPECT_LT(compare_paths(ncl, cl, at::kFloat, "fp32"), 1e-5);
  ctx.setAllowTF32CuDNN(true);
  EXPECT_LT(compare_paths(ncl, cl, at::kFloat, "tf32"), 1e-2);
  ctx.setAllowTF32CuDNN(tf32_was);
}

// --codec-dtype bf16/bf16: the decoder in bf16. Both paths round every layer to bf16 with
// different accumulation orders, so this is a sanity bound, not a precision figure.
TEST(CodecDecoderCuda, ChannelsLastDecodeInBf16) {
  c10::InferenceMode guard;
  at::manual_seed(23);
  const ScalarDecoder ncl = random_decoder(false, 7, at::kBFloat16), cl = random_decoder(true, 8, at::kBFloat16);
  ASSERT_TRUE(cl.channels_last());
  same_weights(ncl, cl);
  EXPECT_LT(compare_paths(ncl, cl, at::kBFloat16, "bf16"), 0.1);
}

}  // namespace
}  // namespace heartmula::codec
