// The scalar decoder's channels-last layout (codec/scalar_decoder.h; the CUDA path) checked on
// the CPU, where the GPU is missing: a small random decoder bound channels-last
// (set_channels_last_on_any_device, tests only) against the same weights bound as today's NCL
// decoder. Checks the padding (cuDNN-style symmetric + narrow), the transposed conv's trim, the
// PostProcessor's repeat and chunking in the layout, and the composite epilogue (the fused
// kernel is CUDA's). The convolutions are oneDNN's in both layouts: float rounding only. The
// causal transposed convolution's channels-last form (two GEMMs, or conv_transpose2d with
// HEARTMULA_CODEC_CONVT_CUDNN=1) is checked against at::conv_transpose1d directly too.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "codec/config.h"
#include "codec/estimator.h"
#include "codec/layers.h"
#include "codec/scalar_decoder.h"
#include "heartmula/error.h"
#include "io/weight_binder.h"
#include "test_codec_weights.h"

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

// Binds with the channels-last layout on any device (or not), the transposed convolutions as
// GEMMs (or conv_transpose2d); every switch is restored after.
class LayoutScope {
 public:
  LayoutScope(bool channels_last, bool gemm) : was_cl_(cuda_channels_last()), was_gemm_(convt_gemm()) {
    set_channels_last_on_any_device(channels_last);
    set_cuda_channels_last(channels_last);
    set_convt_gemm(gemm);
  }
  ~LayoutScope() {
    set_cuda_channels_last(was_cl_);
    set_convt_gemm(was_gemm_);
    set_channels_last_on_any_device(false);
  }
  LayoutScope(const LayoutScope&) = delete;
  LayoutScope& operator=(const LayoutScope&) = delete;

 private:
  bool was_cl_, was_gemm_;
};

ScalarDecoder random_decoder(bool channels_last, uint64_t seed, bool gemm = true) {
  const LayoutScope scope(channels_last, gemm);
  ScalarDecoder d;
  io::WeightBinder binder(at::kFloat, at::kCPU);
  d.declare(binder, "dec", small_config(), at::kFloat, at::kFloat);
  binder.bind_random(seed);
  return d;
}

double rel_max_diff(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

// The whole decoder channels-last (transposed convolutions as GEMMs, or as conv_transpose2d)
// against the NCL path on the same weights.
void check_decoder_layout(bool gemm) {
  c10::InferenceMode guard;
  ScalarDecoder ncl = random_decoder(false, 3), cl = random_decoder(true, 3, gemm);
  ASSERT_FALSE(ncl.channels_last());
  ASSERT_TRUE(cl.channels_last());
  // Usable weight scales, written into both (the same draw, stored in another layout).
  test::copy_usable_weights(ncl, cl, /*same_draw=*/true);
  if (::testing::Test::HasFatalFailure()) return;
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
    std::cout << (gemm ? "GEMM" : "conv_transpose2d") << " upsampling, post_chunk_samples " << chunk
              << ": max |cl - ncl| / max |ncl| = " << rel << "\n";
    EXPECT_LT(rel, 1e-5) << "post_chunk_samples " << chunk;
  }
}

TEST(CodecLayout, ChannelsLastDecodeMatchesTheNclPathOnTheCpu) { check_decoder_layout(/*gemm=*/true); }

TEST(CodecLayout, ChannelsLastDecodeWithConvTranspose2dMatchesTheNclPathOnTheCpu) {
  check_decoder_layout(/*gemm=*/false);
}

// One channels-last CausalConvTranspose1d (16 -> 8 channels, stride s) with usable random
// weights (written through `weight` and `bias`, as the decoder tests do), op dtype `op`.
CausalConvTranspose1d random_convt(int64_t s, at::ScalarType op, bool gemm, uint64_t seed) {
  const LayoutScope scope(true, gemm);
  CausalConvTranspose1d up;
  up.channels_last = true;
  io::WeightBinder binder(at::kFloat, at::kCPU);
  up.declare_weight_norm(binder, "up", 16, 8, s, op);
  binder.bind_random(seed);
  at::manual_seed(seed);
  up.weight.copy_(at::randn(up.weight.sizes()).div(std::sqrt(16.0 * 2)));
  up.bias.copy_(at::randn(up.bias.sizes()));
  return up;
}

// The channels-last forms against at::conv_transpose1d + narrow (in float32 on the same
// weights and inputs, the inputs rounded to x's dtype first): strides 2..5, T 1..50, B 1 and 2,
// op dtype and x dtype float32, bfloat16, or an fp32 op on bf16 input. Bounds relative to the
// output's peak: fp32 1e-5; one bf16 rounding of the output 1e-2 (half an ulp is up to 2^-8);
// the GEMMs in bf16 round a partial sum too (seen here: 0.022), 4e-2.
TEST(CodecLayout, CausalConvTransposeChannelsLastMatchesConvTranspose1d) {
  c10::InferenceMode guard;
  using Dt = std::tuple<at::ScalarType, at::ScalarType, double>;  // op, x, bound
  const std::vector<Dt> dtypes = {Dt{at::kFloat, at::kFloat, 1e-5}, Dt{at::kBFloat16, at::kBFloat16, 4e-2},
                                  Dt{at::kFloat, at::kBFloat16, 1e-2}};
  double worst[2][3] = {{0, 0, 0}, {0, 0, 0}};
  for (int gemm = 1; gemm >= 0; --gemm)
    for (size_t d = 0; d < dtypes.size(); ++d) {
      const auto [op, xt, bound] = dtypes[d];
      if (!gemm && op == at::kBFloat16) continue;  // LibTorch 1.13's CPU conv_transpose in bf16 throws
      for (int64_t s = 2; s <= 5; ++s) {
        const CausalConvTranspose1d up = random_convt(s, op, gemm, 10 + s);
        ASSERT_EQ(up.weight_mm.defined(), bool(gemm));
        ASSERT_EQ(up.weight4.defined(), !gemm);
        const at::Tensor w = up.weight.to(at::kFloat).contiguous(), b = up.bias.to(at::kFloat);
        for (int64_t batch : {1, 2})
          for (int64_t t : {1, 2, 3, 7, 17, 50}) {
            const at::Tensor x = at::randn({batch, 16, t}).to(xt);
            const int64_t st[1] = {s};
            at::Tensor ref = at::conv_transpose1d(x.to(at::kFloat), w, b, at::IntArrayRef(st));
            ref = ref.narrow(2, 0, t * s);
            const at::Tensor got = up.forward_cl(x.unsqueeze(2).contiguous(at::MemoryFormat::ChannelsLast));
            ASSERT_EQ(got.scalar_type(), xt);
            ASSERT_TRUE(got.sizes().equals({batch, 8, 1, t * s})) << got.sizes();
            // Dense channels-last from the GEMMs (LibTorch 1.13's CPU conv_transpose2d gives NCHW).
            if (gemm) EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast)) << got.strides();
            const double rel = rel_max_diff(got.squeeze(2).to(at::kFloat), ref);
            worst[gemm][d] = std::max(worst[gemm][d], rel);
            EXPECT_LT(rel, bound) << (gemm ? "GEMM" : "conv_transpose2d") << " op " << op << " x " << xt << " stride "
                                  << s << " B " << batch << " T " << t;
          }
      }
    }
  for (int gemm = 1; gemm >= 0; --gemm)
    for (size_t d = 0; d < dtypes.size(); ++d)
      if (gemm || std::get<0>(dtypes[d]) != at::kBFloat16)
        std::cout << (gemm ? "GEMM" : "conv_transpose2d") << " op " << std::get<0>(dtypes[d]) << " x "
                  << std::get<1>(dtypes[d]) << ": worst max |cl - ref| / max |ref| = " << worst[gemm][d] << "\n";
}

// The GEMM form's storage: weight_mm [in, 2s * out] contiguous in the op dtype, `weight` a view
// of it (no second copy, no weight4); a wrongly shaped input is an Error.
TEST(CodecLayout, CausalConvTransposeGemmHoldsOneWeight) {
  c10::InferenceMode guard;
  const CausalConvTranspose1d up = random_convt(4, at::kBFloat16, true, 1);
  ASSERT_TRUE(up.weight_mm.defined());
  EXPECT_FALSE(up.weight4.defined());
  EXPECT_TRUE(up.weight_mm.sizes().equals({16, 8 * 8}));
  EXPECT_TRUE(up.weight_mm.is_contiguous());
  EXPECT_EQ(up.weight_mm.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(up.weight.sizes().equals({16, 8, 8}));
  EXPECT_EQ(up.weight.data_ptr(), up.weight_mm.data_ptr());
  EXPECT_THROW(up.forward_cl(at::randn({1, 8, 1, 5}).contiguous(at::MemoryFormat::ChannelsLast)), Error);
  // Not channels-last (the CPU default): the plain weight only.
  CausalConvTranspose1d plain;
  plain.channels_last = true;
  io::WeightBinder binder(at::kFloat, at::kCPU);
  plain.declare_weight_norm(binder, "up", 16, 8, 4, at::kFloat);
  binder.bind_random(2);
  EXPECT_FALSE(plain.weight_mm.defined());
  EXPECT_FALSE(plain.weight4.defined());
  EXPECT_TRUE(plain.weight.is_contiguous());
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

// The estimator's ProjectLayer in its CUDA form (the k=3 convolution as one GEMM over the
// time-shifted copies side by side, wmat made at bind) against the convolution on the same
// weights, float32 and bfloat16; the held weight is the GEMM matrix, ffn_1.weight a view of it.
TEST(CodecLayout, ProjectLayerGemmFormMatchesTheConvolution) {
  c10::InferenceMode guard;
  auto make = [](bool gemm, c10::ScalarType dtype) {
    set_channels_last_on_any_device(gemm);
    ProjectLayer p;
    io::WeightBinder binder(at::kFloat, at::kCPU);
    p.declare(binder, "p", 12, 10, 3, dtype);
    binder.bind_random(5);
    set_channels_last_on_any_device(false);
    return p;
  };
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    const ProjectLayer conv = make(false, dtype), gemm = make(true, dtype);
    ASSERT_FALSE(conv.wmat.defined());
    ASSERT_TRUE(gemm.wmat.defined());
    EXPECT_EQ(gemm.wmat.sizes(), (at::IntArrayRef{10, 36}));
    EXPECT_EQ(gemm.ffn_1.weight.data_ptr(), gemm.wmat.data_ptr());  // one copy
    EXPECT_TRUE(at::equal(gemm.ffn_1.weight, conv.ffn_1.weight));   // same values, [out, in, k]
    for (int64_t t : {1, 2, 7, 40}) {
      const at::Tensor x = at::randn({2, t, 12});
      const at::Tensor a = conv(x).to(at::kFloat), b = gemm(x).to(at::kFloat);
      ASSERT_EQ(a.sizes(), b.sizes());
      EXPECT_LT(rel_max_diff(b, a), dtype == at::kFloat ? 1e-5 : 3e-2) << "T " << t;
    }
  }
}

}  // namespace
}  // namespace heartmula::codec
