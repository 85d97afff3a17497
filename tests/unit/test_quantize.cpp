// 8-bit weights (model/linear.h): the quantization rule, its determinism, the int8 linear on
// the CPU, the keys it applies to, and how checkpoints that are not what they claim are refused.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "heartmula/error.h"
#include "model/config.h"
#include "io/weight_binder.h"
#include "model/linear.h"

namespace hm = heartmula::model;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(QuantizeInt8, RowScaleAndRoundHalfToEven) {
  // Row 0: max 127 -> scale 1: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2 (half to even). Row 1: all zero ->
  // scale 0, values 0. Row 2: max 0.254 -> scale 0.002: 0.001 is exactly half a step.
  const at::Tensor w =
      at::tensor(std::vector<float>{127, 2.5f, 3.5f, -2.5f, 0, 0, 0, 0, -0.254f, 0.001f, 0.127f, 0}, at::kFloat)
          .view({3, 4});
  const hm::Linear q = hm::quantize_int8(w);
  ASSERT_EQ(q.weight.scalar_type(), at::kChar);
  ASSERT_EQ(q.scale.scalar_type(), at::kFloat);
  EXPECT_EQ(q.weight.sizes(), w.sizes());
  EXPECT_EQ(q.scale.sizes(), (std::vector<int64_t>{3}));
  const auto v = q.weight.contiguous();
  const int8_t* p = v.data_ptr<int8_t>();
  EXPECT_EQ(std::vector<int>(p, p + 4), (std::vector<int>{127, 2, 4, -2}));
  EXPECT_EQ(std::vector<int>(p + 4, p + 8), (std::vector<int>{0, 0, 0, 0}));
  EXPECT_EQ(p[8], -127);
  EXPECT_EQ(p[10], 64);  // 0.127 / 0.002 = 63.5 -> 64 (even)
  EXPECT_FLOAT_EQ(q.scale[0].item<float>(), 1.0f);
  EXPECT_EQ(q.scale[1].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(q.scale[2].item<float>(), 0.254f / 127);
}

TEST(QuantizeInt8, ErrorWithinHalfAStepPerRow) {
  at::manual_seed(1);
  const at::Tensor w = at::randn({64, 320}).mul(at::rand({64, 1}).mul(3));  // rows of different range
  const hm::Linear q = hm::quantize_int8(w);
  const at::Tensor err = (q.dense(at::kFloat) - w).abs().amax(1);
  EXPECT_TRUE(err.le(q.scale.mul(0.5 + 1e-5)).all().item<bool>());
  EXPECT_EQ(q.weight.abs().amax().item<int>(), 127);  // every row uses the whole range
  EXPECT_TRUE(q.weight.ne(-128).all().item<bool>());
}

TEST(QuantizeInt8, SameBytesForAnyThreadCount) {
  at::manual_seed(2);
  const at::Tensor w = at::randn({1024, 1536});
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  const hm::Linear a = hm::quantize_int8(w);
  at::set_num_threads(std::max(2, before));
  const hm::Linear b = hm::quantize_int8(w);
  at::set_num_threads(before);
  EXPECT_TRUE(a.weight.equal(b.weight));
  EXPECT_TRUE(a.scale.equal(b.scale));
  // A stacked weight is quantized row by row like its slices.
  const at::Tensor s = at::randn({3, 40, 64});
  const hm::Linear qs = hm::quantize_int8(s);
  for (int64_t i = 0; i < 3; ++i) {
    const hm::Linear qi = hm::quantize_int8(s[i]);
    EXPECT_TRUE(qs.select(i).weight.equal(qi.weight));
    EXPECT_TRUE(qs.select(i).scale.equal(qi.scale));
  }
}

TEST(QuantizeInt8, RefusesWhatIsNotAFloatMatrix) {
  EXPECT_NE(error_of([] { hm::quantize_int8(at::ones({4}, at::kFloat)); }).find("at least 2"), std::string::npos);
  EXPECT_NE(error_of([] { hm::quantize_int8(at::ones({4, 4}, at::kLong)); }).find("Long"), std::string::npos);
}

TEST(Int8Linear, CpuMatchesFloat64OnTheDequantizedWeight) {
  at::manual_seed(3);
  const hm::Linear lin = hm::quantize_int8(at::randn({96, 128}).mul(0.05));
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    const at::Tensor x = at::randn({2, 3, 128}).to(dtype);
    const at::Tensor y = lin(x);
    EXPECT_EQ(y.scalar_type(), dtype);
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 96}));
    const at::Tensor ref = at::matmul(x.to(at::kDouble), lin.dense(at::kDouble).t());
    const double ulp = dtype == at::kFloat ? 1e-6 : 1.0 / 256;
    EXPECT_LE(((y.to(at::kDouble) - ref).abs() - ref.abs().mul(ulp)).max().item<double>(), 1e-5);
  }
  // A dense Linear is at::linear.
  hm::Linear dense;
  dense.weight = at::randn({5, 7});
  const at::Tensor x = at::randn({2, 7});
  EXPECT_TRUE(dense(x).equal(at::linear(x, dense.weight)));
  EXPECT_FALSE(dense.quantized());
  EXPECT_EQ(dense.bytes(), 5u * 7u * 4u);
  EXPECT_EQ(lin.bytes(), 96u * 128u + 96u * 4u);
}

TEST(Int8Linear, KeysThatAreLinearWeights) {
  for (const char* k : {"backbone.layers.0.attn.q_proj.weight", "backbone.layers.27.attn.output_proj.weight",
                        "decoder.layers.2.mlp.w1.weight", "decoder.layers.0.mlp.w2.weight",
                        "backbone.layers.3.mlp.w3.weight", "projection.weight", "codebook0_head.weight", "audio_head"})
    EXPECT_TRUE(hm::is_linear_weight_key(k)) << k;
  for (const char* k :
       {"backbone.layers.0.sa_norm.scale", "backbone.norm.scale", "text_embeddings.weight", "audio_embeddings.weight",
        "muq_linear.weight", "unconditional_text_embedding.weight", "x.attn.q_proj.weight", "audio_head_scale"})
    EXPECT_FALSE(hm::is_linear_weight_key(k)) << k;
}

TEST(Int8Checkpoint, ConfigNamesTheScheme) {
  const std::string base = R"({"backbone_flavor": "llama-300M", "decoder_flavor": "llama-300M")";
  EXPECT_EQ(hm::HeartMuLaConfig::from_json(base + "}", "c.json").quantization, "");
  EXPECT_EQ(
      hm::HeartMuLaConfig::from_json(base + R"(, "quantization": {"method": "int8-per-row", "version": 1}})", "c.json")
          .quantization,
      "int8-per-row");
  for (const std::string& q : {std::string(R"({"method": "int4-group128", "version": 1})"),
                               std::string(R"({"method": "int8-per-row", "version": 2})"), std::string(R"("fp8")")}) {
    const std::string msg =
        error_of([&] { hm::HeartMuLaConfig::from_json(base + R"(, "quantization": )" + q + "}", "c.json"); });
    EXPECT_NE(msg.find("c.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("int8-per-row"), std::string::npos) << msg;
    if (q.find("int4") != std::string::npos) EXPECT_NE(msg.find("int4-group128"), std::string::npos) << msg;
    if (q.find("version\": 2") != std::string::npos) EXPECT_NE(msg.find("version 2"), std::string::npos) << msg;
  }
}

}  // namespace

namespace {

// Random weights of one seed are the same values in every precision (so that heartmula-bench
// --compare-dtype bf16,int8 on random weights compares one model, not two), whatever the order of
// the declarations.
TEST(RandomWeights, SameValuesInEveryDtypeAndOrder) {
  auto draw = [](c10::ScalarType dtype, bool reversed) {
    heartmula::io::WeightBinder b(dtype, at::kCPU);
    at::Tensor x, y;
    if (reversed) {
      b.expect("b.weight", {3, 5}, &y);
      b.expect("a.weight", {40, 8}, &x);
    } else {
      b.expect("a.weight", {40, 8}, &x);
      b.expect("b.weight", {3, 5}, &y);
    }
    b.bind_random(9);
    return std::make_pair(x, y);
  };
  const auto f = draw(at::kFloat, false), r = draw(at::kFloat, true), h = draw(at::kBFloat16, false);
  EXPECT_TRUE(f.first.equal(r.first));
  EXPECT_TRUE(f.second.equal(r.second));
  EXPECT_TRUE(h.first.equal(f.first.to(at::kBFloat16)));
  EXPECT_FALSE(f.first.narrow(0, 0, 3).narrow(1, 0, 5).equal(f.second));  // each key its own draw
  EXPECT_NEAR(f.first.std().item<double>(), 0.02, 0.005);
}

}  // namespace
