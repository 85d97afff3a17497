// HeartCodec parity with the upstream reference (tests/data/codec/codec_t*.safetensors, made by
// heartlib's HeartCodec.detokenize in float32 on the CPU with 10 steps, guidance 1.25): the
// recorded noise is replayed, the output must match in shape, in its first second to 1e-4
// and over its whole length to 2e-3 (relative to the reference's peak).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "codec/heartcodec.h"
#include "io/torch_tensors.h"

namespace hc = heartmula::codec;

namespace {

const std::string kData = HEARTMULA_TEST_DATA;

struct Diff {
  double max_abs, ref_peak;
  double rel() const { return max_abs / ref_peak; }
};

Diff compare(const at::Tensor& got, const at::Tensor& ref) {
  at::Tensor r = ref.to(at::kDouble);
  return {(got.to(at::kDouble) - r).abs().max().item<double>(), r.abs().max().item<double>()};
}

void run_case(const std::string& name) {
  const auto t = heartmula::io::load_all_tensors(kData + "/codec/codec_" + name + ".safetensors");
  const auto codec = hc::HeartCodec::load(kData + "/ckpt/HeartCodec-oss", at::kFloat, at::kCPU);
  auto noise = hc::RecordedNoise::from_tensors(t, "codec_" + name);
  hc::DetokenizeOptions opts;  // 10 steps, guidance 1.25 as the reference
  opts.noise = &noise;
  const auto t0 = std::chrono::steady_clock::now();
  const at::Tensor wav = codec.detokenize(t.at("codes"), opts);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("codec_%s: detokenize %.2f s\n", name.c_str(), secs);
  EXPECT_EQ(noise.used(), noise.size());

  const at::Tensor& ref_full = t.at("wav_f16");
  ASSERT_EQ(wav.sizes(), ref_full.sizes());
  EXPECT_EQ(wav.scalar_type(), at::kFloat);

  const at::Tensor& ref_head = t.at("wav_head_f32");
  const Diff head = compare(wav.narrow(1, 0, ref_head.size(1)), ref_head);
  std::printf("codec_%s: head max abs diff %.3g (peak %.3g, rel %.3g)\n", name.c_str(), head.max_abs, head.ref_peak,
              head.rel());
  EXPECT_LE(head.rel(), 1e-4) << "first second: max abs diff " << head.max_abs << ", reference peak " << head.ref_peak;

  const Diff full = compare(wav, ref_full);
  std::printf("codec_%s: full max abs diff %.3g (peak %.3g, rel %.3g)\n", name.c_str(), full.max_abs, full.ref_peak,
              full.rel());
  EXPECT_LE(full.rel(), 2e-3) << "whole waveform vs wav_f16: max abs diff " << full.max_abs << ", reference peak "
                              << full.ref_peak;
}

}  // namespace

TEST(CodecGolden, T200OneWindow) { run_case("t200"); }
TEST(CodecGolden, T400TwoWindows) { run_case("t400"); }
