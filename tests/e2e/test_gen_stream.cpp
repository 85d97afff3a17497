// heartmula-gen --stream: the codec decodes each window while the language model goes on and
// the file grows; the audio must equal the non-streamed run's bit for bit (same seed). Also
// with --num-songs (each song streamed in a batch), -o - (stdout, WAV), and Ctrl-C.
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

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

Json last_json_line(const std::string& text) {
  std::istringstream in(text);
  Json last;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line.front() == '{') last = Json::parse(line);
  return last;
}

class GenStream : public ::testing::Test {
 protected:
  void SetUp() override {
    ckpt_ = gen_checkpoint();
    if (ckpt_.empty()) GTEST_SKIP() << "no checkpoint folder (tokenizer.json missing)";
  }
  std::vector<std::string> common(std::vector<std::string> extra) const {
    std::vector<std::string> a = {"--model-path", ckpt_, "--ignore-eos", "--duration", "60", "--codec-steps", "1",
                                  "--threads", "1", "--seed", "5", "--json", "--lyrics", "la la la", "--tags", "piano"};
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
    GenProcess ref(common({"-o", dir_.file("ref.wav"), "--codes-out", dir_.file("ref.safetensors")}), dir_.path(),
                   logs_.path());
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
  EXPECT_GT(jr["timings"]["first_audio_s"].get<double>(), 0.0);
  std::printf("first audio after %.2f s streamed, %.2f s not streamed\n", first,
              jr["timings"]["first_audio_s"].get<double>());
}

TEST_F(GenStream, SigintSavesWhatExists) {
  GenProcess p({"--model-path", ckpt_, "--lyrics", "la la la", "--tags", "piano", "--ignore-eos", "--duration", "60", "--codec-steps", "1", "--threads", "1",
                "--seed", "9", "--stream", "-o", dir_.file("p.wav")},
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
  const GenResult b = run_gen({"--model-path", ckpt_, "--stream", "--lazy-load", "--duration", "1", "-o",
                               dir_.file("l.wav")},
                              dir_.path(), logs_.path());
  EXPECT_EQ(b.code, 2) << b.err;
  EXPECT_TRUE(contains(b.err, "--lazy-load")) << b.err;
  EXPECT_TRUE(a.out.empty());
}

}  // namespace
