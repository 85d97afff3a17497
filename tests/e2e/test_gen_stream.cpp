// heartmula-gen --stream: the codec decodes each window while the language model goes on and
// the file grows; the audio must equal the non-streamed run's (--no-stream) bit for bit (same
// seed). Also with --num-songs (each song streamed in a batch), -o - (stdout, WAV), and Ctrl-C.
// Streaming is the default for audio: the default file equals --no-stream's byte for byte.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <signal.h>

#include <memory>
#include <sstream>

#include "../unit/test_audio_util.h"
#include "gen_test_util.h"

namespace {

using Json = nlohmann::json;
using namespace heartmula::test;

constexpr int64_t kSamplesPerFrame = 3840;  // 80 ms at 48 kHz
// --duration 60 --ignore-eos: 751 frames; the codec's windows start at 0, 320, 640, and the
// first two are complete (and independent of the final length) while the LM still runs.
constexpr int64_t kFrames = 751;

class GenStream : public ::testing::Test {
 protected:
  void SetUp() override {
    ckpt_ = gen_checkpoint();
    if (ckpt_.empty()) GTEST_SKIP() << "no checkpoint folder (tokenizer.json missing)";
  }
  std::vector<std::string> common(std::vector<std::string> extra) const {
    std::vector<std::string> a = {
        "--model-path", ckpt_, "--ignore-eos", "--duration", "60",       "--codec-steps", "1",    "--threads", "1",
        "--seed",       "5",   "--json",       "--lyrics",   "la la la", "--tags",        "piano"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  std::string ckpt_;
  ScratchDir dir_{"e2e-stream"};
  ScratchDir logs_{"e2e-stream-logs"};
};

void expect_same_audio(const DecodedAudio& a, const DecodedAudio& b, const std::string& what) {
  ASSERT_GT(a.frames(), 0u) << what;
  EXPECT_EQ(a.sample_rate, b.sample_rate) << what;
  EXPECT_EQ(a.frames(), b.frames()) << what;
  EXPECT_TRUE(a.planes == b.planes) << what << ": the samples differ";
}

TEST_F(GenStream, StreamedEqualsNotStreamedBitForBit) {
  // Two at a time (2 cores): the reference and the streamed single song, then the streamed
  // batch of two and the stream to stdout.
  std::vector<GenResult> r;
  {
    GenProcess ref(common({"--no-stream", "-o", dir_.file("ref.wav"), "--codes-out", dir_.file("ref.safetensors")}),
                   dir_.path(), logs_.path());
    GenProcess st(common({"--stream", "-o", dir_.file("st.wav"), "--codes-out", dir_.file("st.safetensors")}),
                  dir_.path(), logs_.path());
    r.push_back(ref.wait());
    r.push_back(st.wait());
  }
  {
    GenProcess many(common({"--stream", "--num-songs", "2", "-o", dir_.file("many.wav")}), dir_.path(), logs_.path());
    GenProcess out(common({"--stream", "-o", "-", "--format", "wav"}), dir_.path(), logs_.path());
    r.push_back(many.wait());
    r.push_back(out.wait());
  }
  for (const auto& x : r) ASSERT_EQ(x.code, 0) << x.err;
  std::printf("not streamed %.1f s, streamed %.1f s, streamed batch of 2 %.1f s, stdout %.1f s\n", r[0].seconds,
              r[1].seconds, r[2].seconds, r[3].seconds);

  const DecodedAudio ref = read_audio(dir_.file("ref.wav"));
  EXPECT_EQ(static_cast<int64_t>(ref.frames()), kFrames * kSamplesPerFrame);
  expect_same_audio(read_audio(dir_.file("st.wav")), ref, "--stream");
  expect_same_audio(read_audio(dir_.file("many-1.wav")), ref, "--stream --num-songs 2, song 1");
  EXPECT_EQ(read_safetensors_tensor(dir_.file("st.safetensors"), "frames").values,
            read_safetensors_tensor(dir_.file("ref.safetensors"), "frames").values);

  // stdout: a WAV stream (sizes unknown in its header), the same samples; reports on stderr.
  write_file(dir_.file("stdout.wav"), r[3].out);
  expect_same_audio(read_audio(dir_.file("stdout.wav")), ref, "-o - --format wav");
  EXPECT_EQ(r[3].out.compare(0, 4, "RIFF"), 0);
  EXPECT_TRUE(contains(r[3].err, "Saved to <stdout>")) << r[3].err;
  EXPECT_FALSE(last_json_line(r[3].err).empty()) << "--json goes to stderr with -o -";
  EXPECT_FALSE(std::filesystem::exists(dir_.file("-.json")));

  // Time to first audio: streamed, the first window's samples come while the LM runs; not
  // streamed, only with the whole file.
  const Json js = last_json_line(r[1].out), jr = last_json_line(r[0].out);
  const double first = js["timings"]["first_audio_s"].get<double>();
  EXPECT_GT(first, 0.0);
  EXPECT_LT(first, js["timings"]["total_s"].get<double>());
  EXPECT_EQ(js["settings"]["stream"], true);
  EXPECT_EQ(jr["settings"]["stream"], false);
  EXPECT_GT(jr["timings"]["first_audio_s"].get<double>(), 0.0);
  std::printf("first audio after %.2f s streamed, %.2f s not streamed\n", first,
              jr["timings"]["first_audio_s"].get<double>());
}

// Without --stream or --no-stream a song with audio is streamed, and the files are those of the
// old path (--no-stream: the whole song decoded and encoded after the last frame) byte for byte:
// MP3 and WAV, 35 s (438 frames: the first window is decoded beside the loop).
TEST_F(GenStream, DefaultIsStreamedAndEqualsNoStreamByteForByte) {
  for (const char* ext : {"mp3", "wav"}) {
    SCOPED_TRACE(ext);
    const std::string e = ext;
    GenProcess def(common({"--duration", "35", "-o", dir_.file("default." + e)}), dir_.path(), logs_.path());
    GenProcess old(common({"--duration", "35", "--no-stream", "-o", dir_.file("old." + e)}), dir_.path(), logs_.path());
    const GenResult d = def.wait(), o = old.wait();
    ASSERT_EQ(d.code, 0) << d.err;
    ASSERT_EQ(o.code, 0) << o.err;
    EXPECT_EQ(last_json_line(d.out)["settings"]["stream"], true);
    EXPECT_EQ(last_json_line(o.out)["settings"]["stream"], false);
    const std::string a = read_file(dir_.file("default." + e)), b = read_file(dir_.file("old." + e));
    EXPECT_GT(a.size(), 10000u);
    EXPECT_EQ(a.size(), b.size());
    EXPECT_TRUE(a == b) << "the default (streamed) file differs from --no-stream's";
  }
}

// What is not streamed by default: no audio (--no-audio), --lazy-load (the codec loads after
// the LM is freed), --codes-in (no LM). --stream=off is --no-stream; the last of them wins.
TEST_F(GenStream, WhatTheDefaultDoesNotStream) {
  const GenResult noaudio = run_gen(
      common({"--duration", "1", "--no-audio", "--codes-out", dir_.file("n.safetensors")}), dir_.path(), logs_.path());
  ASSERT_EQ(noaudio.code, 0) << noaudio.err;
  EXPECT_EQ(last_json_line(noaudio.out)["settings"]["stream"], false);
  const GenResult lazy =
      run_gen(common({"--duration", "1", "--lazy-load", "-o", dir_.file("l.wav")}), dir_.path(), logs_.path());
  ASSERT_EQ(lazy.code, 0) << lazy.err;
  EXPECT_EQ(last_json_line(lazy.out)["settings"]["stream"], false);
  const GenResult codes =
      run_gen(common({"--codes-in", dir_.file("n.safetensors"), "-o", dir_.file("c.wav")}), dir_.path(), logs_.path());
  ASSERT_EQ(codes.code, 0) << codes.err;
  EXPECT_EQ(last_json_line(codes.out)["settings"]["stream"], false);
  const GenResult off = run_gen(common({"--duration", "1", "--stream", "--stream=off", "-o", dir_.file("o.wav")}),
                                dir_.path(), logs_.path());
  ASSERT_EQ(off.code, 0) << off.err;
  EXPECT_EQ(last_json_line(off.out)["settings"]["stream"], false);
  const GenResult on = run_gen(common({"--duration", "1", "--no-stream", "--stream", "-o", dir_.file("s.wav")}),
                               dir_.path(), logs_.path());
  ASSERT_EQ(on.code, 0) << on.err;
  EXPECT_EQ(last_json_line(on.out)["settings"]["stream"], true);
}

TEST_F(GenStream, SigintSavesWhatExists) {
  GenProcess p({"--model-path", ckpt_, "--lyrics", "la la la", "--tags", "piano", "--ignore-eos", "--duration", "60",
                "--codec-steps", "1", "--threads", "1", "--seed", "9", "--stream", "-o", dir_.file("p.wav")},
               dir_.path(), logs_.path());
  ASSERT_TRUE(p.wait_for_stderr("frames ", 120)) << "no progress line:\n" << p.current_stderr();
  p.send_signal(SIGINT);
  const GenResult r = p.wait();
  ASSERT_EQ(r.code, 130) << "signal " << r.signal << "\n" << r.err;
  EXPECT_TRUE(contains(r.err, "Partial song saved to " + dir_.file("p.wav"))) << r.err;
  const Json meta = Json::parse(read_file(dir_.file("p.json")));
  EXPECT_EQ(meta["partial"], true);
  const int64_t f = meta["timings"]["frames"].get<int64_t>();
  EXPECT_GE(f, 1);
  EXPECT_LT(f, kFrames);
  EXPECT_EQ(static_cast<int64_t>(read_audio(dir_.file("p.wav")).frames()), f * kSamplesPerFrame);
  EXPECT_EQ(part_files(dir_.path()), std::vector<std::string>{});
}

TEST_F(GenStream, StdoutTakesOneSongAndStreamNotWithLazyLoad) {
  const GenResult a = run_gen({"--model-path", ckpt_, "--num-songs", "2", "-o", "-"}, dir_.path(), logs_.path());
  EXPECT_EQ(a.code, 2) << a.err;
  EXPECT_TRUE(contains(a.err, "-o -")) << a.err;
  const GenResult b =
      run_gen({"--model-path", ckpt_, "--stream", "--lazy-load", "--duration", "1", "-o", dir_.file("l.wav")},
              dir_.path(), logs_.path());
  EXPECT_EQ(b.code, 2) << b.err;
  EXPECT_TRUE(contains(b.err, "--lazy-load")) << b.err;
  EXPECT_TRUE(a.out.empty());
}

}  // namespace
