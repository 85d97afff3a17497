// heartmula-gen against the upstream reference: the command a user types, with the fixture's tags
// and lyrics (tests/data/lm/cases.json) and greedy sampling (--topk 1), must write exactly the
// reference's frames (tests/data/lm/mula_<case>.safetensors, made by heartlib at 3981c52 in fp32
// on the CPU; tests/data/README.md). The same command as scripts/device-check.sh's parity part,
// here on the CPU. The codec half of the pipeline (heartcodec-decode with the reference's recorded
// noise against the reference waveform) is CodecCli.DecodesT200WithRecordedNoiseToSafetensors and
// CodecCli.DecodesT400TwoWindowsLikeTheReference (test_codec_cli.cpp).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "gen_test_util.h"

namespace {

using namespace heartmula::test;
const std::string kData = HEARTMULA_TEST_DATA;

nlohmann::json cases_json() {
  std::ifstream in(kData + "/lm/cases.json");
  return nlohmann::json::parse(in);
}

std::string format_scale(double s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

class GenReference : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { ckpt_ = gen_checkpoint(); }
  std::string ckpt_;
  ScratchDir dir_{"e2e-reference"};
  ScratchDir logs_{"e2e-reference-logs"};
};

TEST_P(GenReference, GreedyCommandWritesTheReferenceFrames) {
  ASSERT_FALSE(ckpt_.empty()) << "no checkpoint folder (run the fetch_test_assets test first)";
  const std::string name = GetParam();
  const nlohmann::json cases = cases_json();
  const nlohmann::json& c = cases["cases"][name];
  ASSERT_TRUE(c["stop_at_eos"].get<bool>()) << name << ": the command stops at EOS, as the reference did";
  const std::string lyrics = dir_.file("lyrics.txt");
  write_file(lyrics, cases["lyrics"].get<std::string>());
  const std::string codes = dir_.file("codes.safetensors");
  const GenResult r = run_gen(
      {"--model-path", ckpt_, "--tags", cases["tags"].get<std::string>(), "--lyrics", lyrics, "--topk",
       std::to_string(cases["topk"].get<int>()), "--temperature", format_scale(cases["temperature"].get<double>()),
       "--cfg-scale", format_scale(c["cfg_scale"].get<double>()), "--codes-out", codes, "--no-audio", "--seed", "1",
       "--max-audio-length-ms", "2000"},
      dir_.path(), logs_.path());
  ASSERT_EQ(r.code, 0) << r.err;

  const CodesTensor got = read_safetensors_tensor(codes, "frames");
  const CodesTensor ref = read_safetensors_tensor(kData + "/lm/mula_" + name + ".safetensors", "frames");
  ASSERT_EQ(ref.dtype, "I64");
  EXPECT_EQ(got.dtype, "I64");
  ASSERT_EQ(ref.shape, (std::vector<int64_t>{c["n_frames"].get<int64_t>(), 8}));
  ASSERT_EQ(got.shape, ref.shape) << "the reference stopped at EOS after " << ref.shape[0] << " frames";
  for (size_t i = 0; i < ref.values.size(); ++i)
    ASSERT_EQ(got.values[i], ref.values[i]) << name << ": frame " << i / 8 << ", codebook " << i % 8;
}

INSTANTIATE_TEST_SUITE_P(Cases, GenReference, ::testing::Values("cfg15", "cfg10"));

}  // namespace
