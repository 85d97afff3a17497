// heartcodec-decode run as a program: codec_t200 with its recorded noise to .safetensors
// (compared with the reference like the golden test), an audio file, and the exit codes of
// its error paths.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <tuple>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "io/torch_tensors.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = HEARTMULA_TEST_DATA;
const std::string kCodec = kData + "/ckpt/HeartCodec-oss";
const std::string kT200 = kData + "/codec/codec_t200.safetensors";
const std::string kT400 = kData + "/codec/codec_t400.safetensors";

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

  void expect_reference_decode(const std::string& fixture);

  fs::path dir_;
};

// The interleaved samples of a 16-bit PCM WAV file (its "fmt " and "data" chunks, read by hand).
std::vector<int16_t> wav16_samples(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  const std::string b((std::istreambuf_iterator<char>(in)), {});
  auto u32 = [&](size_t at) {
    return static_cast<uint32_t>(static_cast<uint8_t>(b[at])) |
           static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1])) << 8 |
           static_cast<uint32_t>(static_cast<uint8_t>(b[at + 2])) << 16 |
           static_cast<uint32_t>(static_cast<uint8_t>(b[at + 3])) << 24;
  };
  EXPECT_EQ(b.substr(0, 4), "RIFF");
  EXPECT_EQ(b.substr(8, 4), "WAVE");
  for (size_t at = 12; at + 8 <= b.size();) {
    const std::string id = b.substr(at, 4);
    const size_t len = u32(at + 4);
    if (id == "fmt ") {
      EXPECT_EQ(static_cast<uint8_t>(b[at + 10]), 2) << "channels";
      EXPECT_EQ(static_cast<uint8_t>(b[at + 22]), 16) << "bits per sample";
    }
    if (id == "data") {
      std::vector<int16_t> s(std::min(len, static_cast<size_t>(b.size() - at - 8)) / 2);
      std::memcpy(s.data(), b.data() + at + 8, s.size() * 2);  // little-endian host (x86-64, aarch64)
      return s;
    }
    at += 8 + len + (len & 1);
  }
  ADD_FAILURE() << file << ": no data chunk";
  return {};
}

double rel_diff(const at::Tensor& got, const at::Tensor& ref) {
  at::Tensor r = ref.to(at::kDouble);
  return (got.to(at::kDouble) - r).abs().max().item<double>() / r.abs().max().item<double>();
}

}  // namespace

// The tool with the reference's codes and recorded noise gives the reference waveform: the
// first second within 1e-4 and the whole within 2e-3 of the reference's peak (the tolerances of
// tests/golden/test_codec_golden.cpp).
void CodecCli::expect_reference_decode(const std::string& fixture) {
  const std::string out = path("wav.safetensors");
  const Result r = run("--codec " + quote(kCodec) + " --codes " + quote(fixture) + " --noise " + quote(fixture) +
                       " --steps 10 --guidance 1.25 --device cpu --dtype fp32 -o " + quote(out));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Saved to"), std::string::npos);
  const auto got = heartmula::io::load_all_tensors(out);
  const auto ref = heartmula::io::load_all_tensors(fixture);
  ASSERT_EQ(got.count("wav"), 1u);
  const at::Tensor& wav = got.at("wav");
  EXPECT_EQ(wav.scalar_type(), at::kFloat);
  ASSERT_EQ(wav.sizes(), ref.at("wav_f16").sizes());
  const at::Tensor& head = ref.at("wav_head_f32");
  const double head_rel = rel_diff(wav.narrow(1, 0, head.size(1)), head);
  EXPECT_LE(head_rel, 1e-4);
  EXPECT_LE(rel_diff(wav, ref.at("wav_f16")), 2e-3);
}

TEST_F(CodecCli, DecodesT200WithRecordedNoiseToSafetensors) { expect_reference_decode(kT200); }
TEST_F(CodecCli, DecodesT400TwoWindowsLikeTheReference) { expect_reference_decode(kT400); }

TEST_F(CodecCli, WritesAudioFromFramesLayout) {
  // Codes as heartmula-gen --codes-out writes them: `frames` [T, 8]; a seeded decode to WAV.
  const auto ref = heartmula::io::load_all_tensors(kT200);
  const std::string codes = path("frames.safetensors");
  heartmula::io::save_tensors(codes, {{"frames", ref.at("codes").narrow(1, 0, 25).t().contiguous()}});
  const std::string out = path("song.wav");
  const Result r =
      run("--codec " + quote(kCodec) + " --codes " + quote(codes) + " --steps 1 --seed 3 -q -o " + quote(out));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;  // --quiet
  // The same decode to .safetensors: the WAV holds exactly those samples as 16-bit PCM,
  // round(clip(x) * 32767), 25 frames = 2 s = 96000 stereo frames, left then right.
  const std::string raw = path("song.safetensors");
  ASSERT_EQ(
      run("--codec " + quote(kCodec) + " --codes " + quote(codes) + " --steps 1 --seed 3 -q -o " + quote(raw)).code, 0);
  const at::Tensor wav = heartmula::io::load_all_tensors(raw).at("wav");
  ASSERT_EQ(wav.sizes(), (std::vector<int64_t>{2, 96000}));
  EXPECT_GT(wav.abs().max().item<float>(), 1e-3f) << "a silent decode would prove nothing";
  const std::vector<int16_t> pcm = wav16_samples(out);
  ASSERT_EQ(pcm.size(), 2u * 96000u);
  const at::Tensor want = at::round(wav.clamp(-1, 1) * 32767.0).t().contiguous().view({-1});
  const at::Tensor got =
      at::from_blob(const_cast<int16_t*>(pcm.data()), {static_cast<int64_t>(pcm.size())}, at::kShort).to(at::kFloat);
  EXPECT_LE((got - want).abs().max().item<float>(), 1.0f) << "WAV samples differ from the decoded waveform";
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
  // The limits of heartmula-gen's table, written as people write them (it printed "Value 101 not
  // in range 0.000000 to 100.000000").
  for (const auto& [flag, value, message] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"--guidance", "101", "must be a number in [0, 100]. Given: 101"},
           {"--steps", "0", "must be an integer in [1, 1000]. Given: 0"},
           {"--mp3-bitrate", "7", "must be an integer in [8, 320]. Given: 7"}}) {
    const Result v =
        run("--codec " + quote(kCodec) + " --codes " + quote(kT200) + " " + flag + " " + value + " -o " + quote(out));
    EXPECT_EQ(v.code, 2) << v.err;
    EXPECT_NE(v.err.find("error: " + flag + ": " + message + "\n"), std::string::npos) << v.err;
  }
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
  // Noise recorded for other codes -> 1 before any decoding, naming the noise file, with valid
  // codes: (a) 25 frames of t200's codes with t200's noise file, which says it was recorded for
  // 200 frames (one window either way, so only the recorded length tells);
  const auto t200 = heartmula::io::load_all_tensors(kT200);
  const std::string short_codes = path("short.safetensors");
  heartmula::io::save_tensors(short_codes, {{"codes", t200.at("codes").narrow(1, 0, 25).contiguous()}});
  r = run("--codec " + quote(kCodec) + " --codes " + quote(short_codes) + " --noise " + quote(kT200) + " -o " +
          quote(out));
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("error: " + kT200 + ": the noise was recorded for 200 frames"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("have 25 frames"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  // (b) t400's codes (more windows) with t200's noise draws alone (no codes tensor to compare):
  // the codec's own count of noise draws refuses them.
  std::vector<std::pair<std::string, at::Tensor>> draws;
  for (const auto& [name, t] : t200)
    if (name.rfind("noise_", 0) == 0) draws.emplace_back(name, t);
  ASSERT_FALSE(draws.empty());
  const std::string noise_only = path("noise_only.safetensors");
  heartmula::io::save_tensors(noise_only, draws);
  r = run("--codec " + quote(kCodec) + " --codes " + quote(kT400) + " --noise " + quote(noise_only) + " -o " +
          quote(out));
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("error: " + noise_only + ": " + std::to_string(draws.size()) + " noise tensors were given"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("recorded for other codes"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  // A missing checkpoint folder -> 1.
  r = run("--codec " + quote(path("nowhere")) + " --codes " + quote(kT200) + " -o " + quote(out));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("nowhere"), std::string::npos) << r.err;
}

TEST_F(CodecCli, CompareDtypeDecodesTwiceAndPrintsTheSnr) {
  // tf32 is fp32 on the CPU: the same computation twice. codec::snr_db prints inf only when the
  // two waveforms are equal bit for bit (the sum of squared differences is exactly 0), so this
  // asserts that the two decodes are identical, and the file written is the first of them.
  Result r = run("--codec " + quote(kCodec) + " --codes " + quote(kT200) + " --noise " + quote(kT200) +
                 " --steps 2 --dtype fp32 --compare-dtype tf32 -q -o " + quote(path("cmp.safetensors")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("SNR of fp32 against fp32 = inf dB"), std::string::npos) << r.out;
  ASSERT_EQ(run("--codec " + quote(kCodec) + " --codes " + quote(kT200) + " --noise " + quote(kT200) +
                " --steps 2 --dtype fp32 -q -o " + quote(path("plain.safetensors")))
                .code,
            0);
  const at::Tensor cmp = heartmula::io::load_all_tensors(path("cmp.safetensors")).at("wav");
  const at::Tensor plain = heartmula::io::load_all_tensors(path("plain.safetensors")).at("wav");
  EXPECT_TRUE(cmp.equal(plain)) << "--compare-dtype changed the decode written";
  r = run("--codec " + quote(kCodec) + " --codes " + quote(kT200) + " --compare-dtype int8 -o " +
          quote(path("bad.safetensors")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--compare-dtype int8"), std::string::npos) << r.err;
}
