// The fused CUDA kernels of the frame step against the composite ATen versions they replace.
// Built only for CUDA LibTorch builds (tests/unit/cuda_kernels.cmake) and run on the GPU machine
// by scripts/device-check.sh (ctest -L unit).
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <tuple>
#include <vector>

#include "model/attention.h"
#include "model/cuda/decode_kernels.h"
#include "model/fused_ops.h"
#include "model/transformer.h"
#include "runtime/fused_sampler.h"
#include "runtime/sampler.h"

namespace heartmula {
namespace {

at::TensorOptions cuda(at::ScalarType t) { return at::TensorOptions().dtype(t).device(at::kCUDA); }

// max |a - b| / max |b|, in float32.
double rel(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor af = a.to(at::kCPU, at::kFloat), bf = b.to(at::kCPU, at::kFloat);
  return ((af - bf).abs().max() / bf.abs().max()).item<double>();
}

TEST(CudaKernels, DecodeAttentionMatchesTheReference) {
  at::manual_seed(1);
  // The depth decoder's heads (8 / 4, head_dim 384) over a few positions: the short kernel; past
  // kDecodeAttentionShortMax positions ATen's SDPA.
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    const int64_t b = 2, len = 40;
    at::Tensor q = at::randn({b, 1, 8, 384}, cuda(dtype));
    at::Tensor kc = at::randn({b, 4, len, 384}, cuda(dtype)), vc = at::randn({b, 4, len, 384}, cuda(dtype));
    for (int64_t kv : {1, 2, 5, 9, 32}) {
      for (bool masked : {false, true}) {
        at::Tensor mask;
        if (masked)
          mask = model::attention_mask(at::full({1}, kv - 1, cuda(at::kLong)), kv,
                                       at::tensor(std::vector<int64_t>{0, kv / 2}, cuda(at::kLong)));
        at::Tensor out;
        ASSERT_TRUE(model::fused_decode_attention(q, kc, vc, kv, mask, out)) << "kv " << kv;
        const at::Tensor ref =
            model::grouped_attention_reference(q.transpose(1, 2).to(at::kFloat), kc.narrow(2, 0, kv).to(at::kFloat),
                                               vc.narrow(2, 0, kv).to(at::kFloat), mask)
                .transpose(1, 2);
        EXPECT_LT(rel(out, ref), dtype == at::kFloat ? 1e-5 : 1e-2) << "hd 384, kv " << kv << " masked " << masked;
      }
    }
    at::Tensor out;
    EXPECT_FALSE(model::fused_decode_attention(q, kc, vc, 33, at::Tensor(), out));
  }
  // The backbone's heads (24 / 8 kv, head_dim 128) and a smaller head_dim.
  for (auto [h, hkv, hd] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{24, 8, 128}, {8, 4, 64}})
    for (auto dtype : {at::kFloat, at::kBFloat16}) {
      const int64_t b = 2, len = 700;
      for (int64_t kv : {1, 5, 300, 700}) {
        at::Tensor qkv = at::randn({b, 1, (h + 2 * hkv) * hd}, cuda(dtype));
        at::Tensor q = qkv.narrow(-1, 0, h * hd).view({b, 1, h, hd});
        at::Tensor kc = at::randn({b, hkv, len, hd}, cuda(dtype)), vc = at::randn({b, hkv, len, hd}, cuda(dtype));
        at::Tensor slot = at::full({1}, kv - 1, cuda(at::kLong));
        for (bool padded : {false, true}) {
          at::Tensor pad;
          if (padded) pad = at::tensor(std::vector<int64_t>{0, std::min<int64_t>(17, kv - 1)}, cuda(at::kLong));
          at::Tensor mask = model::attention_mask(slot, kv, pad);
          at::Tensor out;
          ASSERT_TRUE(model::fused_decode_attention(q, kc, vc, kv, mask, out));
          const at::Tensor ref =
              model::grouped_attention_reference(q.transpose(1, 2).to(at::kFloat), kc.narrow(2, 0, kv).to(at::kFloat),
                                                 vc.narrow(2, 0, kv).to(at::kFloat), mask)
                  .transpose(1, 2);
          EXPECT_LT(rel(out, ref), dtype == at::kFloat ? 1e-5 : 1e-2) << "kv " << kv << " padded " << padded;
        }
        at::Tensor out;
        ASSERT_TRUE(model::fused_decode_attention(q, kc, vc, kv, at::Tensor(), out));
        const at::Tensor ref =
            model::grouped_attention_reference(q.transpose(1, 2).to(at::kFloat), kc.narrow(2, 0, kv).to(at::kFloat),
                                               vc.narrow(2, 0, kv).to(at::kFloat), at::Tensor())
                .transpose(1, 2);
        EXPECT_LT(rel(out, ref), dtype == at::kFloat ? 1e-5 : 1e-2) << "kv " << kv << " unmasked";
      }
      // The graphs' whole-cache attention: every position past the song masked, whole chunks of them.
      at::Tensor q = at::randn({b, 1, h, hd}, cuda(dtype));
      at::Tensor kc = at::randn({b, hkv, len, hd}, cuda(dtype)), vc = at::randn({b, hkv, len, hd}, cuda(dtype));
      for (int64_t visible : {1, 128, 129, 300}) {
        const at::Tensor mask = model::attention_mask(at::full({1}, visible - 1, cuda(at::kLong)), len, at::Tensor());
        ASSERT_EQ(mask.size(-1), len);
        at::Tensor got;
        ASSERT_TRUE(model::fused_decode_attention(q, kc, vc, len, mask, got));
        const at::Tensor ref = model::grouped_attention_reference(q.transpose(1, 2).to(at::kFloat),
                                                                  kc.narrow(2, 0, visible).to(at::kFloat),
                                                                  vc.narrow(2, 0, visible).to(at::kFloat), at::Tensor())
                                   .transpose(1, 2);
        EXPECT_LT(rel(got, ref), dtype == at::kFloat ? 1e-5 : 1e-2) << "visible " << visible;
      }
    }
}

TEST(CudaKernels, AddRmsNormSiluMulAndRopeCacheMatchTheComposites) {
  at::manual_seed(2);
  const int64_t d = 3072;
  at::Tensor x = at::randn({2, 1, d}, cuda(at::kBFloat16)), y = at::randn({2, 1, d}, cuda(at::kBFloat16));
  at::Tensor scale = at::randn({d}, cuda(at::kBFloat16));
  at::Tensor sum, normed;
  ASSERT_TRUE(model::fused_add_rms_norm(x, y, scale, 1e-5, sum, normed));
  const at::Tensor sum_ref = (x.cpu() + y.cpu());
  EXPECT_TRUE(at::equal(sum.cpu(), sum_ref));
  EXPECT_LT(rel(normed, model::rms_norm(sum_ref, scale.cpu(), 1e-5)), 1e-2);

  at::Tensor gu = at::randn({2, 1, 2 * 8192}, cuda(at::kBFloat16)), act;
  ASSERT_TRUE(model::fused_silu_mul(gu, act));
  const at::Tensor g = gu.cpu();
  EXPECT_LT(rel(act, at::silu(g.narrow(-1, 0, 8192)).mul(g.narrow(-1, 8192, 8192))), 1e-2);

  // RoPE + cache write vs RoPE in place + index_copy_.
  const int64_t b = 2, s = 3, h = 4, hkv = 2, hd = 16, len = 10;
  at::Tensor qkv = at::randn({b, s, (h + 2 * hkv) * hd}, cuda(at::kBFloat16));
  model::RopeRows rows{at::randn({b, s, 1, hd / 2}, cuda(at::kFloat)), at::randn({b, s, 1, hd / 2}, cuda(at::kFloat))};
  at::Tensor slots = at::tensor(std::vector<int64_t>{4, 5, 6}, cuda(at::kLong));
  at::Tensor kc = at::zeros({b, hkv, len, hd}, cuda(at::kBFloat16)), vc = at::zeros_like(kc);
  at::Tensor qkv2 = qkv.clone(), kc2 = kc.clone(), vc2 = vc.clone();
  ASSERT_TRUE(model::fused_rope_qk_cache_(qkv, h, hkv, hd, rows, slots, kc, vc));
  ASSERT_TRUE(model::fused_rope_qk_(qkv2, h + hkv, hd, rows));
  kc2.index_copy_(2, slots, qkv2.narrow(-1, h * hd, hkv * hd).reshape({b, s, hkv, hd}).transpose(1, 2));
  vc2.index_copy_(2, slots, qkv2.narrow(-1, (h + hkv) * hd, hkv * hd).reshape({b, s, hkv, hd}).transpose(1, 2));
  EXPECT_TRUE(at::equal(qkv, qkv2));
  EXPECT_TRUE(at::equal(kc, kc2));
  EXPECT_TRUE(at::equal(vc, vc2));
}

// The fused sampler draws the same noise and picks the same tokens as the composite sampler.
TEST(CudaKernels, FusedSamplerPicksTheCompositeSamplersTokens) {
  at::manual_seed(3);
  const int64_t v = 8197, padded = 8256;
  for (int64_t songs : {1, 3}) {
    for (bool cfg : {true, false}) {
      for (int64_t topk : {1, 50, 8197}) {
        const int64_t rows = cfg ? 2 * songs : songs;
        std::vector<at::Generator> fused_gens, ref_gens;
        for (int64_t s = 0; s < songs; ++s) {
          fused_gens.push_back(runtime::make_generator(at::Device(at::kCUDA), 100 + s));
          ref_gens.push_back(runtime::make_generator(at::Device(at::kCUDA), 100 + s));
        }
        at::Tensor q = at::empty({songs, v}, cuda(at::kFloat)), tokens = at::zeros({rows, 1}, cuda(at::kLong));
        at::Tensor frame = at::zeros({rows, 8}, cuda(at::kLong));
        runtime::FusedSampleArgs a;
        a.vocab = v, a.songs = songs, a.cfg = cfg, a.cfg_scale = 1.5, a.topk = topk, a.temperature = 0.9;
        int64_t agree = 0, draws = 0;
        for (int trial = 0; trial < 40; ++trial) {
          at::Tensor logits = at::randn({rows, padded}, cuda(at::kBFloat16)).mul(3);
          ASSERT_TRUE(runtime::fused_sample_topk(logits, a, fused_gens, q, tokens, frame, 2));
          at::Tensor lf = logits.narrow(-1, 0, v).to(at::kFloat);
          at::Tensor guided = cfg ? runtime::cfg_mix(lf, 1.5) : lf;
          for (int64_t s = 0; s < songs; ++s) {
            const int64_t want = runtime::sample_topk(guided.narrow(0, s, 1), topk, 0.9, ref_gens[s]).item<int64_t>();
            const int64_t got = tokens[s][0].item<int64_t>();
            agree += got == want;
            ++draws;
            EXPECT_EQ(frame[s][2].item<int64_t>(), got);
            if (cfg) {
              EXPECT_EQ(tokens[s + songs][0].item<int64_t>(), got);
            }
          }
        }
        EXPECT_EQ(agree, draws) << "songs " << songs << " cfg " << cfg << " topk " << topk;
      }
    }
  }
}

// A temperature schedule: the kernel reads each song's 1 / temperature from a device array when
// it runs, so a graph captured once replays with the values written before each replay.
TEST(CudaKernels, FusedSamplerReadsEachSongsTemperatureFromTheDevice) {
  at::manual_seed(4);
  const int64_t v = 8197, padded = 8256, songs = 2, topk = 50;
  std::vector<at::Generator> fused_gens, ref_gens;
  for (int64_t s = 0; s < songs; ++s) {
    fused_gens.push_back(runtime::make_generator(at::Device(at::kCUDA), 200 + s));
    ref_gens.push_back(runtime::make_generator(at::Device(at::kCUDA), 200 + s));
  }
  at::Tensor q = at::empty({songs, v}, cuda(at::kFloat)), tokens = at::zeros({songs, 1}, cuda(at::kLong));
  at::Tensor frame = at::zeros({songs, 8}, cuda(at::kLong));
  runtime::FusedSampleArgs a;
  a.vocab = v, a.songs = songs, a.cfg = false, a.topk = topk;
  a.inv_temperature = at::empty({songs}, cuda(at::kFloat));
  int64_t agree = 0, draws = 0;
  for (int trial = 0; trial < 20; ++trial) {
    const double t[2] = {0.3 + 0.05 * trial, 2.0 - 0.05 * trial};
    for (int64_t s = 0; s < songs; ++s)
      a.inv_temperature.narrow(0, s, 1).fill_(static_cast<double>(1.0f / static_cast<float>(t[s])));
    at::Tensor logits = at::randn({songs, padded}, cuda(at::kBFloat16)).mul(3);
    ASSERT_TRUE(runtime::fused_sample_topk(logits, a, fused_gens, q, tokens, frame, 1));
    at::Tensor lf = logits.narrow(-1, 0, v).to(at::kFloat);
    for (int64_t s = 0; s < songs; ++s) {
      agree += tokens[s][0].item<int64_t>() ==
               runtime::sample_topk(lf.narrow(0, s, 1), topk, t[s], ref_gens[s]).item<int64_t>();
      ++draws;
    }
  }
  EXPECT_EQ(agree, draws);
}

}  // namespace
}  // namespace heartmula
