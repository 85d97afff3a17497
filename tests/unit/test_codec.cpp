// HeartCodec pieces checked by hand: weight-norm folding, window arithmetic, crossfade,
// code range checks, noise sources, config validation.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "codec/config.h"
#include "codec/heartcodec.h"
#include "codec/rvq.h"
#include "codec/weight_norm.h"
#include "codec/windows.h"
#include "heartmula/error.h"
#include "io/checkpoint.h"
#include "io/torch_tensors.h"
#include "io/weight_binder.h"

namespace hc = heartmula::codec;
using heartmula::Error;
namespace fs = std::filesystem;

namespace {

const std::string kCodecDir = std::string(HEARTMULA_TEST_DATA) + "/ckpt/HeartCodec-oss";

// Runs f, expects an Error whose message contains every one of `parts`.
template <typename F>
void expect_error(F f, std::initializer_list<const char*> parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    for (const char* p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("heartmula_codec_" + name + "_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

}  // namespace

// ---- weight norm -------------------------------------------------------------------------

TEST(CodecWeightNorm, FoldsByHand) {
  // v rows [3, 4] (norm 5) and [6, 8] (norm 10); g 10 and 0.5 -> [6, 8] and [0.3, 0.4].
  at::Tensor v = at::tensor({3.f, 4.f, 6.f, 8.f}).reshape({2, 1, 2});
  at::Tensor g = at::tensor({10.f, 0.5f}).reshape({2, 1, 1});
  at::Tensor w = hc::fold_weight_norm(g, v);
  ASSERT_EQ(w.sizes(), v.sizes());
  const float expect[] = {6.f, 8.f, 0.3f, 0.4f};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(w.flatten()[i].item<float>(), expect[i], 1e-6);
}

TEST(CodecWeightNorm, NormIsOverAllDimsButFirst) {
  // A transposed-conv shaped v [in=1, out=2, k=2]: one norm over all four numbers (= 5).
  at::Tensor v = at::tensor({1.f, 2.f, 2.f, 4.f}).reshape({1, 2, 2});
  at::Tensor g = at::tensor({5.f}).reshape({1, 1, 1});
  EXPECT_TRUE(at::allclose(hc::fold_weight_norm(g, v), v));
}

TEST(CodecWeightNorm, RejectsMismatchedShapes) {
  expect_error([] { hc::fold_weight_norm(at::ones({3, 1, 1}), at::ones({2, 1, 2})); }, {"weight norm"});
}

TEST(CodecWeightNorm, BinderFoldsFromCheckpointKeys) {
  fs::path dir = temp_dir("wn");
  at::Tensor v = at::tensor({3.f, 4.f, 6.f, 8.f}).reshape({2, 1, 2});
  at::Tensor g = at::tensor({10.f, 0.5f}).reshape({2, 1, 1});
  heartmula::io::save_tensors((dir / "model.safetensors").string(), {{"conv.parametrizations.weight.original0", g},
                                                                     {"conv.parametrizations.weight.original1", v}});
  auto ckpt = heartmula::io::Checkpoint::open(dir.string());
  heartmula::io::WeightBinder b(ckpt, at::kBFloat16, at::kCPU);
  at::Tensor w;
  hc::expect_weight_norm(b, "conv", {2, 1, 2}, &w, at::kBFloat16);
  b.bind();
  ASSERT_TRUE(w.defined());
  EXPECT_EQ(w.scalar_type(), at::kBFloat16);
  EXPECT_NEAR(w.flatten()[1].item<float>(), 8.f, 1e-6);
  EXPECT_NEAR(w.flatten()[3].item<float>(), 0.4f, 2e-3);
  fs::remove_all(dir);
}

// ---- windows -----------------------------------------------------------------------------

struct WindowCase {
  int64_t t, padded, windows, target;
};

TEST(CodecWindows, ArithmeticForBoundaryLengths) {
  // Worked out from upstream detokenize: short input repeats to 372; longer input pads to
  // ceil((T - 52) / 320) * 320 + 52; windows start every 320 codes while start + 320 <= padded.
  const WindowCase cases[] = {
      {1, 372, 1, 3840},         {371, 372, 1, 371 * 3840}, {372, 372, 1, 372 * 3840},
      {373, 692, 2, 373 * 3840}, {692, 692, 2, 692 * 3840}, {693, 1012, 3, 693 * 3840},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("T = " + std::to_string(c.t));
    const hc::WindowPlan p = hc::plan_windows(c.t, 48000);
    EXPECT_EQ(p.padded_len, c.padded);
    ASSERT_EQ(static_cast<int64_t>(p.windows()), c.windows);
    for (size_t k = 0; k < p.windows(); ++k) EXPECT_EQ(p.starts[k], static_cast<int64_t>(k) * 320);
    EXPECT_EQ(p.starts.back() + p.window_codes, p.padded_len);  // the last window ends at the end
    EXPECT_EQ(p.target_samples, c.target);
  }
}

TEST(CodecWindows, Constants) {
  const hc::WindowPlan p = hc::plan_windows(1, 48000);
  EXPECT_EQ(p.window_codes, 372);
  EXPECT_EQ(p.hop_codes, 320);
  EXPECT_EQ(p.overlap_codes, 52);
  EXPECT_EQ(p.window_latents, 744);
  EXPECT_EQ(p.overlap_latents, 104);
  EXPECT_EQ(p.window_samples, 1428480);  // 29.76 s
  EXPECT_EQ(p.hop_samples, 1228800);     // 25.6 s
  EXPECT_EQ(p.overlap_samples, 199680);  // 4.16 s
}

TEST(CodecWindows, Repetition) {
  // T = 1: every padded position is code 0.
  const hc::WindowPlan one = hc::plan_windows(1, 48000);
  for (int64_t i = 0; i < one.padded_len; ++i) ASSERT_EQ(one.source_index(i), 0);
  // T = 371: 0..370, then 0 (doubling to 742 cut at 372).
  const hc::WindowPlan p371 = hc::plan_windows(371, 48000);
  EXPECT_EQ(p371.source_index(370), 370);
  EXPECT_EQ(p371.source_index(371), 0);
  // T = 373 padded to 692: positions 373.. repeat from the start.
  const hc::WindowPlan p373 = hc::plan_windows(373, 48000);
  EXPECT_EQ(p373.source_index(372), 372);
  EXPECT_EQ(p373.source_index(373), 0);
  EXPECT_EQ(p373.source_index(691), 691 - 373);
  // T = 692: no repetition.
  const hc::WindowPlan p692 = hc::plan_windows(692, 48000);
  for (int64_t i = 0; i < 692; ++i) ASSERT_EQ(p692.source_index(i), i);
  // T = 693 padded to 1012: 693.. repeat from the start.
  const hc::WindowPlan p693 = hc::plan_windows(693, 48000);
  EXPECT_EQ(p693.source_index(692), 692);
  EXPECT_EQ(p693.source_index(693), 0);
  EXPECT_EQ(p693.source_index(1011), 1011 - 693);
}

TEST(CodecWindows, FullLengthWhereUpstreamCutsShort) {
  // Upstream skips the padding for T = 424 ((424 - 104) % 320 == 0) and decodes one window,
  // 4.16 s short of T / 12.5 s; here it pads to 692 and covers every code (docs/codec.md).
  for (int64_t t : {424, 744, 1064}) {
    const hc::WindowPlan p = hc::plan_windows(t, 48000);
    EXPECT_GE(p.padded_len, t);
    const int64_t covered = (static_cast<int64_t>(p.windows()) - 1) * p.hop_samples + p.window_samples;
    EXPECT_GE(covered, p.target_samples) << "T = " << t;
  }
}

TEST(CodecWindows, NoiseDrawsInUpstreamOrder) {
  // cases.json of the fixtures: t200 draws [744, 744], t400 [744, 744, 640, 744] (x 256).
  using Shapes = std::vector<std::vector<int64_t>>;
  EXPECT_EQ(hc::plan_windows(200, 48000).noise_shapes(256), (Shapes{{1, 744, 256}, {1, 744, 256}}));
  EXPECT_EQ(hc::plan_windows(400, 48000).noise_shapes(256),
            (Shapes{{1, 744, 256}, {1, 744, 256}, {1, 640, 256}, {1, 744, 256}}));
}

TEST(CodecWindows, RejectsEmptyInput) {
  expect_error([] { hc::plan_windows(0, 48000); }, {"at least one frame"});
}

// ---- crossfade ---------------------------------------------------------------------------

TEST(CodecCrossfade, LinspaceWeights) {
  const std::vector<double> w = hc::crossfade_weights(5);
  const double expect[] = {0.0, 0.25, 0.5, 0.75, 1.0};
  ASSERT_EQ(w.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(w[i], expect[i]);
  EXPECT_EQ(hc::crossfade_weights(1), std::vector<double>{0.0});
  EXPECT_TRUE(hc::crossfade_weights(0).empty());
}

TEST(CodecCrossfade, OverlapWeightsSumToOne) {
  const int64_t n = hc::plan_windows(1, 48000).overlap_samples;
  const std::vector<double> w = hc::crossfade_weights(n);
  EXPECT_EQ(w.front(), 0.0);
  EXPECT_EQ(w.back(), 1.0);
  EXPECT_NEAR(w[n / 2], 0.5, 1e-5);
  for (int64_t i = 1; i < n; ++i) ASSERT_GT(w[i], w[i - 1]);
}

// ---- codes ---------------------------------------------------------------------------------

TEST(CodecCodes, OutOfRangeNamesValueAndPosition) {
  at::Tensor codes = at::zeros({8, 20}, at::kLong);
  codes[3][17] = 2048;
  expect_error([&] { hc::check_codes(codes, 2048); }, {"2048", "codebook 3", "frame 17", "[0, 2048)"});
  codes[3][17] = 5;
  codes[6][2] = -1;
  expect_error([&] { hc::check_codes(codes, 2048); }, {"-1", "codebook 6", "frame 2"});
  codes[6][2] = 0;
  EXPECT_NO_THROW(hc::check_codes(codes, 2048));
}

TEST(CodecCodes, DetokenizeRejectsBadCodesBeforeDecoding) {
  const auto codec = hc::HeartCodec::load(kCodecDir);
  at::Tensor codes = at::zeros({8, 10}, at::kLong);
  codes[0][9] = 8192;
  expect_error([&] { codec.detokenize(codes); }, {"8192", "codebook 0", "frame 9"});
  expect_error([&] { codec.detokenize(at::zeros({7, 10}, at::kLong)); }, {"[8, T]"});
  expect_error([&] { codec.detokenize(at::zeros({8, 0}, at::kLong)); }, {"T >= 1"});
  expect_error([&] { codec.detokenize(at::zeros({8, 10}, at::kFloat)); }, {"integer"});
}

// ---- noise ---------------------------------------------------------------------------------

TEST(CodecNoise, RecordedChecksShapesAndCount) {
  hc::RecordedNoise n({at::zeros({1, 4, 2}), at::ones({1, 3, 2})});
  EXPECT_EQ(n.next({1, 4, 2}).sum().item<float>(), 0.f);
  expect_error([&] { n.next({1, 4, 2}); }, {"noise_1", "[1, 3, 2]", "[1, 4, 2]"});
  EXPECT_EQ(n.next({1, 3, 2}).sum().item<float>(), 6.f);
  expect_error([&] { n.next({1, 3, 2}); }, {"#2", "only 2"});
  hc::RecordedNoise upfront({at::zeros({1, 4, 2}), at::ones({1, 3, 2})});
  expect_error([&] { upfront.expect_draws({{1, 4, 2}}); }, {"2 noise tensors were given", "needs 1"});
  expect_error([&] { upfront.expect_draws({{1, 4, 2}, {1, 4, 2}}); }, {"noise_1", "[1, 3, 2]"});
  EXPECT_NO_THROW(upfront.expect_draws({{1, 4, 2}, {1, 3, 2}}));
  hc::RecordedNoise unused({at::zeros({1})});
  expect_error([&] { unused.finish(); }, {"1 noise tensors were given", "used 0"});
}

TEST(CodecNoise, FromTensorsNeedsConsecutiveNames) {
  std::map<std::string, at::Tensor> m{{"noise_0", at::zeros({1})}, {"noise_2", at::zeros({1})}};
  expect_error([&] { hc::RecordedNoise::from_tensors(m, "f.safetensors"); }, {"f.safetensors", "noise_1"});
  expect_error([&] { hc::RecordedNoise::from_tensors({}, "g"); }, {"no noise tensors"});
  m["noise_1"] = at::zeros({1});
  EXPECT_EQ(hc::RecordedNoise::from_tensors(m, "f").size(), 3u);
}

TEST(CodecNoise, SeededIsDeterministic) {
  hc::SeededNoise a(42), b(42), c(43);
  at::Tensor x = a.next({2, 3});
  EXPECT_TRUE(at::equal(x, b.next({2, 3})));
  EXPECT_FALSE(at::equal(x, c.next({2, 3})));
  EXPECT_FALSE(at::equal(x, a.next({2, 3})));  // the stream advances
}

// ---- config and options ----------------------------------------------------------------------

TEST(CodecConfig, ReadsFixtureAndValidates) {
  const auto cfg = hc::HeartCodecConfig::from_file(kCodecDir + "/config.json");
  EXPECT_EQ(cfg.codebook_size, 2048);
  EXPECT_EQ(cfg.in_channels, 544);
  EXPECT_EQ(cfg.samples_per_latent(), 1920);
  hc::HeartCodecConfig bad = cfg;
  bad.in_channels = 543;
  expect_error([&] { bad.validate("cfg.json"); }, {"cfg.json", "in_channels 543"});
  bad = cfg;
  bad.upsample_kernel_sizes[2] = 7;
  expect_error([&] { bad.validate("cfg.json"); }, {"upsample_kernel_sizes[2]"});
  bad = cfg;
  bad.sample_rate = 44100;
  expect_error([&] { bad.validate("cfg.json"); }, {"sample_rate 44100"});
}

TEST(CodecConfig, BadJsonNamesFileAndKey) {
  fs::path dir = temp_dir("cfg");
  std::ofstream(dir / "config.json") << R"({"dim": "wide"})";
  expect_error([&] { hc::HeartCodecConfig::from_file((dir / "config.json").string()); }, {"config.json", "'dim'"});
  fs::remove_all(dir);
}

TEST(CodecOptions, Validate) {
  hc::DetokenizeOptions o;
  EXPECT_NO_THROW(o.validate());
  o.steps = 0;
  EXPECT_THROW(o.validate(), heartmula::UsageError);
  o.steps = 10;
  o.guidance = std::nan("");
  EXPECT_THROW(o.validate(), heartmula::UsageError);
}

// ---- a whole (short) decode ------------------------------------------------------------------

TEST(CodecDetokenize, ShortInputSeededShapeAndDeterminism) {
  const auto codec = hc::HeartCodec::load(kCodecDir);
  EXPECT_FALSE(codec.load_info().unused.empty());  // the encoder half is not loaded
  at::Tensor codes = at::randint(0, 2048, {8, 5}, at::kLong);
  hc::DetokenizeOptions o;
  o.steps = 2;
  o.seed = 7;
  size_t calls = 0;
  o.progress = [&](size_t done, size_t total) {
    ++calls;
    EXPECT_EQ(total, 1u);
    EXPECT_EQ(done, 1u);
  };
  const at::Tensor a = codec.detokenize(codes, o);
  EXPECT_EQ(calls, 1u);
  ASSERT_EQ(a.sizes(), at::IntArrayRef({2, 5 * 3840}));
  EXPECT_TRUE(at::isfinite(a).all().item<bool>());
  o.progress = nullptr;
  EXPECT_TRUE(at::equal(a, codec.detokenize(codes, o)));
}
