// heartcodec-decode run as a program: codec_t200 with its recorded noise to .safetensors
// (compared with the reference like the golden test), an audio file, and the exit codes of
// its error paths.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "io/torch_tensors.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = HEARTMULA_TEST_DATA;
const std::string kCodec = kData + "/ckpt/HeartCodec-oss";
const std::string kT200 = kData + "/codec/codec_t200.safetensors";

struct Result {
  int code = -1;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class CodecCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("heartmula_codec_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Runs the tool with `args` (already quoted), capturing stdout and stderr.
  Result run(const std::string& args) {
    const std::string err = path("stderr.txt");
    const std::string cmd =
        quote(std::string(HEARTMULA_BIN_DIR) + "/heartcodec-decode") + " " + args + " 2>" + quote(err);
    Result r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err);
    std::stringstream ss;
    ss << in.rdbuf();
    r.err = ss.str();
    return r;
  }

  fs::path dir_;
};

double rel_diff(const at::Tensor& got, const at::Tensor& ref) {
  at::Tensor r = ref.to(at::kDouble);
  return (got.to(at::kDouble) - r).abs().max().item<double>() / r.abs().max().item<double>();
}

}  // namespace

TEST_F(CodecCli, DecodesT200WithRecordedNoiseToSafetensors) {
  const std::string out = path("wav.safetensors");
  const Result r = run("--codec " + quote(kCodec) + " --codes " + quote(kT200) + " --noise " + quote(kT200) +
                       " --steps 10 --guidance 1.25 --device cpu --dtype fp32 -o " + quote(out));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Saved to"), std::string::npos);
  const auto got = heartmula::io::load_all_tensors(out);
  const auto ref = heartmula::io::load_all_tensors(kT200);
  ASSERT_EQ(got.count("wav"), 1u);
  const at::Tensor& wav = got.at("wav");
  EXPECT_EQ(wav.scalar_type(), at::kFloat);
  ASSERT_EQ(wav.sizes(), ref.at("wav_f16").sizes());
  const at::Tensor& head = ref.at("wav_head_f32");
  const double head_rel = rel_diff(wav.narrow(1, 0, head.size(1)), head);
  EXPECT_LE(head_rel, 1e-4);
  EXPECT_LE(rel_diff(wav, ref.at("wav_f16")), 2e-3);
}

TEST_F(CodecCli, WritesAudioFromFramesLayout) {
  // Codes as heartmula-gen --codes-out writes them: `frames` [T, 8]; a seeded decode to WAV.
  const auto ref = heartmula::io::load_all_tensors(kT200);
  const std::string codes = path("frames.safetensors");
  heartmula::io::save_tensors(codes, {{"frames", ref.at("codes").narrow(1, 0, 25).t().contiguous()}});
  const std::string out = path("song.wav");
  const Result r = run("--codec " + quote(kCodec) + " --codes " + quote(codes) + " --steps 1 --seed 3 -q -o " +
                       quote(out));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;  // --quiet
  // 25 frames = 2 s = 96000 frames of 16-bit stereo (384000 bytes) after a small header.
  EXPECT_GE(fs::file_size(out), 384000u + 44u);
  EXPECT_LE(fs::file_size(out), 384000u + 1024u);
  // An existing output is not replaced without --overwrite.
  const Result again = run("--codec " + quote(kCodec) + " --codes " + quote(codes) + " -o " + quote(out));
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("exists"), std::string::npos) << again.err;
}

TEST_F(CodecCli, ErrorsAndExitCodes) {
  const std::string out = path("x.safetensors");
  // Usage: missing flags, bad values -> 2.
  EXPECT_EQ(run("--codes " + quote(kT200)).code, 2);
  EXPECT_EQ(run("--codec " + quote(kCodec) + " --codes " + quote(kT200) + " --steps 0 -o " + quote(out)).code, 2);
  Result r = run("--codec " + quote(kCodec) + " --codes " + quote(kT200) + " --dtype fp8 -o " + quote(out));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("error: --dtype"), std::string::npos) << r.err;
  EXPECT_EQ(run("--codec " + quote(kCodec) + " --codes " + quote(kT200) + " -o " + quote(path("x.xyz"))).code, 2);
  // Runtime: a code outside the codebook -> 1, naming value and position; nothing written.
  at::Tensor bad = at::zeros({8, 10}, at::kLong);
  bad[5][7] = 4000;
  const std::string bad_codes = path("bad.safetensors");
  heartmula::io::save_tensors(bad_codes, {{"codes", bad}});
  r = run("--codec " + quote(kCodec) + " --codes " + quote(bad_codes) + " -o " + quote(out));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("error: codec code 4000 at codebook 5, frame 7"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  // Noise recorded for other codes -> 1 before any decoding.
  r = run("--codec " + quote(kCodec) + " --codes " + quote(bad_codes) + " --noise " + quote(kT200) + " -o " +
          quote(out));
  EXPECT_EQ(r.code, 1);
  // A missing checkpoint folder -> 1.
  r = run("--codec " + quote(path("nowhere")) + " --codes " + quote(kT200) + " -o " + quote(out));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("nowhere"), std::string::npos) << r.err;
}

TEST_F(CodecCli, CompareDtypeDecodesTwiceAndPrintsTheSnr) {
  // tf32 is fp32 on the CPU: the same computation twice, so the waveforms are equal (inf dB).
  Result r = run("--codec " + quote(kCodec) + " --codes " + quote(kT200) + " --noise " + quote(kT200) +
                 " --steps 2 --dtype fp32 --compare-dtype tf32 -q -o " + quote(path("cmp.safetensors")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("SNR of fp32 against fp32 = inf dB"), std::string::npos) << r.out;
  r = run("--codec " + quote(kCodec) + " --codes " + quote(kT200) + " --compare-dtype int8 -o " +
          quote(path("bad.safetensors")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--compare-dtype int8"), std::string::npos) << r.err;
}
