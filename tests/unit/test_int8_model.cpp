// The tiny fixture checkpoint (tests/data/ckpt) in int8 on the CPU: what loads as int8 and what
// stays bf16, the values against the rule, and the output against bf16 through the fidelity
// comparison heartmula-bench --compare-dtype runs (tools/bench/fidelity.h).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>

#include "bench/fidelity.h"
#include "io/checkpoint.h"
#include "io/torch_tensors.h"
#include "heartmula/error.h"
#include "model/fused_ops.h"
#include "model/heartmula.h"
#include "model/prompt.h"

namespace hm = heartmula::model;

namespace {

const std::string kData = HEARTMULA_TEST_DATA;
const std::string kModelDir = kData + "/ckpt/HeartMuLa-oss-3B";

const hm::HeartMuLaModel& model(const std::string& precision) {
  static std::map<std::string, std::unique_ptr<hm::HeartMuLaModel>> cache;
  auto& slot = cache[precision];
  if (!slot)
    slot = std::make_unique<hm::HeartMuLaModel>(
        hm::HeartMuLaModel::load(kModelDir, hm::parse_lm_precision(precision), at::kCPU));
  return *slot;
}

TEST(Int8Model, LinearWeightsAreInt8AndTheRestBf16) {
  const hm::HeartMuLaModel& m = model("int8");
  EXPECT_EQ(m.precision(), hm::parse_lm_precision("int8"));
  for (const auto* stack : {&m.backbone, &m.decoder})
    for (const auto& l : stack->layers) {
      for (const hm::Linear* lin : {&l.wqkv, &l.wo, &l.w13, &l.w2}) {
        ASSERT_TRUE(lin->quantized());
        EXPECT_EQ(lin->weight.scalar_type(), at::kChar);
        EXPECT_EQ(lin->scale.scalar_type(), at::kFloat);
        EXPECT_EQ(lin->scale.size(0), lin->weight.size(0));
      }
      EXPECT_EQ(l.sa_norm.scalar_type(), at::kBFloat16);
    }
  for (const hm::Linear* lin : {&m.projection, &m.codebook0_head, &m.audio_head}) EXPECT_TRUE(lin->quantized());
  EXPECT_EQ(m.audio_head.scale.sizes(),
            (std::vector<int64_t>{m.audio_head.weight.size(0), m.audio_head.weight.size(1)}));
  EXPECT_EQ(m.text_embeddings.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(m.text_embeddings.is_cpu());  // host memory on every device
  EXPECT_EQ(m.muq_linear_weight.scalar_type(), at::kBFloat16);

  // The fused q/k/v rows are the rule applied to each checkpoint tensor; audio_head per vocabulary row.
  const auto ckpt = heartmula::io::Checkpoint::open(kModelDir);
  auto stored = [&](const std::string& key) { return heartmula::io::load_tensor(ckpt.at(key), at::kFloat, at::kCPU); };
  const hm::Linear k = hm::quantize_int8(stored("backbone.layers.1.attn.k_proj.weight"));
  const auto& wqkv = m.backbone.layers[1].wqkv;
  const int64_t q_rows = m.config.backbone.num_heads * m.config.backbone.head_dim();
  EXPECT_TRUE(wqkv.weight.narrow(0, q_rows, k.weight.size(0)).equal(k.weight));
  EXPECT_TRUE(wqkv.scale.narrow(0, q_rows, k.weight.size(0)).equal(k.scale));
  const hm::Linear h2 = hm::quantize_int8(stored("audio_head")[2].t());
  EXPECT_TRUE(m.audio_head.select(2).weight.narrow(0, 0, h2.weight.size(0)).equal(h2.weight));
  EXPECT_TRUE(m.audio_head.select(2).scale.narrow(0, 0, h2.weight.size(0)).equal(h2.scale));
}

TEST(Int8Model, CloseToBf16OnTheFixture) {
  const hm::GenConfig gen = hm::GenConfig::from_file(kData + "/ckpt/gen_config.json");
  const auto t = heartmula::io::load_all_tensors(kData + "/lm/mula_cfg15.safetensors");
  const at::Tensor& tokens = t.at("prompt_tokens");
  int64_t muq = -1;
  for (int64_t i = 0; i + 1 < tokens.size(0); ++i)
    if (tokens[i][tokens.size(1) - 1].item<int64_t>() == gen.text_eos_id) {
      muq = i + 1;
      break;
    }
  const hm::Prompt prompt = hm::prompt_from_tokens(tokens, muq);
  heartmula::tools::FidelityOptions o;
  o.frames = 32;
  o.cfg = 1.5;
  o.topk = 50;
  o.seed = 11;
  // int8 against bf16 (what --mula-dtype int8 changes), and as a yardstick what bf16 itself
  // changes against fp32 on the same frames.
  const auto f = heartmula::tools::compare_models(model("bf16"), model("int8"), gen, prompt, o);
  const auto yard = heartmula::tools::compare_models(model("fp32"), model("bf16"), gen, prompt, o);
  ASSERT_EQ(f.codebooks.size(), 8u);
  EXPECT_EQ(f.frames, 32);
  auto mean = [](const heartmula::tools::Fidelity& x, double heartmula::tools::CodebookFidelity::*field) {
    double s = 0;
    for (const auto& c : x.codebooks) s += c.*field / static_cast<double>(x.codebooks.size());
    return s;
  };
  for (size_t cb = 0; cb < f.codebooks.size(); ++cb) {
    const auto& c = f.codebooks[cb];
    std::printf(
        "int8 vs bf16, codebook %zu: KL mean %.5f max %.5f, top-1 %.3f, top-50 %.3f, logit error %.4f (%.4f rel)\n", cb,
        c.kl_mean, c.kl_max, c.top1_agreement, c.topk_overlap, c.max_logit_error, c.rel_logit_error);
    EXPECT_TRUE(std::isfinite(c.kl_mean));
    EXPECT_GE(c.kl_mean, 0.0);
  }
  const double kl = mean(f, &heartmula::tools::CodebookFidelity::kl_mean);
  const double top1 = mean(f, &heartmula::tools::CodebookFidelity::top1_agreement);
  const double yard_kl = mean(yard, &heartmula::tools::CodebookFidelity::kl_mean);
  std::printf("int8 vs bf16: KL %.5f, top-1 %.3f, greedy agreement %.3f (first difference at frame %lld)\n", kl, top1,
              f.greedy_agreement, static_cast<long long>(f.greedy_first_difference));
  std::printf("bf16 vs fp32: KL %.5f, top-1 %.3f, greedy agreement %.3f (first difference at frame %lld)\n", yard_kl,
              mean(yard, &heartmula::tools::CodebookFidelity::top1_agreement), yard.greedy_agreement,
              static_cast<long long>(yard.greedy_first_difference));
  // Measured on this fixture (docs/quantization.md): KL 5e-4 nats, top-1 0.97, greedy equal for
  // the first 8 frames. The bounds keep a margin and are far from what a wrong scale, a transposed
  // head or a lost row gives (KL > 0.1, top-1 near chance: 1/2053).
  EXPECT_LT(kl, 5e-3);
  EXPECT_GT(top1, 0.85);
  EXPECT_GE(f.greedy_first_difference == -1 ? o.frames : f.greedy_first_difference, 2);
  EXPECT_LT(kl, 20 * yard_kl + 1e-4) << "int8 costs far more than bf16 does against fp32";

  // The comparison itself: a model against itself is exact.
  const auto same = heartmula::tools::compare_models(model("bf16"), model("bf16"), gen, prompt, o);
  for (const auto& c : same.codebooks) {
    EXPECT_EQ(c.max_logit_error, 0.0);
    EXPECT_EQ(c.top1_agreement, 1.0);
    EXPECT_NEAR(c.kl_mean, 0.0, 1e-12);
  }
  EXPECT_EQ(same.greedy_agreement, 1.0);
  EXPECT_EQ(same.greedy_first_difference, -1);
}

// HEARTMULA_INT8_FUSION: which fused int8 kernels run; an unknown name is an error naming it.
TEST(Int8Model, FusionSwitchParsesItsNames) {
  EXPECT_EQ(hm::parse_int8_fusions(""), hm::kInt8FusionDefault);  // unset
  EXPECT_EQ(hm::kInt8FusionDefault, hm::kInt8FuseGlu);            // measured fastest (docs/performance.md)
  EXPECT_EQ(hm::parse_int8_fusions("0"), 0u);
  EXPECT_EQ(hm::parse_int8_fusions("1"), hm::kInt8FuseNorm | hm::kInt8FuseGlu);
  EXPECT_EQ(hm::parse_int8_fusions("glu"), hm::kInt8FuseGlu);
  EXPECT_EQ(hm::parse_int8_fusions("norm,glu"), hm::kInt8FuseNorm | hm::kInt8FuseGlu);
  EXPECT_EQ(hm::parse_int8_fusions("glu,norm"), hm::kInt8FuseNorm | hm::kInt8FuseGlu);
  EXPECT_THROW(hm::parse_int8_fusions("silu"), heartmula::UsageError);  // retired
  try {
    hm::parse_int8_fusions("norm,gelu");
    FAIL() << "no error for an unknown fusion";
  } catch (const heartmula::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'gelu'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HEARTMULA_INT8_FUSION"), std::string::npos) << e.what();
  }
  EXPECT_THROW(hm::parse_int8_fusions("norm,"), heartmula::UsageError);
}

}  // namespace
