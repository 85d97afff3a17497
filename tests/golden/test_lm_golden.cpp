// HeartMuLa LM parity with the upstream reference (tests/data/lm/mula_*.safetensors, made by
// heartlib's pipeline in float32 on the CPU from the bf16 tiny checkpoint, greedy: topk 1).
// For each case: the frames from prompt_tokens equal `frames` exactly (EOS cases stop at the
// same frame) and the logits handed to the sampler match `logits_first8` to 1e-4 relative
// (max abs diff / max abs of the reference). A bf16 run teacher-forced on the reference frames
// stays within 2e-2 relative of float32.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "heartmula/error.h"
#include "io/checkpoint.h"
#include "io/torch_tensors.h"
#include "model/heartmula.h"
#include "model/prompt.h"
#include "runtime/frame_loop.h"

namespace hm = heartmula::model;
namespace hr = heartmula::runtime;

namespace {

const std::string kData = HEARTMULA_TEST_DATA;
const std::string kModelDir = kData + "/ckpt/HeartMuLa-oss-3B";

nlohmann::json cases_json() {
  std::ifstream in(kData + "/lm/cases.json");
  return nlohmann::json::parse(in);
}

// HEARTMULA_TEST_DEVICE=cuda runs the same checks on a GPU (default: cpu).
c10::Device test_device() {
  const char* env = std::getenv("HEARTMULA_TEST_DEVICE");
  return c10::Device(env != nullptr && *env != '\0' ? env : "cpu");
}

const hm::GenConfig& gen_config() {
  static const hm::GenConfig g = hm::GenConfig::from_file(kData + "/ckpt/gen_config.json");
  return g;
}

const hm::HeartMuLaModel& model(c10::ScalarType dtype) {
  static std::map<c10::ScalarType, std::unique_ptr<hm::HeartMuLaModel>> cache;
  auto& slot = cache[dtype];
  if (!slot) slot = std::make_unique<hm::HeartMuLaModel>(hm::HeartMuLaModel::load(kModelDir, dtype, test_device()));
  return *slot;
}

// The MuQ slot follows the tags, which end with text_eos.
int64_t find_muq_index(const at::Tensor& prompt_tokens) {
  at::Tensor text = prompt_tokens.select(1, prompt_tokens.size(1) - 1);
  for (int64_t i = 0; i + 1 < text.size(0); ++i)
    if (text[i].item<int64_t>() == gen_config().text_eos_id) return i + 1;
  return -1;
}

double rel_diff(const at::Tensor& got, const at::Tensor& ref, double* max_abs = nullptr) {
  at::Tensor r = ref.to(at::kDouble);
  const double d = (got.to(at::kDouble) - r).abs().max().item<double>();
  if (max_abs) *max_abs = d;
  return d / r.abs().max().item<double>();
}

struct LmRun {
  hr::FrameLoopResult result;
  at::Tensor logits;  // [min(T, 8), N, V]
};

LmRun run_case(const std::string& name, c10::ScalarType dtype, bool teacher, int64_t bucket = 0) {
  const auto c = cases_json()["cases"][name];
  const auto t = heartmula::io::load_all_tensors(kData + "/lm/mula_" + name + ".safetensors");
  const at::Tensor& prompt_tokens = t.at("prompt_tokens");
  const hm::Prompt prompt = hm::prompt_from_tokens(prompt_tokens, find_muq_index(prompt_tokens));
  hr::SamplingParams sp;
  sp.topk = 1;
  sp.temperature = 1.0;
  sp.cfg_scale = c["cfg_scale"].get<double>();
  sp.seed = 1234;
  hr::FrameLoopOptions opt;
  const bool stop = c["stop_at_eos"].get<bool>();
  opt.ignore_eos = !stop;
  opt.max_frames = stop ? 64 : c["n_frames"].get<int64_t>();
  opt.attention_bucket = bucket;
  const int64_t kept = std::min<int64_t>(t.at("frames").size(0), 8);
  std::vector<at::Tensor> logits(static_cast<size_t>(kept * 8));
  opt.on_logits = [&](int64_t f, int64_t cb, const at::Tensor& l) {
    if (f < kept) logits[static_cast<size_t>(f * 8 + cb)] = l.select(0, 0).to(at::kCPU).clone();
  };
  if (teacher) {
    opt.teacher_frames = t.at("frames");
    opt.max_frames = kept;
    opt.ignore_eos = true;
  }
  LmRun r;
  r.result = hr::run_frame_loop(model(dtype), gen_config(), prompt, sp, opt);
  r.logits = at::stack(logits).view({kept, 8, -1});
  return r;
}

class LmGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(LmGolden, FramesAndLogitsMatchReference) {
  const std::string name = GetParam();
  const auto c = cases_json()["cases"][name];
  const auto t = heartmula::io::load_all_tensors(kData + "/lm/mula_" + name + ".safetensors");
  const auto t0 = std::chrono::steady_clock::now();
  const LmRun r = run_case(name, at::kFloat, /*teacher=*/false);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const at::Tensor& ref = t.at("frames");
  std::printf("mula_%s: %lld frames in %.2f s (prefill %.3f s)\n", name.c_str(),
              static_cast<long long>(r.result.frames.size(0)), secs, r.result.prefill_seconds);
  EXPECT_EQ(r.result.prompt_len, c["prompt_len"].get<int64_t>());
  EXPECT_EQ(r.result.stopped_at_eos, !c["eos_at"].is_null());
  EXPECT_FALSE(r.result.interrupted);
  ASSERT_EQ(r.result.frames.sizes(), ref.sizes());
  const int64_t mismatched = r.result.frames.ne(ref).sum().item<int64_t>();
  if (mismatched) {
    at::Tensor rows = r.result.frames.ne(ref).any(1).nonzero();
    std::printf("first mismatching frame %lld\n", static_cast<long long>(rows[0][0].item<int64_t>()));
  }
  EXPECT_EQ(mismatched, 0) << "frames differ from the reference in " << mismatched << " codes";

  double max_abs = 0;
  const double rel = rel_diff(r.logits, t.at("logits_first8"), &max_abs);
  std::printf("mula_%s: logits max abs diff %.3g (rel %.3g)\n", name.c_str(), max_abs, rel);
  EXPECT_LE(rel, 1e-4) << "logits_first8: max abs diff " << max_abs;
}

INSTANTIATE_TEST_SUITE_P(Cases, LmGolden, ::testing::Values("cfg15", "cfg15_noeos", "cfg10", "cfg10_noeos", "cfg30"));

TEST(LmGoldenExtra, Bf16TeacherForcedStaysClose) {
  // Guided logits uncond + (cond - uncond) * s carry up to (2s - 1) times the per-branch error:
  // 2e-2 for the default scale 1.5 and no CFG; cfg_scale 3 gets 5e-2.
  for (const auto& [name, tol] :
       std::vector<std::pair<std::string, double>>{{"cfg15", 2e-2}, {"cfg10", 2e-2}, {"cfg30", 5e-2}}) {
    const LmRun f32 = run_case(name, at::kFloat, /*teacher=*/true);
    const LmRun b16 = run_case(name, at::kBFloat16, /*teacher=*/true);
    ASSERT_EQ(b16.logits.sizes(), f32.logits.sizes());
    double max_abs = 0;
    const double rel = rel_diff(b16.logits, f32.logits, &max_abs);
    std::printf("mula_%s bf16 vs fp32 (teacher-forced): max abs diff %.3g (rel %.3g)\n", name.c_str(), max_abs, rel);
    EXPECT_LE(rel, tol) << name << ": bf16 logits max abs diff " << max_abs;
    if (rel > tol)  // per frame and codebook, to see where it drifts
      for (int64_t f = 0; f < f32.logits.size(0); ++f) {
        std::printf("frame %lld:", static_cast<long long>(f));
        for (int64_t c = 0; c < 8; ++c) std::printf(" %.4f", rel_diff(b16.logits[f][c], f32.logits[f][c]));
        std::printf("\n");
      }
  }
}

TEST(LmGoldenExtra, BucketedAndFullCacheAttentionGiveTheSameFrames) {
  const auto t = heartmula::io::load_all_tensors(kData + "/lm/mula_cfg15_noeos.safetensors");
  for (int64_t bucket : {16, 1 << 20}) {  // 1 << 20: the whole preallocated cache
    const LmRun r = run_case("cfg15_noeos", at::kFloat, /*teacher=*/false, bucket);
    EXPECT_TRUE(r.result.frames.equal(t.at("frames"))) << "bucket " << bucket;
    EXPECT_LE(rel_diff(r.logits, t.at("logits_first8")), 1e-4) << "bucket " << bucket;
  }
}

hr::FrameLoopResult sampled_run(uint64_t seed, int64_t frames, double cfg = 1.5) {
  const auto t = heartmula::io::load_all_tensors(kData + "/lm/mula_cfg15.safetensors");
  const at::Tensor& pt = t.at("prompt_tokens");
  hr::SamplingParams sp;
  sp.topk = 50;
  sp.temperature = 1.0;
  sp.cfg_scale = cfg;
  sp.seed = seed;
  hr::FrameLoopOptions opt;
  opt.max_frames = frames;
  opt.ignore_eos = true;
  return hr::run_frame_loop(model(at::kFloat), gen_config(), hm::prompt_from_tokens(pt, find_muq_index(pt)), sp, opt);
}

TEST(LmGoldenExtra, SameSeedSameSong) {
  const auto a = sampled_run(7, 16), b = sampled_run(7, 16), c = sampled_run(8, 16);
  EXPECT_TRUE(a.frames.equal(b.frames));
  EXPECT_FALSE(a.frames.equal(c.frames));
  EXPECT_EQ(a.frames.size(0), 16);
}

TEST(LmGoldenExtra, ContextCheckSaysByHowMuch) {
  // Backbone max_seq_len is 1024, the prompt 42 rows: 983 frames fit, 984 do not.
  try {
    sampled_run(1, 984);
    FAIL() << "expected an Error";
  } catch (const heartmula::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("1 more than max_seq_len 1024"), std::string::npos) << msg;
    EXPECT_NE(msg.find("at most 983 frames"), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(hr::check_context(model(at::kFloat), 42, 983));
}

TEST(LmGoldenExtra, OnFrameCanStopTheLoop) {
  const auto t = heartmula::io::load_all_tensors(kData + "/lm/mula_cfg15_noeos.safetensors");
  const at::Tensor& pt = t.at("prompt_tokens");
  hr::SamplingParams sp;
  sp.topk = 1;
  sp.cfg_scale = 1.5;
  hr::FrameLoopOptions opt;
  opt.max_frames = 64;
  opt.ignore_eos = true;
  std::vector<int64_t> seen;
  opt.on_frame = [&](int64_t done, int64_t planned) {
    seen.push_back(done);
    EXPECT_EQ(planned, 64);
    return done < 5;
  };
  const auto r =
      hr::run_frame_loop(model(at::kFloat), gen_config(), hm::prompt_from_tokens(pt, find_muq_index(pt)), sp, opt);
  EXPECT_TRUE(r.interrupted);
  ASSERT_EQ(r.frames.size(0), 5);
  EXPECT_TRUE(r.frames.equal(t.at("frames").narrow(0, 0, 5)));
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 2, 3, 4, 5}));
}

}  // namespace

namespace {

TEST(LmGoldenExtra, LoadReportsEveryMismatchAtOnce) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("heartmula_lm_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<fs::path> made;
  for (const auto& e : fs::directory_iterator(kModelDir))
    if (e.path().filename() != "config.json") {
      made.push_back(dir / e.path().filename());
      fs::create_symlink(fs::absolute(e.path()), made.back());
    }
  made.push_back(dir / "config.json");
  std::ifstream in(kModelDir + "/config.json");
  nlohmann::json cfg = nlohmann::json::parse(in);
  cfg["backbone_config"]["num_layers"] = 3;
  cfg["muq_dim"] = 17;
  std::ofstream(dir / "config.json") << cfg.dump();
  try {
    hm::HeartMuLaModel::load(dir.string(), at::kFloat, at::kCPU);
    ADD_FAILURE() << "expected an Error";
  } catch (const heartmula::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing tensor 'backbone.layers.2.attn.q_proj.weight'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing tensor 'backbone.layers.2.mlp.w3.weight'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'muq_linear.weight' has wrong shape"), std::string::npos) << msg;
    EXPECT_NE(msg.find("10 problems"), std::string::npos) << msg;
  }
  // Not fs::remove_all: it crashed with the GPU machine's toolchain (g++ 13, LibTorch 2.11).
  for (const auto& p : made) std::remove(p.c_str());
  std::remove(dir.c_str());
}

// Whether this LibTorch has a float16 matmul on `dev` (LibTorch 1.13 has none on the CPU;
// 2.x has).
bool half_matmul_works(c10::Device dev) {
  try {
    const auto o = at::TensorOptions().dtype(at::kHalf).device(dev);
    (void)at::linear(at::ones({1, 2}, o), at::ones({2, 2}, o));
    return true;
  } catch (const c10::Error&) {
    return false;
  }
}

// fp16 either is refused before loading, with a message saying what to use, where this LibTorch
// cannot compute in it, or gives the reference's logits within the bf16 tolerance of
// Bf16TeacherForcedStaysClose (fp16 keeps 3 more mantissa bits than bf16), teacher-forced on the
// reference's frames.
TEST(LmGoldenExtra, Fp16IsRefusedOrMatchesTheReference) {
  const c10::Device dev = test_device();
  if (!half_matmul_works(dev)) {
    std::string msg = "no error";
    try {
      hm::HeartMuLaModel::load(kModelDir, at::kHalf, dev);
    } catch (const heartmula::Error& e) {
      msg = e.what();
    }
    EXPECT_NE(msg.find("cannot compute in Half on " + dev.str()), std::string::npos) << msg;
    EXPECT_NE(msg.find("use fp32 or bf16"), std::string::npos) << msg;
    return;
  }
  for (const auto& [name, tol] : std::vector<std::pair<std::string, double>>{{"cfg15", 2e-2}, {"cfg30", 5e-2}}) {
    const auto t = heartmula::io::load_all_tensors(kData + "/lm/mula_" + name + ".safetensors");
    const LmRun f16 = run_case(name, at::kHalf, /*teacher=*/true);
    const at::Tensor& ref = t.at("logits_first8");
    ASSERT_EQ(f16.logits.sizes(), ref.sizes());
    double max_abs = 0;
    const double rel = rel_diff(f16.logits, ref, &max_abs);
    std::printf("mula_%s fp16 vs reference (teacher-forced): max abs diff %.3g (rel %.3g)\n", name.c_str(), max_abs,
                rel);
    EXPECT_LE(rel, tol) << name << ": fp16 logits max abs diff " << max_abs;
  }
}

TEST(LmGoldenExtra, LoadsIntoEveryComputeDtype) {
  for (auto dt : {at::kFloat, at::kBFloat16, at::kHalf}) {
    hm::LoadStats st;
    const c10::Device dev = dt == at::kHalf ? test_device() : c10::Device(at::kCPU);
    if (dt == at::kHalf && !half_matmul_works(dev)) continue;  // Fp16IsRefusedOrMatchesTheReference
    const auto m = hm::HeartMuLaModel::load(kModelDir, dt, dev, &st);
    EXPECT_EQ(m.backbone.layers[0].wqkv.weight.scalar_type(), dt);
    EXPECT_EQ(m.audio_head.weight.sizes(), (std::vector<int64_t>{7, 2053, 24}));
    EXPECT_EQ(m.backbone.layers[1].wqkv.weight.sizes(), (std::vector<int64_t>{32, 16}));  // (2 + 2*1) heads * 8
    EXPECT_EQ(m.decoder.layers[0].w13.weight.sizes(), (std::vector<int64_t>{96, 24}));
    EXPECT_TRUE(st.unexpected.empty());
    EXPECT_EQ(st.tensors, 46u);
  }
  // The fused q/k/v rows are the checkpoint's q_proj, k_proj, v_proj in that order.
  const auto ck = heartmula::io::Checkpoint::open(kModelDir);
  const auto& m = model(at::kFloat);
  at::Tensor k = heartmula::io::view_tensor(ck.at("backbone.layers.1.attn.k_proj.weight")).to(at::kFloat);
  EXPECT_TRUE(m.backbone.layers[1].wqkv.weight.narrow(0, 16, 8).to(at::kCPU).equal(k));
  at::Tensor w3 = heartmula::io::view_tensor(ck.at("decoder.layers.0.mlp.w3.weight")).to(at::kFloat);
  EXPECT_TRUE(m.decoder.layers[0].w13.weight.narrow(0, 48, 48).to(at::kCPU).equal(w3));
}

}  // namespace

namespace {

hm::Prompt fixture_prompt(const std::string& name) {
  const auto t = heartmula::io::load_all_tensors(kData + "/lm/mula_" + name + ".safetensors");
  const at::Tensor& pt = t.at("prompt_tokens");
  return hm::prompt_from_tokens(pt, find_muq_index(pt));
}

// A shorter song: the fixture's tags and MuQ slot, then bos + 4 lyric tokens + eos.
hm::Prompt short_prompt() {
  const hm::Prompt full = fixture_prompt("cfg15");
  const int64_t head = full.muq_index + 1;
  at::Tensor rows = at::cat({full.tokens.narrow(0, 0, head + 5), full.tokens.narrow(0, full.length() - 1, 1)}, 0);
  return hm::prompt_from_tokens(rows, full.muq_index);
}

TEST(LmGoldenExtra, BatchOfSongsMatchesSongsAlone) {
  const hm::Prompt a = fixture_prompt("cfg15"), b = short_prompt();
  ASSERT_LT(b.length(), a.length());
  const auto ref = heartmula::io::load_all_tensors(kData + "/lm/mula_cfg15.safetensors").at("frames");
  for (const auto& [topk, eos] : std::vector<std::pair<int64_t, bool>>{{1, true}, {50, false}}) {
    hr::SamplingParams sp;
    sp.topk = topk;
    sp.cfg_scale = 1.5;
    hr::FrameLoopOptions opt;
    opt.max_frames = 20;
    opt.ignore_eos = !eos;
    const std::vector<uint64_t> seeds = {11, 12};
    const auto batch = hr::run_frame_loop_batch(model(at::kFloat), gen_config(), {a, b}, sp, seeds, opt);
    ASSERT_EQ(batch.size(), 2u);
    for (size_t s = 0; s < 2; ++s) {
      sp.seed = seeds[s];
      const auto alone = hr::run_frame_loop(model(at::kFloat), gen_config(), s == 0 ? a : b, sp, opt);
      EXPECT_TRUE(batch[s].frames.equal(alone.frames)) << "song " << s << " topk " << topk;
      EXPECT_EQ(batch[s].stopped_at_eos, alone.stopped_at_eos) << "song " << s;
      EXPECT_EQ(batch[s].prompt_len, (s == 0 ? a : b).length());
    }
    if (topk == 1) {
      EXPECT_TRUE(batch[0].frames.equal(ref));  // song 0 still stops at the reference's EOS
      EXPECT_TRUE(batch[0].stopped_at_eos);
    }
  }
}

TEST(LmGoldenExtra, StepRunnerGetsOneKeyPerBucket) {
  const auto t = heartmula::io::load_all_tensors(kData + "/lm/mula_cfg15_noeos.safetensors");
  hr::SamplingParams sp;
  sp.topk = 1;
  sp.cfg_scale = 1.5;
  hr::FrameLoopOptions opt;
  opt.max_frames = 64;
  opt.ignore_eos = true;
  opt.attention_bucket = 16;
  std::map<int64_t, int> keys;
  opt.step_runner = [&](int64_t key, const std::function<void()>& body) {
    ++keys[key];
    body();
  };
  const auto r = hr::run_frame_loop(model(at::kFloat), gen_config(), fixture_prompt("cfg15_noeos"), sp, opt);
  EXPECT_TRUE(r.frames.equal(t.at("frames")));
  // Prompt 42 rows: steps write slots 42..104, attending over 43..105 slots.
  EXPECT_EQ(keys, (std::map<int64_t, int>{{48, 6}, {64, 16}, {80, 16}, {96, 16}, {112, 9}}));
}

}  // namespace
