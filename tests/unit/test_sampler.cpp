// The sampler on hand-computed distributions: top-k with ties, temperature, CFG mixing, the
// exponential race following its distribution (chi-square), seeding, parameter validation.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "heartmula/error.h"
#include "runtime/sampler.h"

namespace hr = heartmula::runtime;

namespace {

at::Tensor row(std::vector<float> v) { return at::tensor(v).view({1, -1}); }
const float kInf = std::numeric_limits<float>::infinity();

void expect_near(const at::Tensor& got, std::vector<double> want, double tol = 1e-6) {
  at::Tensor g = got.to(at::kDouble).reshape({-1});
  ASSERT_EQ(g.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(g[static_cast<int64_t>(i)].item<double>(), want[i], tol) << i;
}

TEST(Sampler, TopkCutKeepsTiesAtTheKthValue) {
  at::Tensor f = hr::topk_filter(row({1, 2, 3, 3, 0}), 2);
  EXPECT_TRUE(f.equal(row({-kInf, -kInf, 3, 3, -kInf})));
  f = hr::topk_filter(row({5, 4, 4, 4, 1}), 2);  // k-th value 4 is tied three times: all kept
  EXPECT_TRUE(f.equal(row({5, 4, 4, 4, -kInf})));
  f = hr::topk_filter(row({0.5f, -1, 2}), 1);
  EXPECT_TRUE(f.equal(row({-kInf, -kInf, 2})));
  f = hr::topk_filter(row({0.5f, -1, 2}), 10);  // k above the vocabulary keeps everything
  EXPECT_TRUE(f.equal(row({0.5f, -1, 2})));
  // Per row.
  f = hr::topk_filter(at::tensor({1.f, 2.f, 3.f, 3.f, 2.f, 1.f}).view({2, 3}), 1);
  EXPECT_TRUE(f.equal(at::tensor({-kInf, -kInf, 3.f, 3.f, -kInf, -kInf}).view({2, 3})));
}

TEST(Sampler, TemperatureAndTopkProbabilities) {
  const float l2 = std::log(2.f), l4 = std::log(4.f);
  expect_near(hr::sampling_probs(row({0, l2, l4}), 3, 1.0), {1 / 7., 2 / 7., 4 / 7.});
  const double r2 = std::sqrt(2.0), z = 1 + r2 + 2;
  expect_near(hr::sampling_probs(row({0, l2, l4}), 3, 2.0), {1 / z, r2 / z, 2 / z});
  expect_near(hr::sampling_probs(row({0, l2, l4}), 2, 1.0), {0, 1 / 3., 2 / 3.});
  expect_near(hr::sampling_probs(row({0, l2, l4}), 2, 0.5), {0, 1 / 5., 4 / 5.});
  expect_near(hr::sampling_probs(row({1, 1, 1, 0}), 2, 1.0), {1 / 3., 1 / 3., 1 / 3., 0});  // tie kept
}

TEST(Sampler, CfgMixingUsesUncondPlusScaledDifference) {
  // Rows: conditional first, unconditional second.
  at::Tensor logits = at::tensor({1.f, 2.f, -1.f, 3.f, 1.f, 0.f}).view({2, 3});
  expect_near(hr::cfg_mix(logits, 1.5), {3 + (1 - 3) * 1.5, 1 + (2 - 1) * 1.5, 0 + (-1 - 0) * 1.5});
  expect_near(hr::cfg_mix(logits, 1.0), {1, 2, -1});
  // Two songs: rows [c0, c1, u0, u1].
  at::Tensor two = at::tensor({1.f, 0.f, 5.f, 5.f, 0.f, 1.f, 2.f, 2.f}).view({4, 2});
  expect_near(hr::cfg_mix(two, 3.0), {0 + 3 * 1, 1 + 3 * -1, 2 + 3 * 3, 2 + 3 * 3});
}

TEST(Sampler, ExponentialRaceFollowsTheDistribution) {
  // p = softmax(top-3 of logits / 0.8); the fourth entry is cut and must never be drawn.
  const at::Tensor logits = row({0.f, 0.4f, 1.1f, -0.3f});
  const at::Tensor p = hr::sampling_probs(logits, 3, 0.8);
  const int64_t n = 40000;
  at::Generator gen = hr::make_generator(at::kCPU, 12345);
  at::Tensor draws = hr::sample_topk(logits.expand({n, 4}), 3, 0.8, gen);
  ASSERT_EQ(draws.sizes(), (std::vector<int64_t>{n, 1}));
  ASSERT_EQ(draws.scalar_type(), at::kLong);
  at::Tensor counts = at::bincount(draws.view({-1}), {}, 4).to(at::kDouble);
  EXPECT_EQ(counts[3].item<double>(), 0.0);
  double chi2 = 0;
  for (int64_t i = 0; i < 3; ++i) {
    const double e = n * p[0][i].item<double>(), o = counts[i].item<double>();
    chi2 += (o - e) * (o - e) / e;
  }
  // 2 degrees of freedom: P(chi2 > 20) ~ 4.5e-5.
  EXPECT_LT(chi2, 20.0) << "counts " << counts << " expected p " << p;
}

TEST(Sampler, TopkOneIsGreedyAndSeedsReproduce) {
  at::Generator g1 = hr::make_generator(at::kCPU, 1), g2 = hr::make_generator(at::kCPU, 99);
  const at::Tensor logits = at::randn({8, 100}, at::TensorOptions().dtype(at::kFloat));
  EXPECT_TRUE(hr::sample_topk(logits, 1, 1.0, g1).view({-1}).equal(logits.argmax(-1)));
  EXPECT_TRUE(hr::sample_topk(logits, 1, 3.0, g2).view({-1}).equal(logits.argmax(-1)));

  at::Generator a = hr::make_generator(at::kCPU, 7), b = hr::make_generator(at::kCPU, 7),
                c = hr::make_generator(at::kCPU, 8);
  at::Tensor sa = hr::sample_topk(logits, 50, 1.0, a), sb = hr::sample_topk(logits, 50, 1.0, b),
             sc = hr::sample_topk(logits, 50, 1.0, c);
  EXPECT_TRUE(sa.equal(sb));
  EXPECT_FALSE(sa.equal(sc));
}

// --temperature START:END[:linear|cosine]: the temperature of frame t by progress
// p = t / (frame limit - 1), clamped to [0, 1].
TEST(Sampler, TemperatureScheduleEndpointsMidpointAndCosine) {
  using heartmula::TemperatureShape;
  const auto lin = TemperatureShape::linear, cos = TemperatureShape::cosine;
  // 11 frames: frame 0 is START, frame 10 END, frame 5 halfway.
  EXPECT_DOUBLE_EQ(hr::scheduled_temperature(1.2, 0.7, lin, 0, 11), 1.2);
  EXPECT_DOUBLE_EQ(hr::scheduled_temperature(1.2, 0.7, lin, 10, 11), 0.7);
  EXPECT_DOUBLE_EQ(hr::scheduled_temperature(1.2, 0.7, lin, 5, 11), 0.95);
  EXPECT_DOUBLE_EQ(hr::scheduled_temperature(0.5, 1.5, lin, 2, 11), 0.7);
  // Past the limit (a batch's longer songs go on) and before the start: clamped.
  EXPECT_DOUBLE_EQ(hr::scheduled_temperature(1.2, 0.7, lin, 25, 11), 0.7);
  EXPECT_DOUBLE_EQ(hr::scheduled_temperature(1.2, 0.7, lin, -3, 11), 1.2);
  // A song of one frame: START.
  EXPECT_DOUBLE_EQ(hr::scheduled_temperature(1.2, 0.7, lin, 0, 1), 1.2);
  // Cosine: the same endpoints and midpoint, slower at both ends than linear.
  EXPECT_DOUBLE_EQ(hr::scheduled_temperature(1.2, 0.7, cos, 0, 11), 1.2);
  EXPECT_NEAR(hr::scheduled_temperature(1.2, 0.7, cos, 10, 11), 0.7, 1e-15);
  EXPECT_NEAR(hr::scheduled_temperature(1.2, 0.7, cos, 5, 11), 0.95, 1e-15);
  // p = 0.1: end + (start - end) * (1 + cos(0.1 pi)) / 2.
  EXPECT_NEAR(hr::scheduled_temperature(1.2, 0.7, cos, 1, 11), 0.7 + 0.5 * (1 + std::cos(0.1 * M_PI)) / 2, 1e-15);
  EXPECT_GT(hr::scheduled_temperature(1.2, 0.7, cos, 1, 11), hr::scheduled_temperature(1.2, 0.7, lin, 1, 11));
  EXPECT_LT(hr::scheduled_temperature(1.2, 0.7, cos, 9, 11), hr::scheduled_temperature(1.2, 0.7, lin, 9, 11));

  // SamplingParams: without END (or END == START) every frame is START itself.
  hr::SamplingParams p;
  p.temperature = 0.9;
  EXPECT_FALSE(p.temperature_varies());
  EXPECT_EQ(p.temperature_at(7, 11), 0.9);
  p.temperature_end = 0.9;
  EXPECT_FALSE(p.temperature_varies());
  EXPECT_EQ(p.temperature_at(7, 11), 0.9);
  p.temperature_end = 0.4;
  p.temperature_shape = cos;
  EXPECT_TRUE(p.temperature_varies());
  EXPECT_EQ(p.temperature_at(7, 11), hr::scheduled_temperature(0.9, 0.4, cos, 7, 11));
  EXPECT_NO_THROW(p.validate());
  p.temperature_end = 101;  // END has the same limits as START
  try {
    p.validate();
    ADD_FAILURE() << "END 101 accepted";
  } catch (const heartmula::UsageError& e) {
    EXPECT_STREQ(e.what(), "--temperature must be a number in [0.01, 100]. Given: 101");
  }
}

// The temperature given as a one-element tensor samples exactly as the same number.
TEST(Sampler, TemperatureTensorSamplesAsTheNumber) {
  const at::Tensor logits = at::randn({1, 300}, at::TensorOptions().dtype(at::kFloat));
  const at::Tensor t = at::full({1}, 0.75, at::TensorOptions().dtype(at::kFloat));
  EXPECT_TRUE(hr::sampling_probs(logits, 40, t).allclose(hr::sampling_probs(logits, 40, 0.75), 1e-6, 1e-7));
  at::Generator a = hr::make_generator(at::kCPU, 5), b = hr::make_generator(at::kCPU, 5);
  EXPECT_TRUE(hr::sample_topk(logits, 40, t, a).equal(hr::sample_topk(logits, 40, 0.75, b)));
}

TEST(Sampler, ParamsValidateNamesTheFlag) {
  hr::SamplingParams p;
  EXPECT_NO_THROW(p.validate());
  auto expect_msg = [](hr::SamplingParams q, const std::string& flag) {
    try {
      q.validate();
      ADD_FAILURE() << "no error for " << flag;
    } catch (const heartmula::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  };
  p.temperature = 0;
  expect_msg(p, "--temperature");
  p = {};
  p.topk = 0;
  expect_msg(p, "--topk");
  p = {};
  p.cfg_scale = -1;
  expect_msg(p, "--cfg-scale");
  p = {};
  p.cfg_scale = 1.0;
  EXPECT_FALSE(p.uses_cfg());
  p.cfg_scale = 1.5;
  EXPECT_TRUE(p.uses_cfg());
}

}  // namespace
