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
#include <string>
#include <vector>

#include "codec/config.h"
#include "codec/fused_ops.h"
#include "codec/layers.h"
#include "codec/scalar_decoder.h"
#include "io/weight_binder.h"
#include "../unit/test_codec_weights.h"

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
  const std::vector<Case> cases = {
      {1024, 3720, true}, {64, int64_t(1) << 17, true}, {3, 1001, true}, {256, 999, false}};
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

// The 64-channel stage's tensor-core kernels (fused_residual_unit64, fused_post_and_out64)
// against the composite in IEEE float32 (TF32 off) — their error must be of TF32's order, like
// cuDNN's TF32 convolutions' (printed beside it).
struct Conv64Weights {
  at::Tensor w1, b1, a1, w2, b2, a2;
};

at::Tensor cl_weight(int64_t out, int64_t in, int64_t k) {
  return at::randn({out, in, 1, k}, cuda(at::kFloat))
      .mul(1.0 / std::sqrt(double(in * k)))
      .contiguous(at::MemoryFormat::ChannelsLast);
}

Conv64Weights conv64_weights() {
  return {cl_weight(64, 64, 7), at::randn({64}, cuda(at::kFloat)).mul(0.1), at::full({1}, 0.25, cuda(at::kFloat)),
          cl_weight(64, 64, 1), at::randn({64}, cuda(at::kFloat)).mul(0.1), at::full({1}, 0.2, cuda(at::kFloat))};
}

// x [B, 64, 1, T] -> causal conv (kernel weight.size(3), dilation) + bias, channels-last.
at::Tensor causal_conv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, int64_t dilation) {
  const int64_t pad = dilation * (w.size(3) - 1);
  const at::Tensor xp = at::constant_pad_nd(x, {pad, 0}, 0).contiguous(at::MemoryFormat::ChannelsLast);
  const int64_t s[2] = {1, 1}, p0[2] = {0, 0}, dil[2] = {1, dilation};
  return at::conv2d(xp, w, b, s, p0, dil);
}

at::Tensor unit_composite(const at::Tensor& x, const Conv64Weights& w, int64_t dilation) {
  at::Tensor h = at::prelu(causal_conv(x, w.w1, w.b1, dilation), w.a1);
  return at::prelu(causal_conv(h, w.w2, w.b2, 1), w.a2).add(x);
}

class Tf32 {
 public:
  explicit Tf32(bool on) : was_(at::globalContext().allowTF32CuDNN()) { at::globalContext().setAllowTF32CuDNN(on); }
  ~Tf32() { at::globalContext().setAllowTF32CuDNN(was_); }

 private:
  bool was_;
};

TEST(CodecDecoderCuda, Conv64ResidualUnitMatchesTheComposite) {
  c10::InferenceMode guard;
  at::manual_seed(31);
  const Conv64Weights w = conv64_weights();
  struct Case {
    int64_t b, t, dilation;
  };
  // The real last stage (714 240 steps), lengths off the 256-step tile, a batch of 2, a
  // sequence shorter than the causal context.
  const std::vector<Case> cases = {{1, 714240, 1}, {1, 714240, 9}, {1, 1001, 3},
                                   {2, 4099, 5},   {1, 37, 7},     {1, 300, 11}};
  for (const Case& c : cases) {
    const at::Tensor x = at::randn({c.b, 64, 1, c.t}, cuda(at::kFloat)).contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor ref, cudnn_tf32, got;
    {
      Tf32 off(false);
      ref = unit_composite(x, w, c.dilation);
      at::Tensor unused;
      EXPECT_FALSE(fused_residual_unit64(x, w.w1, w.b1, w.a1, c.dilation, w.w2, w.b2, w.a2, unused))
          << "IEEE float32 keeps the composite";
    }
    {
      Tf32 on(true);
      cudnn_tf32 = unit_composite(x, w, c.dilation);
      ASSERT_TRUE(fused_residual_unit64(x, w.w1, w.b1, w.a1, c.dilation, w.w2, w.b2, w.a2, got))
          << "T " << c.t << " dilation " << c.dilation;
    }
    ASSERT_TRUE(got.sizes().equals(x.sizes()));
    EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast));
    const double e_got = rel_max_diff(got, ref), e_cudnn = rel_max_diff(cudnn_tf32, ref);
    std::cout << "conv64 unit B " << c.b << " T " << c.t << " dilation " << c.dilation << ": max |kernel - fp32| / max "
              << e_got << ", cuDNN TF32 " << e_cudnn << "\n";
    EXPECT_LT(e_got, 2e-3);
    EXPECT_LT(e_got, 4 * e_cudnn + 1e-5);
    if (c.t == 714240) {  // the real stage: time both (printed only; speed is heartmula-bench's job)
      Tf32 on(true);
      auto ms_of = [&](auto&& fn) {
        at::Tensor first = fn();
        first.sum().item<float>();
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < 10; ++r) fn();
        at::Tensor last = fn();
        last.sum().item<float>();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e3 / 11;
      };
      const double k = ms_of([&] {
        at::Tensor y;
        fused_residual_unit64(x, w.w1, w.b1, w.a1, c.dilation, w.w2, w.b2, w.a2, y);
        return y;
      });
      const double d = ms_of([&] { return unit_composite(x, w, c.dilation); });
      const double gflop = 2.0 * 64 * 64 * 8 * double(c.t) * 1e-9;
      std::cout << "  time per unit: kernel " << k << " ms (" << gflop / k << " TFLOP/s), cuDNN TF32 composite " << d
                << " ms\n";
    }
  }
  // Not taken: bf16, 128 channels, a contiguous (not channels-last) x, a non-64-channel weight.
  Tf32 on(true);
  at::Tensor out;
  const at::Tensor x = at::randn({1, 64, 1, 512}, cuda(at::kFloat)).contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT_FALSE(fused_residual_unit64(x.to(at::kBFloat16), w.w1, w.b1, w.a1, 1, w.w2, w.b2, w.a2, out));
  EXPECT_FALSE(
      fused_residual_unit64(at::randn({1, 128, 1, 512}, cuda(at::kFloat)).contiguous(at::MemoryFormat::ChannelsLast),
                            w.w1, w.b1, w.a1, 1, w.w2, w.b2, w.a2, out));
  EXPECT_FALSE(fused_residual_unit64(x.contiguous(), w.w1, w.b1, w.a1, 1, w.w2, w.b2, w.a2, out));
  EXPECT_FALSE(fused_residual_unit64(x, cl_weight(64, 64, 5), w.b1, w.a1, 1, w.w2, w.b2, w.a2, out));
  EXPECT_FALSE(fused_residual_unit64(x, w.w1, w.b1, w.a1, 64, w.w2, w.b2, w.a2, out)) << "context past shared memory";
}

// The pointwise half of a 128- or 256-channel residual unit (fused_pointwise_unit) against the
// composite (bias + PReLU, the 1x1 convolution, bias + PReLU + residual) in IEEE float32; its
// error must be of TF32's order like the TF32 composite's (printed beside it).
TEST(CodecDecoderCuda, PointwiseUnitMatchesTheComposite) {
  c10::InferenceMode guard;
  at::manual_seed(33);
  for (const int64_t ch : {int64_t{128}}) {
    const at::Tensor b1 = at::randn({ch}, cuda(at::kFloat)).mul(0.1), a1 = at::full({1}, 0.25, cuda(at::kFloat));
    const at::Tensor w2 = cl_weight(ch, ch, 1), b2 = at::randn({ch}, cuda(at::kFloat)).mul(0.1);
    const at::Tensor a2 = at::full({1}, 0.2, cuda(at::kFloat));
    auto composite = [&](const at::Tensor& h, const at::Tensor& x) {
      at::Tensor a = at::prelu(h + b1.view({1, ch, 1, 1}), a1).contiguous(at::MemoryFormat::ChannelsLast);
      return at::prelu(causal_conv(a, w2, b2, 1), a2).add(x);
    };
    struct Case {
      int64_t b, t;
    };
    // Stage 4's and stage 3's real lengths (238 080 and 59 520 steps), lengths off the tile, a
    // batch of 2, one step.
    for (const Case c : std::vector<Case>{{1, ch == 128 ? 238080 : 59520}, {1, 1001}, {2, 300}, {1, 37}, {1, 1}}) {
      // Rows of very different magnitudes (x 1e-4, x 300), so that the per-row scales differ.
      at::Tensor h = at::randn({c.b, ch, 1, c.t}, cuda(at::kFloat)).contiguous(at::MemoryFormat::ChannelsLast);
      if (c.t > 8) {
        h.narrow(3, 3, 1).mul_(1e-4);
        h.narrow(3, 5, 1).mul_(300);
      }
      const at::Tensor x = at::randn({c.b, ch, 1, c.t}, cuda(at::kFloat)).contiguous(at::MemoryFormat::ChannelsLast);
      at::Tensor ref, tf32, got;
      {
        Tf32 off(false);
        ref = composite(h, x);
        at::Tensor unused;
        EXPECT_FALSE(fused_pointwise_unit(h, b1, a1, w2, b2, a2, x, unused)) << "IEEE float32 keeps the composite";
      }
      {
        Tf32 on(true);
        tf32 = composite(h, x);
        ASSERT_TRUE(fused_pointwise_unit(h, b1, a1, w2, b2, a2, x, got)) << "B " << c.b << " T " << c.t;
      }
      ASSERT_TRUE(got.sizes().equals(x.sizes()));
      EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast));
      const double e_got = rel_max_diff(got, ref), e_tf32 = rel_max_diff(tf32, ref);
      // Bounded by TF32's unit roundoff (2^-11 ~ 4.9e-4) relative to the peak. (cuDNN may run the
      // 1x1 convolution more exactly than TF32 on some shapes, so no ratio to its error.)
      EXPECT_LT(e_got, 5e-4);
      if (c.t == 238080 || c.t == 59520) {  // time both (printed only)
        Tf32 on(true);
        auto ms_of = [&](auto&& fn) {
          at::Tensor first = fn();
          first.sum().item<float>();
          const auto t0 = std::chrono::steady_clock::now();
          for (int r = 0; r < 10; ++r) fn();
          at::Tensor last = fn();
          last.sum().item<float>();
          return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e3 / 11;
        };
        const double k = ms_of([&] {
          at::Tensor y;
          fused_pointwise_unit(h, b1, a1, w2, b2, a2, x, y);
          return y;
        });
        const double d = ms_of([&] { return composite(h, x); });
        std::cout << "  C " << ch << " T " << c.t << ", time per unit's pointwise half: kernel " << k
                  << " ms, TF32 composite " << d << " ms\n";
      }
    }
  }
  // Not taken: 64 or 256 channels, bf16, a contiguous (not channels-last) tensor.
  const at::Tensor b1 = at::randn({128}, cuda(at::kFloat)), a1 = at::full({1}, 0.25, cuda(at::kFloat));
  const at::Tensor w2 = cl_weight(128, 128, 1), b2 = at::randn({128}, cuda(at::kFloat)), a2 = a1;
  at::Tensor out;
  Tf32 on(true);
  const at::Tensor h64 = at::randn({1, 64, 1, 100}, cuda(at::kFloat)).contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT_FALSE(fused_pointwise_unit(h64, b1, a1, w2, b2, a2, h64, out));
  const at::Tensor h256 = at::randn({1, 256, 1, 100}, cuda(at::kFloat)).contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor w256 = cl_weight(256, 256, 1), b256 = at::randn({256}, cuda(at::kFloat));
  EXPECT_FALSE(fused_pointwise_unit(h256, b256, a1, w256, b256, a2, h256, out));
  const at::Tensor hb = at::randn({1, 128, 1, 100}, cuda(at::kBFloat16)).contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT_FALSE(fused_pointwise_unit(hb, b1, a1, w2, b2, a2, hb, out));
  const at::Tensor hc = at::randn({1, 128, 1, 100}, cuda(at::kFloat));
  EXPECT_FALSE(fused_pointwise_unit(hc, b1, a1, w2, b2, a2, hc, out));
  EXPECT_FALSE(out.defined());
}

TEST(CodecDecoderCuda, Conv64PostAndOutMatchesTheComposite) {
  c10::InferenceMode guard;
  at::manual_seed(32);
  const at::Tensor wp = cl_weight(64, 64, 7), bp = at::randn({64}, cuda(at::kFloat)).mul(0.1);
  const at::Tensor ap = at::full({1}, 0.25, cuda(at::kFloat));
  const at::Tensor wo = cl_weight(1, 64, 7), bo = at::randn({1}, cuda(at::kFloat)).mul(0.1);
  const int64_t t = 714240, rep = 2, n = t * rep;
  const at::Tensor x = at::randn({1, 64, 1, t}, cuda(at::kFloat)).contiguous(at::MemoryFormat::ChannelsLast);
  auto composite = [&] {
    const at::Tensor xr = x.repeat_interleave(rep, 3).contiguous(at::MemoryFormat::ChannelsLast);
    const at::Tensor h = at::prelu(causal_conv(xr, wp, bp, 1), ap);
    return causal_conv(h, wo, bo, 1).reshape({1, 1, n});
  };
  at::Tensor ref, cudnn_tf32;
  {
    Tf32 off(false);
    ref = composite();
    at::Tensor unused;
    EXPECT_FALSE(fused_post_and_out64(x, rep, wp, bp, ap, wo, bo, 0, n, unused));
  }
  Tf32 on(true);
  cudnn_tf32 = composite();
  const double e_cudnn = rel_max_diff(cudnn_tf32, ref);
  // The whole row, a first chunk, chunks inside (their context from the input), the last one.
  const std::vector<std::pair<int64_t, int64_t>> ranges = {
      {0, n}, {0, 131072}, {131072, 262144}, {5, 1000}, {n - 777, n}};
  for (const auto& [from, to] : ranges) {
    at::Tensor got;
    ASSERT_TRUE(fused_post_and_out64(x, rep, wp, bp, ap, wo, bo, from, to, got)) << from << ".." << to;
    ASSERT_EQ(got.dim(), 3);
    ASSERT_EQ(got.size(2), to - from);
    const at::Tensor want = ref.narrow(2, from, to - from);
    const double e = ((got - want).abs().max() / ref.abs().max()).item<double>();
    std::cout << "conv64 post+out [" << from << ", " << to << "): max |kernel - fp32| / max " << e << ", cuDNN TF32 "
              << e_cudnn << "\n";
    EXPECT_LT(e, 2e-3);
    EXPECT_LT(e, 4 * e_cudnn + 1e-5);
  }
  {  // time the whole row (printed only)
    at::Tensor y;
    fused_post_and_out64(x, rep, wp, bp, ap, wo, bo, 0, n, y);
    y.sum().item<float>();
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < 10; ++r) fused_post_and_out64(x, rep, wp, bp, ap, wo, bo, 0, n, y);
    y.sum().item<float>();
    const double ms = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e2;
    std::cout << "  time per row (post conv + output conv, " << n << " samples): " << ms << " ms ("
              << 2.0 * 64 * 64 * 7 * double(n) * 1e-9 / ms << " TFLOP/s in the post conv)\n";
  }
  at::Tensor out;
  EXPECT_FALSE(fused_post_and_out64(x, rep, wp, bp, ap, wo, bo, 0, n + 1, out)) << "past the input";
}

TEST(CodecDecoderCuda, ChannelsLastDecodeMatchesTheNclPath) {
  c10::InferenceMode guard;
  at::manual_seed(22);
  const ScalarDecoder ncl = random_decoder(false, 5, at::kFloat), cl = random_decoder(true, 6, at::kFloat);
  ASSERT_FALSE(ncl.channels_last());
  ASSERT_TRUE(cl.channels_last());
  test::copy_usable_weights(ncl, cl, /*same_draw=*/false);
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
  test::copy_usable_weights(ncl, cl, /*same_draw=*/false);
  EXPECT_LT(compare_paths(ncl, cl, at::kBFloat16, "bf16"), 0.1);
}

}  // namespace
}  // namespace heartmula::codec
