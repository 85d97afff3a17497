// heartmula-gen end to end: Ctrl-C (partial song, exit 130), batch files with bad lines, every
// validation error (message, exit code, no output), and the informational flags.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <regex>

#include "../unit/test_audio_util.h"
#include "gen_test_util.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace heartmula::test;

constexpr int64_t kSamplesPerFrame = 3840;  // 80 ms at 48 kHz

class GenCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ckpt_ = gen_checkpoint();
    if (ckpt_.empty()) GTEST_SKIP() << "no checkpoint folder (tokenizer.json missing)";
  }
  std::string ckpt_;
  ScratchDir dir_{"e2e-cli"};
  ScratchDir logs_{"e2e-cli-logs"};
};

// ---- Ctrl-C ----

using GenInterrupt = GenCli;

// A run long enough that the frame loop is still going when SIGINT comes (30 s = 376 frames;
// short lyrics and one codec step keep the rest quick).
std::vector<std::string> long_run(const std::string& ckpt, const std::string& out) {
  return {"--model-path",  ckpt, "--lyrics", "la la la", "--tags", "piano", "--duration", "30", "--ignore-eos",
          "--codec-steps", "1",  "--seed",   "5",        "-o",     out};
}

TEST_F(GenInterrupt, SigintSavesAPlayablePartialSongAndExits130) {
  const std::string out = dir_.file("partial.wav");
  GenProcess p(long_run(ckpt_, out), dir_.path(), logs_.path());
  ASSERT_TRUE(p.wait_for_stderr("frames ", 120)) << "no progress line:\n" << p.current_stderr();
  p.send_signal(SIGINT);
  const GenResult r = p.wait();
  ASSERT_EQ(r.code, 130) << "signal " << r.signal << "\n" << r.err;
  EXPECT_TRUE(contains(r.err, "interrupted")) << r.err;
  EXPECT_TRUE(contains(r.err, "Partial song saved to " + out)) << r.err;

  const Json meta = Json::parse(read_file(dir_.file("partial.json")));
  EXPECT_EQ(meta["partial"], true);
  EXPECT_EQ(meta["seed"], 5);
  const int64_t frames = meta["timings"]["frames"].get<int64_t>();
  EXPECT_EQ(meta["timings"]["frames_planned"], 376);
  EXPECT_GE(frames, 1);
  EXPECT_LT(frames, 376);

  const DecodedAudio a = read_audio(out);
  EXPECT_EQ(a.channels, 2);
  EXPECT_EQ(a.sample_rate, 48000);
  EXPECT_EQ(static_cast<int64_t>(a.frames()), frames * kSamplesPerFrame);
  EXPECT_EQ(dir_.entries(), (std::vector<std::string>{"partial.json", "partial.wav"}));
}

TEST_F(GenInterrupt, SecondSigintAbortsWithoutSaving) {
  const std::string out = dir_.file("aborted.wav");
  GenProcess p(long_run(ckpt_, out), dir_.path(), logs_.path());
  ASSERT_TRUE(p.wait_for_stderr("frames ", 120)) << "no progress line:\n" << p.current_stderr();
  p.send_signal(SIGINT);
  ASSERT_TRUE(p.wait_for_stderr("interrupted;", 30)) << p.current_stderr();
  p.send_signal(SIGINT);
  const GenResult r = p.wait();
  EXPECT_EQ(r.code, 130) << "signal " << r.signal << "\n" << r.err;
  EXPECT_TRUE(contains(r.err, "aborting")) << r.err;
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{}) << "an aborted run left files";
}

// ---- batch ----

using GenBatch = GenCli;

TEST_F(GenBatch, OutOfRangeOrMistypedValuesAreErrorsNamingTheKey) {
  const std::string batch = dir_.file("bad.jsonl");
  write_file(batch,
             "{\"lyrics\": \"a\", \"topk\": 1e20, \"save_path\": \"a.wav\"}\n"
             "{\"lyrics\": \"b\", \"duration\": 1e300, \"save_path\": \"b.wav\"}\n"
             "{\"lyrics\": \"c\", \"seed\": -5, \"save_path\": \"c.wav\"}\n"
             "{\"lyrics\": 7, \"save_path\": \"d.wav\"}\n"
             "{\"lyrics\": \"e\", \"ignore_eos\": \"yes\", \"save_path\": \"e.wav\"}\n");
  const GenResult r = run_gen({"--model-path", ckpt_, "--batch", batch, "--duration", "1"}, dir_.path(), logs_.path());
  EXPECT_EQ(r.code, 1) << r.err;
  for (const char* s :
       {":1: 'topk' must be an integer", ":2: 'duration' must be a number", ":3: 'seed' must be an integer",
        ":4: 'lyrics' must be a string", ":5: 'ignore_eos' must be true or false", "0 songs done, 5 failed"})
    EXPECT_TRUE(contains(r.err, s)) << "no '" << s << "' in:\n" << r.err;
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"bad.jsonl"});
}

// Each failed line names its place once, whichever step refused it: the line's values
// (parse_batch_line), its lyrics file (the reader), its output (SongRequest::validate()).
// It used to read "error: b.jsonl:1: b.jsonl:1: 'temperature' must be ...".
TEST_F(GenBatch, EachFailedLineNamesItsPlaceOnce) {
  const std::string batch = dir_.file("b.jsonl");
  write_file(batch,
             "{\"lyrics\": \"a\", \"temperature\": 0.001, \"save_path\": \"a.wav\"}\n"
             "{\"lyrics\": \"./missing-lyrics.txt\", \"save_path\": \"b.wav\"}\n"
             "{\"lyrics\": \"c\", \"codes_out\": \"c.bin\", \"save_path\": \"c.wav\"}\n");
  const GenResult r = run_gen({"--model-path", ckpt_, "--batch", batch, "--duration", "1"}, dir_.path(), logs_.path());
  EXPECT_EQ(r.code, 1) << r.err;
  for (const std::string& line :
       {"error: " + batch + ":1: 'temperature' must be a number in [0.01, 100]. Given: 0.001\n",
        "error: " + batch + ":2: lyrics ./missing-lyrics.txt: no such file\n",
        "error: " + batch + ":3: --codes-out c.bin: must end in .safetensors\n"})
    EXPECT_TRUE(contains(r.err, line)) << "no '" << line << "' in:\n" << r.err;
  // Each place twice in all: its error line and the summary's "failed:" line.
  for (const std::string place : {batch + ":1:", batch + ":2:", batch + ":3:"}) {
    size_t n = 0;
    for (size_t at = r.err.find(place); at != std::string::npos; at = r.err.find(place, at + 1)) ++n;
    EXPECT_EQ(n, 2u) << place << " in:\n" << r.err;
  }
  EXPECT_FALSE(contains(r.err, batch + ":1: " + batch)) << r.err;
  EXPECT_TRUE(contains(r.err, "0 songs done, 3 failed")) << r.err;
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"b.jsonl"});
}

TEST_F(GenBatch, BadLinesAreReportedTheOthersSaved) {
  const std::string batch = dir_.file("songs.jsonl");
  write_file(
      batch,
      "{\"lyrics\": \"one\", \"tags\": \"pop\", \"seed\": 1, \"save_path\": \"" + dir_.file("s1.wav") +
          "\"}\n"
          "{\"lyrics\": \"two\", \"seed\": 2, \"save_path\": \"s2.wav\", \"colour\": \"blue\"}\n"
          "\n"
          "{\"lyrics\": \"./missing-lyrics.txt\", \"seed\": 3, \"save_path\": \"s3.wav\"}\n"
          "{\"lyrics\": \"four\", \"tags\": \"jazz\", \"seed\": 4, \"save_path\": \"s4.flac\", \"duration\": 1.5}\n");
  const GenResult r =
      run_gen({"--model-path", ckpt_, "--batch", batch, "--duration", "1", "--ignore-eos", "--codec-steps", "1"},
              dir_.path(), logs_.path());
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, batch + ":2")) << r.err;
  EXPECT_TRUE(contains(r.err, "colour")) << r.err;
  EXPECT_TRUE(contains(r.err, batch + ":4")) << r.err;
  EXPECT_TRUE(contains(r.err, "missing-lyrics.txt")) << r.err;
  EXPECT_TRUE(contains(r.err, "2 songs done, 2 failed")) << r.err;

  EXPECT_EQ(dir_.entries(), (std::vector<std::string>{"s1.json", "s1.wav", "s4.flac", "s4.json", "songs.jsonl"}));
  const Json m1 = Json::parse(read_file(dir_.file("s1.json")));
  EXPECT_EQ(m1["seed"], 1);
  EXPECT_EQ(m1["lyrics"], "one");
  EXPECT_EQ(m1["tags"], "pop");
  EXPECT_EQ(m1["timings"]["frames"], 13);  // 1000 / 80 + 1
  const Json m4 = Json::parse(read_file(dir_.file("s4.json")));
  EXPECT_EQ(m4["seed"], 4);
  EXPECT_EQ(m4["tags"], "jazz");
  EXPECT_EQ(m4["settings"]["max_audio_length_ms"], 1500);
  EXPECT_EQ(m4["timings"]["frames"], 19);  // 1500 / 80 + 1
  const DecodedAudio a1 = read_audio(dir_.file("s1.wav"));
  EXPECT_EQ(a1.channels, 2);
  EXPECT_EQ(static_cast<int64_t>(a1.frames()), 13 * kSamplesPerFrame);
  const DecodedAudio a4 = read_audio(dir_.file("s4.flac"));
  EXPECT_EQ(a4.channels, 2);
  EXPECT_EQ(static_cast<int64_t>(a4.frames()), 19 * kSamplesPerFrame);
}

// ---- validation errors ----

struct ErrorCase {
  std::string name;
  std::vector<std::string> args;  // "{ckpt}", "{dir}" are replaced
  int code;
  std::vector<std::string> messages;  // each must appear in stderr
};

std::string expand(std::string s, const std::string& ckpt, const std::string& dir) {
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"{ckpt}", ckpt}, {"{dir}", dir}}) {
    size_t at;
    while ((at = s.find(key)) != std::string::npos) s.replace(at, key.size(), value);
  }
  return s;
}

using GenErrors = GenCli;

TEST_F(GenErrors, EachBadInputNamesTheFlagAndSavesNothing) {
  write_file(dir_.file("exists.wav"), "keep me");
  write_file(dir_.file("latin1.txt"), "caf\xE9 au lait\n");
  fs::create_directory(dir_.file("empty-ckpt"));
  const std::string no_lm = gen_checkpoint_without_lm_weights();
  // The checkpoint with a cut-off tokenizer.json: parsed on a thread beside the weights' load,
  // its error must still end the run with the file named and nothing saved.
  fs::create_directory(dir_.file("bad-tok"));
  for (const char* part : {"HeartMuLa-oss-3B", "HeartCodec-oss", "gen_config.json"})
    fs::create_symlink(fs::canonical(fs::path(ckpt_) / part), fs::path(dir_.file("bad-tok")) / part);
  write_file(dir_.file("bad-tok/tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
  // Added to every case unless it gives the flag itself.
  const std::vector<std::pair<std::string, std::string>> base = {
      {"--model-path", "{ckpt}"}, {"--duration", "1"}, {"--seed", "1"}};
  const std::vector<ErrorCase> cases = {
      {"unknown flag", {"--bogus-flag"}, 2, {"--bogus-flag"}},
      {"topk 0", {"--topk", "0", "-o", "{dir}/x.wav"}, 2, {"--topk", "0"}},
      {"negative temperature", {"--temperature", "-1", "-o", "{dir}/x.wav"}, 2, {"--temperature", "-1"}},
      {"unknown dtype", {"--mula-dtype", "fp8", "-o", "{dir}/x.wav"}, 2, {"--mula-dtype", "fp8"}},
      {"unknown extension", {"-o", "{dir}/song.xyz"}, 2, {"--save-path", "song.xyz", ".xyz"}},
      {"missing output folder",
       {"-o", "{dir}/no-such-folder/x.wav"},
       2,
       {"--save-path", "no-such-folder", "does not exist"}},
      {"existing output", {"-o", "{dir}/exists.wav"}, 2, {"exists.wav", "exists", "--overwrite"}},
      {"missing checkpoint",
       {"--model-path", "{dir}/empty-ckpt", "-o", "{dir}/x.wav"},
       1,
       {"empty-ckpt", "HeartMuLa-oss-3B", "tokenizer.json", "hf download"}},
      {"corrupt tokenizer",
       {"--model-path", "{dir}/bad-tok", "-o", "{dir}/x.wav"},
       1,
       {"bad-tok/tokenizer.json", "invalid JSON"}},
      {"lyrics not UTF-8",
       {"--lyrics", "{dir}/latin1.txt", "-o", "{dir}/x.wav"},
       1,
       {"--lyrics", "latin1.txt", "UTF-8"}},
      {"missing lyrics file",
       {"--lyrics", "./nope.txt", "-o", "{dir}/x.wav"},
       2,
       {"--lyrics", "nope.txt", "no such file"}},
      {"missing codes-in",
       {"--codes-in", "{dir}/none.safetensors", "-o", "{dir}/x.wav"},
       2,
       {"--codes-in", "none.safetensors"}},
      {"no-audio without codes-out", {"--no-audio"}, 2, {"--no-audio", "--codes-out"}},
      {"codes-out extension",
       {"--codes-out", "{dir}/c.bin", "-o", "{dir}/x.wav"},
       2,
       {"--codes-out", "c.bin", ".safetensors"}},
      // Checked before loading: this folder has no LM weights, so loading would fail otherwise.
      {"too long for the context",
       {"--model-path", no_lm, "--duration", "200", "-o", "{dir}/x.wav"},
       2,
       {"does not fit", "context", "--max-audio-length-ms"}},
  };
  const auto before = dir_.entries();

  // Four processes at a time: each one only starts, checks and exits.
  for (size_t first = 0; first < cases.size(); first += 4) {
    std::vector<std::unique_ptr<GenProcess>> procs;
    const size_t last = std::min(cases.size(), first + 4);
    for (size_t i = first; i < last; ++i) {
      std::vector<std::string> args;
      for (const auto& a : cases[i].args) args.push_back(expand(a, ckpt_, dir_.path()));
      for (const auto& [flag, value] : base)
        if (std::find(args.begin(), args.end(), flag) == args.end()) {
          args.push_back(flag);
          args.push_back(expand(value, ckpt_, dir_.path()));
        }
      procs.push_back(std::make_unique<GenProcess>(args, dir_.path(), logs_.path()));
    }
    for (size_t i = first; i < last; ++i) {
      const ErrorCase& c = cases[i];
      SCOPED_TRACE(c.name);
      const GenResult r = procs[i - first]->wait();
      EXPECT_EQ(r.code, c.code) << r.err;
      EXPECT_TRUE(contains(r.err, "error: ")) << r.err;
      for (const auto& m : c.messages) EXPECT_TRUE(contains(r.err, m)) << "no '" << m << "' in:\n" << r.err;
      EXPECT_EQ(r.out, "");
    }
  }
  EXPECT_EQ(dir_.entries(), before) << "a failed run left files";
  EXPECT_EQ(read_file(dir_.file("exists.wav")), "keep me");
}

TEST_F(GenErrors, CudaWithoutCudaSaysSo) {
  const GenResult devices = run_gen({"--list-devices"}, dir_.path(), logs_.path());
  ASSERT_EQ(devices.code, 0) << devices.err;
  if (contains(devices.out, "cuda")) GTEST_SKIP() << "this build has CUDA";
  const GenResult r = run_gen({"--model-path", ckpt_, "--device", "cuda", "--duration", "1", "-o", dir_.file("x.wav")},
                              dir_.path(), logs_.path());
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "--device cuda")) << r.err;
  EXPECT_TRUE(contains(r.err, "no cuda support")) << r.err;
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{});
}

// ---- informational flags ----

using GenInfo = GenCli;

TEST_F(GenInfo, HelpVersionAndDevices) {
  GenProcess help({"--help"}, dir_.path(), logs_.path());
  GenProcess version({"--version"}, dir_.path(), logs_.path());
  GenProcess v({"-V"}, dir_.path(), logs_.path());
  GenProcess devices({"--list-devices"}, dir_.path(), logs_.path());

  const GenResult h = help.wait();
  EXPECT_EQ(h.code, 0) << h.err;
  for (const char* s : {"--model-path", "=./ckpt", "--topk", "=50", "=1.5", "=240000", "--codec-steps", "=10", "--seed",
                        "--batch", "--overwrite", "--json", "Sampling", "Codec", "Device", "Output", "default 3B"})
    EXPECT_TRUE(contains(h.out, s)) << "no '" << s << "' in --help:\n" << h.out;

  const std::regex version_line("^heartmula-gen [0-9]+\\.[0-9]+\\.[0-9]+");
  const GenResult ver = version.wait();
  EXPECT_EQ(ver.code, 0) << ver.err;
  EXPECT_TRUE(std::regex_search(ver.out, version_line)) << ver.out;
  EXPECT_FALSE(contains(ver.err, "checkpoint")) << "--version alone must not look for a model:\n" << ver.err;

  const GenResult vv = v.wait();
  EXPECT_EQ(vv.code, 0) << vv.err;
  EXPECT_TRUE(std::regex_search(vv.out, version_line)) << vv.out;

  const GenResult d = devices.wait();
  EXPECT_EQ(d.code, 0) << d.err;
  EXPECT_TRUE(std::regex_search(d.out, std::regex("(^|\\n)cpu "))) << d.out;
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{});
}

TEST_F(GenInfo, ValidateChecksEveryTensorWithoutGenerating) {
  const GenResult ok = run_gen({"--validate", "--model-path", ckpt_}, dir_.path(), logs_.path());
  EXPECT_EQ(ok.code, 0) << ok.err;
  for (const char* s :
       {"LibTorch", "device cpu", "bf16 matmul: yes", "language model", "46 tensors", "codec", "tokenizer", "complete"})
    EXPECT_TRUE(contains(ok.out, s)) << "no '" << s << "' in --validate:\n" << ok.out;

  const std::string broken = gen_checkpoint_without_lm_weights();
  const GenResult bad = run_gen({"--validate", "--model-path", broken}, dir_.path(), logs_.path());
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  EXPECT_TRUE(contains(bad.err, "HeartMuLa-oss-3B")) << bad.err;
  EXPECT_FALSE(contains(bad.out, "complete")) << bad.out;
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{});
}

}  // namespace
