// heartmula-gen's output files under hostile conditions: SIGKILL at any moment while it runs
// over an existing file (the file stays byte-identical or is replaced by a complete song, never
// a partial one), an output on a device that is full (/dev/full), and the sidecar <song>.json
// agreeing with the audio file decoded back.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "../unit/test_audio_util.h"
#include "gen_test_util.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace heartmula::test;

constexpr int64_t kSamplesPerFrame = 3840;  // 80 ms at 48 kHz
constexpr int kSampleRate = 48000;
constexpr int64_t kFrames20s = 251;  // --duration 20: 20000 / 80 frames + the first one

class OutputSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    ckpt_ = gen_checkpoint();
    if (ckpt_.empty()) GTEST_SKIP() << "no checkpoint folder (tokenizer.json missing)";
  }
  // A song long enough that encoding the MP3 takes a while (the window the kill aims at).
  std::vector<std::string> song_args(const std::string& out, const std::string& seed) const {
    return {"--model-path",  ckpt_, "--lyrics",  "la la la", "--tags", "piano", "--duration",  "20", "--ignore-eos",
            "--codec-steps", "1",   "--threads", "1",        "--seed", seed,    "--overwrite", "-o", out};
  }
  std::string ckpt_;
  ScratchDir dir_{"e2e-safety"};
  ScratchDir logs_{"e2e-safety-logs"};
};

// A complete song of `frames` frames at `path`: decodes, 2 channels at 48 kHz, the right length.
::testing::AssertionResult is_complete_song(const std::string& path, int64_t frames) {
  try {
    const DecodedAudio a = read_audio(path);
    const int64_t want = frames * kSamplesPerFrame;
    const int64_t got = static_cast<int64_t>(a.frames());
    if (a.channels != 2 || a.sample_rate != kSampleRate || std::llabs(got - want) > 2 * 1152 + 529)
      return ::testing::AssertionFailure() << path << ": " << a.channels << " ch, " << a.sample_rate << " Hz, " << got
                                           << " samples, expected " << want;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << path << " does not decode: " << e.what();
  }
  return ::testing::AssertionSuccess();
}

// SIGKILL while the MP3 is being written: the folder is polled every 0.2 ms and the process is
// killed the moment its temp file ".<name>.partXXXXXX" appears. The destination must still hold
// the old bytes (or, if the rename won the race, a complete new song); the temp file stays
// behind (kill -9 runs no cleanup) and a later run is not disturbed by it.
TEST_F(OutputSafety, KillNineWhileWritingLeavesTheOldFile) {
  const std::string out = dir_.file("song.mp3");
  const std::string old_bytes = "not an mp3: the previous contents, byte for byte\n";
  int killed_while_writing = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    write_file(out, old_bytes);
    GenProcess p(song_args(out, "3"), dir_.path(), logs_.path());
    bool saw_temp = false;
    poll_until(
        [&] {
          saw_temp = !part_files(dir_.path()).empty();
          return saw_temp || contains(p.current_stderr(), "Saved to");
        },
        240, 0.0002);
    p.send_signal(SIGKILL);
    const GenResult r = p.wait();
    if (r.signal != SIGKILL) continue;  // finished before the kill: try again
    const std::string now = read_file(out);
    if (now != old_bytes) {
      EXPECT_TRUE(is_complete_song(out, kFrames20s)) << "the destination is neither the old file nor a complete song";
      continue;
    }
    if (saw_temp) ++killed_while_writing;
  }
  std::printf("kill -9 with the temp file open: %d of 3 runs (old file kept each time)\n", killed_while_writing);
  EXPECT_GE(killed_while_writing, 1) << "never caught the writer with its temp file open";
  // What is left: the old (or a complete) song and temp files named ".song.mp3.part*".
  for (const std::string& n : dir_.entries())
    EXPECT_TRUE(n == "song.mp3" || n.rfind(".song.mp3.part", 0) == 0 || n == "song.json") << n;

  // A later run replaces the song; the stale temp files do not get in its way.
  const std::vector<std::string> stale = part_files(dir_.path());
  const GenResult r = run_gen(song_args(out, "3"), dir_.path(), logs_.path());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(is_complete_song(out, kFrames20s));
  EXPECT_EQ(part_files(dir_.path()), stale) << "a finished run must leave no temp file of its own";
}

// SIGKILL at evenly spread moments of a whole run (loading, frames, codec, writing): at every
// moment the destination is the old file or a complete song, and no other file appears but the
// sidecar and temp files.
TEST_F(OutputSafety, KillNineAtAnyMomentNeverLeavesAPartialFile) {
  const std::string out = dir_.file("take.mp3");
  const std::string old_bytes(100000, 'x');
  write_file(out, old_bytes);
  GenProcess timing(song_args(out, "4"), dir_.path(), logs_.path());
  const GenResult full = timing.wait();
  ASSERT_EQ(full.code, 0) << full.err;
  const double run_s = full.seconds;
  const std::string complete = read_file(out);
  ASSERT_TRUE(is_complete_song(out, kFrames20s));
  int old_kept = 0, replaced = 0;
  for (int i = 1; i <= 8; ++i) {
    write_file(out, old_bytes);
    GenProcess p(song_args(out, "4"), dir_.path(), logs_.path());
    std::this_thread::sleep_for(std::chrono::duration<double>(run_s * i / 9.0));
    p.send_signal(SIGKILL);
    const GenResult r = p.wait();
    const std::string now = read_file(out);
    SCOPED_TRACE("killed after " + std::to_string(run_s * i / 9.0) + " s of " + std::to_string(run_s));
    if (now == old_bytes) {
      ++old_kept;
    } else {
      EXPECT_EQ(now, complete) << "the destination is neither the old file nor the complete song";
      ++replaced;
    }
    (void)r;
  }
  std::printf("kill -9 at 8 moments of a %.1f s run: old file kept %d times, complete song %d times\n", run_s, old_kept,
              replaced);
  for (const std::string& n : dir_.entries())
    EXPECT_TRUE(n == "take.mp3" || n == "take.json" || n.rfind(".take.mp3.part", 0) == 0 ||
                n.rfind(".take.json.part", 0) == 0)
        << n;
}

// A destination that is not a regular file in a writable folder, such as /dev/full, is refused
// before anything is loaded (the writer would otherwise write a temp file beside it and rename
// it over the device). The message names the path; nothing is created in /dev.
TEST_F(OutputSafety, DevFullIsAClearErrorNamingThePath) {
  struct stat before {};
  ASSERT_EQ(::stat("/dev/full", &before), 0);
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"-o", "/dev/full"}, std::vector<std::string>{"-o", "/dev/full", "--overwrite"}}) {
    std::vector<std::string> args = {"--model-path", ckpt_, "--duration", "1", "--codec-steps", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    const GenResult r = run_gen(args, dir_.path(), logs_.path());
    EXPECT_NE(r.code, 0) << r.err;
    EXPECT_EQ(r.signal, 0);
    EXPECT_TRUE(contains(r.err, "error: ")) << r.err;
    EXPECT_TRUE(contains(r.err, "/dev/full")) << r.err;
  }
  struct stat after {};
  ASSERT_EQ(::stat("/dev/full", &after), 0);
  EXPECT_TRUE(S_ISCHR(after.st_mode)) << "/dev/full was replaced";
  EXPECT_EQ(after.st_rdev, before.st_rdev);
  for (const auto& e : fs::directory_iterator("/dev"))
    EXPECT_FALSE(contains(e.path().filename().string(), ".part")) << e.path();
}

// --codes-out to /dev/full: refused the same way (it must end in .safetensors).
TEST_F(OutputSafety, CodesOutOnDevFullIsAClearError) {
  const GenResult r = run_gen({"--model-path", ckpt_, "--duration", "1", "--no-audio", "--codes-out", "/dev/full"},
                              dir_.path(), logs_.path());
  EXPECT_NE(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "/dev/full")) << r.err;
}

// The sidecar of each format (one batch file: WAV, FLAC, MP3, and a WAV partly replacing an
// older, longer song) agrees with the file decoded back: path, seed, frames x 3840 samples at
// 48 kHz stereo (MP3: within the encoder's padding), audio_s = samples / 48000. A song of
// D ms has D / 80 + 1 frames.
TEST_F(OutputSafety, SidecarAgreesWithTheDecodedAudio) {
  write_file(dir_.file("d.wav"), std::string(5000, 'o'));
  write_file(dir_.file("d.json"), "{\"old\": true}");
  const std::string batch = dir_.file("songs.jsonl");
  write_file(batch,
             "{\"lyrics\": \"one\", \"seed\": 1, \"save_path\": \"a.wav\", \"duration\": 1.2}\n"
             "{\"lyrics\": \"two\", \"seed\": 2, \"save_path\": \"b.flac\", \"duration\": 0.8}\n"
             "{\"lyrics\": \"three\", \"seed\": 3, \"save_path\": \"c.mp3\", \"duration\": 2}\n"
             "{\"lyrics\": \"four\", \"seed\": 4, \"save_path\": \"d.wav\", \"duration\": 0.4, \"overwrite\": true}\n");
  const GenResult r = run_gen({"--model-path", ckpt_, "--batch", batch, "--ignore-eos", "--codec-steps", "1"},
                              dir_.path(), logs_.path());
  ASSERT_EQ(r.code, 0) << r.err;
  const struct {
    const char* stem;
    const char* ext;
    int seed;
    int64_t frames;
    int64_t tolerance;
  } songs[] = {
      {"a", ".wav", 1, 16, 0}, {"b", ".flac", 2, 11, 0}, {"c", ".mp3", 3, 26, 2 * 1152 + 529}, {"d", ".wav", 4, 6, 0}};
  for (const auto& s : songs) {
    SCOPED_TRACE(std::string(s.stem) + s.ext);
    const std::string audio = dir_.file(std::string(s.stem) + s.ext);
    const Json m = Json::parse(read_file(dir_.file(std::string(s.stem) + ".json")));
    EXPECT_TRUE(fs::equivalent(fs::path(dir_.path()) / m["output"].get<std::string>(), audio)) << m["output"];
    EXPECT_EQ(m["seed"], s.seed);
    EXPECT_EQ(m["partial"], false);
    const int64_t frames = m["timings"]["frames"].get<int64_t>();
    EXPECT_EQ(frames, s.frames);
    EXPECT_EQ(m["settings"]["max_audio_length_ms"], (s.frames - 1) * 80);
    const DecodedAudio a = read_audio(audio);
    EXPECT_EQ(a.channels, 2);
    EXPECT_EQ(a.sample_rate, kSampleRate);
    const int64_t decoded = static_cast<int64_t>(a.frames());
    EXPECT_LE(std::llabs(decoded - frames * kSamplesPerFrame), s.tolerance) << decoded << " samples decoded";
    // audio_s is what was handed to the encoder: frames x 80 ms exactly.
    EXPECT_NEAR(m["timings"]["audio_s"].get<double>(), static_cast<double>(frames * kSamplesPerFrame) / kSampleRate,
                1e-9);
    if (s.tolerance == 0)
      EXPECT_NEAR(m["timings"]["audio_s"].get<double>(), static_cast<double>(decoded) / kSampleRate, 1e-9);
  }
  EXPECT_EQ(part_files(dir_.path()), std::vector<std::string>{});
}

}  // namespace
