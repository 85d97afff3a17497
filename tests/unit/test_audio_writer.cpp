// Round trips: write a 1.5 s stereo signal, read it back with libsndfile, compare.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "heartmula/error.h"
#include "io/audio_writer.h"
#include "test_audio_util.h"

namespace heartmula::io {
namespace {

using test::best_correlation;
using test::read_audio;
using test::TempDir;

constexpr int kRate = 48000;
constexpr size_t kFrames = kRate * 3 / 2;

struct Case {
  const char* name;
  const char* file;
  bool mp3_vbr;
  int pcm_bits;
  long frame_tolerance;  // decoded length vs written
  int max_lag;           // lag search for the correlation (lossy formats)
  bool lossless;         // PCM: every sample must come back within 1 step of its quantisation
};

// The samples of a PCM file as integers of the file's own bit depth (16 or 24), planar.
std::vector<std::vector<int32_t>> read_pcm(const std::string& path, int bits) {
  SF_INFO info{};
  SNDFILE* sf = sf_open(path.c_str(), SFM_READ, &info);
  if (sf == nullptr) throw std::runtime_error("cannot open " + path + ": " + sf_strerror(nullptr));
  std::vector<int32_t> inter(static_cast<size_t>(info.frames * info.channels));
  const sf_count_t got = sf_readf_int(sf, inter.data(), info.frames);  // left-justified in 32 bits
  sf_close(sf);
  if (got != info.frames) throw std::runtime_error("short read of " + path);
  std::vector<std::vector<int32_t>> planes(static_cast<size_t>(info.channels),
                                           std::vector<int32_t>(static_cast<size_t>(info.frames)));
  for (size_t i = 0; i < inter.size(); ++i)
    planes[i % static_cast<size_t>(info.channels)][i / static_cast<size_t>(info.channels)] = inter[i] >> (32 - bits);
  return planes;
}

// The largest difference, in steps of the file's quantisation, between the PCM samples of a
// stereo file of `bits` bits and planar [2, kFrames] samples in [-1, 1], each stored as
// round(x * (2^(bits-1) - 1)). Exact storage gives at most 0.5; a gain, offset, channel swap or
// shift of even one sample is many steps off. The worst sample is reported.
double max_pcm_error(const std::string& path, int bits, const std::vector<float>& planar) {
  const auto pcm = read_pcm(path, bits);
  if (pcm.size() != 2 || pcm[0].size() != kFrames) {
    ADD_FAILURE() << path << ": " << pcm.size() << " channels of " << (pcm.empty() ? 0 : pcm[0].size()) << " frames";
    return 1e9;
  }
  const double scale = static_cast<double>((1L << (bits - 1)) - 1);
  double worst = 0;
  size_t worst_ch = 0, worst_at = 0;
  for (size_t ch = 0; ch < 2; ++ch)
    for (size_t i = 0; i < kFrames; ++i) {
      const double d =
          std::abs(static_cast<double>(pcm[ch][i]) - static_cast<double>(planar[ch * kFrames + i]) * scale);
      if (d > worst) worst = d, worst_ch = ch, worst_at = i;
    }
  if (worst > 1.0)
    std::fprintf(stderr, "%s: channel %zu sample %zu is %d, written %.9g x %.0f\n", path.c_str(), worst_ch, worst_at,
                 pcm[worst_ch][worst_at], static_cast<double>(planar[worst_ch * kFrames + worst_at]), scale);
  return worst;
}

class AudioRoundTrip : public ::testing::TestWithParam<Case> {};

// Writes in uneven chunks (1000 frames, then the rest) to exercise streaming.
void write_streamed(const std::string& path, const AudioWriteOptions& opt, const std::vector<float>& planar) {
  auto w = AudioWriter::open(path, opt, false);
  const float* left = planar.data();
  const float* right = planar.data() + kFrames;
  for (size_t done = 0; done < kFrames;) {
    const size_t n = std::min<size_t>(done == 0 ? 1000 : 7777, kFrames - done);
    w->write_planar(left + done, right + done, n);
    done += n;
  }
  EXPECT_EQ(w->frames_written(), kFrames);
  w->finish();
}

TEST_P(AudioRoundTrip, ReadsBackWhatWasWritten) {
  const Case& c = GetParam();
  TempDir dir;
  const std::string path = dir.file(c.file);
  AudioWriteOptions opt;
  opt.mp3_vbr = c.mp3_vbr;
  opt.pcm_bits = c.pcm_bits;
  opt.title = "heartmula test \xc3\xa9\xe2\x99\xaa";  // non-ASCII: UTF-16 ID3 frames in MP3
  opt.comment = "tags: pop";
  const std::vector<float> planar = test::test_signal(kRate, kFrames);
  write_streamed(path, opt, planar);

  EXPECT_EQ(dir.entries(), std::vector<std::string>{c.file}) << "temp files left behind";
  const test::DecodedAudio a = read_audio(path);
  EXPECT_EQ(a.channels, 2);
  EXPECT_EQ(a.sample_rate, kRate);
  EXPECT_NEAR(static_cast<double>(a.frames()), static_cast<double>(kFrames), c.frame_tolerance);
  if (c.lossless) {
    EXPECT_LE(max_pcm_error(path, c.pcm_bits, planar), 1.0) << c.name;
  }
  for (int ch = 0; ch < 2 && !c.lossless; ++ch) {
    const std::vector<float> in(planar.begin() + ch * kFrames, planar.begin() + (ch + 1) * kFrames);
    int lag = 0;
    const double r = best_correlation(in, a.planes[static_cast<size_t>(ch)], c.max_lag, &lag);
    EXPECT_GT(r, 0.9) << c.name << " channel " << ch << " lag " << lag;
    RecordProperty(std::string("lag_ch") + std::to_string(ch), lag);
  }
  EXPECT_EQ(a.title, opt.title);
  EXPECT_EQ(a.comment, opt.comment);
}

INSTANTIATE_TEST_SUITE_P(Formats, AudioRoundTrip,
                         ::testing::Values(Case{"mp3_cbr", "a.mp3", false, 16, 2000, 3000, false},
                                           Case{"mp3_vbr", "b.MP3", true, 16, 2000, 3000, false},
                                           Case{"wav16", "c.wav", false, 16, 0, 0, true},
                                           Case{"wav24", "d.wav", false, 24, 0, 0, true},
                                           Case{"flac", "e.flac", false, 16, 0, 0, true},
                                           Case{"ogg", "f.ogg", false, 16, 0, 0, false}),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(AudioWriter, OneShotPlanarAndOverwrite) {
  TempDir dir;
  const std::string path = dir.file("one.flac");
  const std::vector<float> planar = test::test_signal(kRate, kFrames);
  write_audio_file(path, planar.data(), kFrames, AudioWriteOptions{}, false);
  EXPECT_EQ(read_audio(path).frames(), kFrames);
  // Replacing needs overwrite.
  EXPECT_THROW(write_audio_file(path, planar.data(), 1000, AudioWriteOptions{}, false), Error);
  write_audio_file(path, planar.data(), 1000, AudioWriteOptions{}, true);
  EXPECT_EQ(read_audio(path).frames(), 1000u);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"one.flac"});
}

TEST(AudioWriter, MonoWav) {
  TempDir dir;
  AudioWriteOptions opt;
  opt.channels = 1;
  opt.sample_rate = 22050;
  const std::vector<float> planar = test::test_signal(22050, 10000);
  auto w = AudioWriter::open(dir.file("m.wav"), opt, false);
  w->write(planar.data(), 10000);
  EXPECT_THROW(w->write_planar(planar.data(), planar.data(), 10), Error);
  w->finish();
  const test::DecodedAudio a = read_audio(dir.file("m.wav"));
  EXPECT_EQ(a.channels, 1);
  EXPECT_EQ(a.sample_rate, 22050);
  EXPECT_EQ(a.frames(), 10000u);
}

TEST(AudioWriter, ClipsInsteadOfWrapping) {
  TempDir dir;
  const std::string path = dir.file("clip.wav");
  const float in[] = {1.5f, -2.0f, 0.5f, NAN, 1.0f, -1.0f, 100.0f, -0.25f};
  auto w = AudioWriter::open(path, AudioWriteOptions{}, false);
  w->write(in, 4);
  w->finish();
  SF_INFO info{};
  SNDFILE* sf = sf_open(path.c_str(), SFM_READ, &info);
  ASSERT_NE(sf, nullptr);
  short out[8] = {};
  ASSERT_EQ(sf_readf_short(sf, out, 4), 4);
  sf_close(sf);
  EXPECT_EQ(out[0], 32767);
  EXPECT_EQ(out[1], -32767);
  EXPECT_NEAR(out[2], 16384, 1);
  EXPECT_EQ(out[3], 0);
  EXPECT_EQ(out[4], 32767);
  EXPECT_EQ(out[5], -32767);
  EXPECT_EQ(out[6], 32767);
  EXPECT_NEAR(out[7], -8192, 1);
}

TEST(AudioWriter, LoudMp3IsClippedNotWrapped) {
  TempDir dir;
  const std::string path = dir.file("loud.mp3");
  std::vector<float> planar = test::test_signal(kRate, kFrames, 1.6f);
  write_audio_file(path, planar.data(), kFrames, AudioWriteOptions{}, false);
  for (float& x : planar) x = std::max(-1.0f, std::min(1.0f, x));
  const test::DecodedAudio a = read_audio(path);
  const std::vector<float> left(planar.begin(), planar.begin() + kFrames);
  EXPECT_GT(best_correlation(left, a.planes[0], 3000, nullptr), 0.9);
  float peak = 0;
  for (float x : a.planes[0]) peak = std::max(peak, std::abs(x));
  EXPECT_LT(peak, 1.2f);
}

// Runs `body` in a child process whose stdout is `path`; the child exits 0 on success.
template <typename Body>
void with_stdout_redirected(const std::string& path, Body body) {
  EXPECT_EXIT(
      {
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || ::dup2(fd, STDOUT_FILENO) < 0) std::_Exit(3);
        try {
          body();
        } catch (const std::exception& e) {
          std::fprintf(stderr, "%s\n", e.what());
          std::_Exit(4);
        }
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(AudioWriter, StreamsWavAndMp3ToStdout) {
  TempDir dir;
  const std::vector<float> planar = test::test_signal(kRate, kFrames);
  for (AudioFormat f : {AudioFormat::Wav, AudioFormat::Mp3}) {
    const std::string path = dir.file(std::string("stdout.") + audio_format_name(f));
    with_stdout_redirected(path, [&] {
      auto w = AudioWriter::open_stdout(f, AudioWriteOptions{});
      w->write_planar(planar.data(), planar.data() + kFrames, kFrames);
      w->finish();
    });
    const test::DecodedAudio a = read_audio(path);
    EXPECT_EQ(a.channels, 2);
    EXPECT_EQ(a.sample_rate, kRate);
    EXPECT_NEAR(static_cast<double>(a.frames()), static_cast<double>(kFrames), f == AudioFormat::Wav ? 0 : 2000);
    if (f == AudioFormat::Wav) {  // lossless: both channels, sample for sample, within 1 step
      EXPECT_LE(max_pcm_error(path, 16, planar), 1.0);
    } else {
      const std::vector<float> right(planar.begin() + kFrames, planar.end());
      EXPECT_GT(best_correlation(right, a.planes[1], 3000, nullptr), 0.9) << audio_format_name(f);
    }
  }
  EXPECT_THROW(AudioWriter::open_stdout(AudioFormat::Flac, AudioWriteOptions{}), UsageError);
  EXPECT_THROW(AudioWriter::open_stdout(AudioFormat::Ogg, AudioWriteOptions{}), UsageError);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// mp3_lame_tag = false: the file is the stdout stream's bytes (no LAME tag frame to fill in at
// the end); with it (the default) the same bytes with the tag frame after the ID3v2 tag.
TEST(AudioWriter, Mp3WithoutLameTagIsTheStdoutStream) {
  TempDir dir;
  const std::vector<float> planar = test::test_signal(kRate, kFrames);
  AudioWriteOptions tagged;
  tagged.title = "a title";  // an ID3v2 tag first
  AudioWriteOptions plain = tagged;
  plain.mp3_lame_tag = false;
  write_audio_file(dir.file("plain.mp3"), planar.data(), kFrames, plain, false);
  write_audio_file(dir.file("tagged.mp3"), planar.data(), kFrames, tagged, false);
  with_stdout_redirected(dir.file("stdout.mp3"), [&] {
    auto w = AudioWriter::open_stdout(AudioFormat::Mp3, tagged);
    w->write_planar(planar.data(), planar.data() + kFrames, kFrames);
    w->finish();
  });
  const std::string p = read_bytes(dir.file("plain.mp3")), t = read_bytes(dir.file("tagged.mp3"));
  ASSERT_GT(p.size(), 10u);
  EXPECT_TRUE(p == read_bytes(dir.file("stdout.mp3")));
  ASSERT_GT(t.size(), p.size());
  // ID3v2: "ID3", a 10-byte header with a syncsafe size.
  ASSERT_EQ(p.substr(0, 3), "ID3");
  auto b = [&](size_t i) { return static_cast<size_t>(static_cast<unsigned char>(p[i]) & 0x7f); };
  const size_t id3 = 10 + (b(6) << 21 | b(7) << 14 | b(8) << 7 | b(9));
  ASSERT_LT(id3, p.size());
  const size_t tag = t.size() - p.size();  // the LAME tag frame
  EXPECT_TRUE(t.substr(0, id3) == p.substr(0, id3));
  EXPECT_NE(t.substr(id3, tag).find("Info"), std::string::npos);
  EXPECT_EQ(p.find("Info"), std::string::npos);
  EXPECT_TRUE(t.substr(id3 + tag) == p.substr(id3));
}

}  // namespace
}  // namespace heartmula::io
