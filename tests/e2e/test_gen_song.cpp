// heartmula-gen end to end on the tiny fixture checkpoint: songs to WAV, MP3 and FLAC decoded
// back, the sidecar and --json, codes out and in, and determinism in the seed. The songs are
// generated once for the whole suite (two processes at a time) and shared by the tests.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sndfile.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

#include "../unit/test_audio_util.h"
#include "gen_test_util.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace heartmula::test;

constexpr int kSampleRate = 48000;
constexpr int64_t kSamplesPerFrame = 3840;  // 80 ms at 48 kHz
constexpr int64_t kFrames = 26;             // --duration 2 with --ignore-eos: 2000 / 80 + 1
const char* const kLyrics = "[Verse]\nhello caf\xC3\xA9 \xF0\x9F\x8E\xB5\nla la la\n";
const char* const kTags = "rock,drums";

class GenSong : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<ScratchDir>("e2e-song");
    logs_ = std::make_unique<ScratchDir>("e2e-song-logs");
    ckpt_ = gen_checkpoint();
    if (ckpt_.empty()) return;
    write_file(dir_->file("lyrics.txt"), kLyrics);
    for (const char* name : {"a", "b", "c", "d", "e", "f", "g"}) fs::create_directory(dir_->file(name));

    // A: WAV, codes out, --json. B: A again (same seed). C: another seed. D: A's codes decoded.
    // E: MP3. F: FLAC, with the upstream spellings of the flags. G: codes only.
    const std::vector<std::pair<std::string, std::vector<std::string>>> waves[] = {
        {{"a", with_common({"-o", song("a", "a.wav"), "--seed", "11", "--codes-out", song("a", "a.safetensors"),
                            "--json", "--version", "3B"})},
         {"e", with_common({"-o", song("e", "e.mp3"), "--seed", "13", "--mp3-bitrate", "128"})}},
        {{"b", with_common({"-o", song("b", "b.wav"), "--seed", "11", "--no-metadata", "--quiet"})},
         {"c", with_common({"-o", song("c", "c.wav"), "--seed", "12", "--no-metadata"})}},
        {{"d",
          {"--model-path", ckpt_, "--codes-in", song("a", "a.safetensors"), "-o", song("d", "d.wav"), "--seed", "11",
           "--codec-steps", "2", "--threads", "1", "--no-metadata"}},
         {"f",
          {"--model_path", ckpt_, "--save_path", song("f", "f.flac"), "--seed", "14", "--max_audio_length_ms", "2000",
           "--ignore_eos", "--codec_steps", "2", "--threads", "1", "--lyrics", dir_->file("lyrics.txt"), "--tags",
           kTags}}},
        {{"g", with_common({"--no-audio", "--codes-out", song("g", "g.safetensors"), "--seed", "11"})}},
    };
    for (const auto& wave : waves) {
      std::vector<std::unique_ptr<GenProcess>> procs;
      for (const auto& [name, args] : wave)
        procs.push_back(std::make_unique<GenProcess>(args, dir_->path(), logs_->path()));
      for (size_t i = 0; i < procs.size(); ++i) results_[wave[i].first] = procs[i]->wait();
    }
  }

  static void TearDownTestSuite() {
    dir_.reset();
    logs_.reset();
    results_.clear();
  }

  void SetUp() override {
    if (ckpt_.empty()) GTEST_SKIP() << "no checkpoint folder (tokenizer.json missing)";
  }

  static std::string song(const std::string& sub, const std::string& name) { return dir_->file(sub + "/" + name); }

  static std::vector<std::string> with_common(std::vector<std::string> args) {
    const std::vector<std::string> common = {"--model-path",           ckpt_,    "--duration", "2", "--ignore-eos",
                                             "--codec-steps",          "2",      "--threads",  "1", "--lyrics",
                                             dir_->file("lyrics.txt"), "--tags", kTags};
    args.insert(args.end(), common.begin(), common.end());
    return args;
  }

  // The run's result, failing the test (fatally, via the caller's ASSERT) unless it exited 0.
  static const GenResult& result(const std::string& name) { return results_.at(name); }

  static ::testing::AssertionResult succeeded(const std::string& name) {
    const GenResult& r = result(name);
    if (r.code == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "run " << name << " exited " << r.code << " (signal " << r.signal
                                         << ")\nstderr:\n"
                                         << r.err;
  }

  static Json sidecar(const std::string& sub, const std::string& stem) {
    return Json::parse(read_file(song(sub, stem + ".json")));
  }

  static inline std::unique_ptr<ScratchDir> dir_, logs_;
  static inline std::string ckpt_;
  static inline std::map<std::string, GenResult> results_;
};

void expect_song_audio(const DecodedAudio& a, int64_t frames, int64_t tolerance) {
  EXPECT_EQ(a.channels, 2);
  EXPECT_EQ(a.sample_rate, kSampleRate);
  const int64_t expected = frames * kSamplesPerFrame;
  EXPECT_LE(std::llabs(static_cast<long long>(a.frames()) - expected), tolerance)
      << "decoded " << a.frames() << " samples per channel, expected " << expected << " (" << frames << " frames)";
  float peak = 0;
  for (const auto& plane : a.planes)
    for (const float v : plane) {
      ASSERT_TRUE(std::isfinite(v));
      peak = std::max(peak, std::fabs(v));
    }
  EXPECT_GT(peak, 0.0f) << "silent audio";
}

TEST_F(GenSong, WavHasTwoChannels48kHzAndFramesTimes80ms) {
  ASSERT_TRUE(succeeded("a"));
  const Json meta = sidecar("a", "a");
  EXPECT_EQ(meta["timings"]["frames"], kFrames);
  const DecodedAudio a = read_audio(song("a", "a.wav"));
  EXPECT_EQ(a.format & SF_FORMAT_TYPEMASK, SF_FORMAT_WAV);
  expect_song_audio(a, kFrames, 0);
  EXPECT_NEAR(meta["timings"]["audio_s"].get<double>(), kFrames * 0.08, 1e-9);
}

TEST_F(GenSong, Mp3DecodesToTheSongLengthWithinEncoderPadding) {
  ASSERT_TRUE(succeeded("e"));
  const Json meta = sidecar("e", "e");
  EXPECT_EQ(meta["timings"]["frames"], kFrames);
  EXPECT_EQ(meta["settings"]["mp3_bitrate"], 128);
  const DecodedAudio a = read_audio(song("e", "e.mp3"));
  EXPECT_EQ(a.format & SF_FORMAT_TYPEMASK, SF_FORMAT_MPEG);
  // LAME's delay and the last granule's padding: under two MP3 frames (2 x 1152 samples) + 529.
  expect_song_audio(a, kFrames, 2 * 1152 + 529);
}

TEST_F(GenSong, FlacWithUpstreamFlagSpellings) {
  ASSERT_TRUE(succeeded("f"));
  const Json meta = sidecar("f", "f");
  EXPECT_EQ(meta["timings"]["frames"], kFrames);
  EXPECT_EQ(meta["settings"]["max_audio_length_ms"], 2000);
  EXPECT_EQ(meta["settings"]["ignore_eos"], true);
  EXPECT_EQ(meta["settings"]["codec_steps"], 2);
  const DecodedAudio a = read_audio(song("f", "f.flac"));
  EXPECT_EQ(a.format & SF_FORMAT_TYPEMASK, SF_FORMAT_FLAC);
  expect_song_audio(a, kFrames, 0);
}

TEST_F(GenSong, SidecarHoldsSeedTextsSettingsTimingsAndPath) {
  ASSERT_TRUE(succeeded("a"));
  const Json m = sidecar("a", "a");
  EXPECT_EQ(m["seed"], 11);
  EXPECT_EQ(m["tags"], kTags);
  EXPECT_EQ(m["lyrics"], kLyrics);
  EXPECT_EQ(m["output"], song("a", "a.wav"));
  EXPECT_EQ(m["codes_out"], song("a", "a.safetensors"));
  EXPECT_EQ(m["partial"], false);
  EXPECT_FALSE(m["heartmula_gen_version"].get<std::string>().empty());
  const Json& s = m["settings"];
  EXPECT_EQ(s["model_path"], ckpt_);
  EXPECT_EQ(s["version"], "3B");
  EXPECT_EQ(s["max_audio_length_ms"], 2000);
  EXPECT_EQ(s["temperature"], 1.0);
  EXPECT_EQ(s["topk"], 50);
  EXPECT_EQ(s["cfg_scale"], 1.5);
  EXPECT_EQ(s["ignore_eos"], true);
  EXPECT_EQ(s["codec_steps"], 2);
  EXPECT_EQ(s["codec_guidance"], 1.25);
  EXPECT_EQ(s["threads"], 1);
  const Json& t = m["timings"];
  EXPECT_EQ(t["frames"], kFrames);
  EXPECT_EQ(t["frames_planned"], kFrames);
  EXPECT_GT(t["prompt_len"].get<int64_t>(), 0);
  for (const char* k :
       {"prompt_s", "frames_s", "codec_s", "encode_s", "total_s", "ms_per_frame", "frames_per_s", "rtf"})
    EXPECT_GT(t[k].get<double>(), 0.0) << k;
  EXPECT_GE(t["total_s"].get<double>(), t["frames_s"].get<double>() + t["codec_s"].get<double>());
  // The human report says the same.
  EXPECT_NE(result("a").err.find("seed = 11"), std::string::npos) << result("a").err;
  EXPECT_NE(result("a").err.find("Saved to " + song("a", "a.wav")), std::string::npos) << result("a").err;
  EXPECT_NE(result("a").err.find("frames time"), std::string::npos) << result("a").err;
}

// The wall-time breakdown (scripts/wall-time.sh): every phase in --json, none negative, the
// phases in order within the process's life up to its report, which is within the measured run.
TEST_F(GenSong, JsonTimingsBreakTheWallTimeDown) {
  ASSERT_TRUE(succeeded("a"));
  const Json t = Json::parse(result("a").out)["timings"];
  ASSERT_FALSE(t.is_null()) << result("a").out;
  for (const char* k : {"process_s", "setup_s", "device_init_s", "lm_load_s", "codec_load_s", "graph_capture_s",
                        "after_frames_s", "reported_at_s", "load_s", "prompt_s", "frames_s"}) {
    ASSERT_TRUE(t.contains(k)) << k;
    EXPECT_GE(t[k].get<double>(), 0.0) << k;
  }
  auto v = [&](const char* k) { return t[k].get<double>(); };
  EXPECT_GT(v("lm_load_s"), 0.0);
  EXPECT_GT(v("codec_load_s"), 0.0);
  EXPECT_EQ(v("device_init_s"), 0.0) << "no device context on the CPU";
  EXPECT_EQ(v("graph_capture_s"), 0.0) << "no graphs on the CPU";
  EXPECT_LE(v("device_init_s") + v("lm_load_s") + v("codec_load_s"), v("load_s") + 1e-9);
  EXPECT_LE(v("graph_capture_s"), v("frames_s"));
  // The phases follow each other within [process start, report].
  const double phases =
      v("process_s") + v("setup_s") + v("load_s") + v("prompt_s") + v("frames_s") + v("after_frames_s");
  EXPECT_LE(phases, v("reported_at_s") + 1e-6);
  // The process's start is known to one clock tick (the kernel's starttime): the report may seem
  // that much later than the run measured from outside (fork to exit).
  const double tick = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  EXPECT_LE(v("reported_at_s"), result("a").seconds + tick);
  EXPECT_GT(v("reported_at_s"), v("total_s")) << "the report comes after loading and the song";
  EXPECT_NE(result("a").err.find("after frames ="), std::string::npos) << result("a").err;
}

TEST_F(GenSong, JsonPrintsOneObjectOnStdoutEqualToTheSidecar) {
  ASSERT_TRUE(succeeded("a"));
  const std::string& out = result("a").out;
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.find('\n'), out.size() - 1) << "expected one line:\n" << out;
  const Json printed = Json::parse(out);  // throws on anything but exactly one JSON value
  ASSERT_TRUE(printed.is_object());
  EXPECT_EQ(printed, sidecar("a", "a"));
  // Without --json nothing goes to stdout.
  EXPECT_EQ(result("c").out, "");
  EXPECT_EQ(result("e").out, "");
}

TEST_F(GenSong, NoMetadataWritesNoSidecar) {
  ASSERT_TRUE(succeeded("b"));
  ASSERT_TRUE(succeeded("c"));
  EXPECT_EQ(ScratchDir::entries_of(dir_->file("b")), std::vector<std::string>{"b.wav"});
  EXPECT_EQ(ScratchDir::entries_of(dir_->file("c")), std::vector<std::string>{"c.wav"});
  EXPECT_EQ(ScratchDir::entries_of(dir_->file("a")), (std::vector<std::string>{"a.json", "a.safetensors", "a.wav"}));
}

TEST_F(GenSong, SameSeedGivesIdenticalAudioAnotherSeedDifferent) {
  ASSERT_TRUE(succeeded("a"));
  ASSERT_TRUE(succeeded("b"));
  ASSERT_TRUE(succeeded("c"));
  const DecodedAudio a = read_audio(song("a", "a.wav"));
  const DecodedAudio b = read_audio(song("b", "b.wav"));
  const DecodedAudio c = read_audio(song("c", "c.wav"));
  EXPECT_EQ(a.planes, b.planes) << "seed 11 twice gave different audio";
  EXPECT_NE(a.planes, c.planes) << "seeds 11 and 12 gave the same audio";
}

TEST_F(GenSong, CodesOutThenCodesInGivesTheSameAudio) {
  ASSERT_TRUE(succeeded("a"));
  ASSERT_TRUE(succeeded("d"));
  const CodesTensor codes = read_safetensors_tensor(song("a", "a.safetensors"), "frames");
  EXPECT_EQ(codes.names, std::vector<std::string>{"frames"});
  EXPECT_EQ(codes.dtype, "I64");
  EXPECT_EQ(codes.shape, (std::vector<int64_t>{kFrames, 8}));
  const DecodedAudio a = read_audio(song("a", "a.wav"));
  const DecodedAudio d = read_audio(song("d", "d.wav"));
  EXPECT_EQ(a.planes, d.planes) << "--codes-in of A's codes with A's seed gave other audio";
  EXPECT_EQ(d.planes.at(0).size(), static_cast<size_t>(kFrames * kSamplesPerFrame));
}

TEST_F(GenSong, NoAudioWritesOnlyTheCodes) {
  ASSERT_TRUE(succeeded("g"));
  EXPECT_EQ(ScratchDir::entries_of(dir_->file("g")), std::vector<std::string>{"g.safetensors"});
  const CodesTensor g = read_safetensors_tensor(song("g", "g.safetensors"), "frames");
  EXPECT_EQ(g.dtype, "I64");
  ASSERT_EQ(g.shape, (std::vector<int64_t>{kFrames, 8}));
  ASSERT_EQ(g.values.size(), static_cast<size_t>(kFrames * 8));
  // Same seed and text as A: the same codes.
  ASSERT_TRUE(succeeded("a"));
  EXPECT_EQ(g.values, read_safetensors_tensor(song("a", "a.safetensors"), "frames").values);
}

TEST_F(GenSong, NoTemporaryFilesLeft) {
  for (const char* name : {"a", "b", "c", "d", "e", "f", "g"}) {
    EXPECT_EQ(part_files(dir_->file(name)), std::vector<std::string>{}) << name;
  }
  EXPECT_EQ(part_files(dir_->path()), std::vector<std::string>{});
}

}  // namespace
