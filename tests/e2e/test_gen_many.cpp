// heartmula-gen with several songs in one LM batch (Generator::generate_many): --num-songs N
// (in groups of --batch-size K too) and --batch FILE --batch-size K give the same songs, sample for sample, as one song at a
// time; every song gets its file, sidecar and --json line; Ctrl-C saves every song partial.
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
constexpr int64_t kFrames = 26;             // --duration 2 with --ignore-eos: 2000 / 80 + 1

class GenMany : public ::testing::Test {
 protected:
  void SetUp() override {
    ckpt_ = gen_checkpoint();
    if (ckpt_.empty()) GTEST_SKIP() << "no checkpoint folder (tokenizer.json missing)";
  }
  std::string ckpt_;
  ScratchDir dir_{"e2e-many"};
  ScratchDir logs_{"e2e-many-logs"};
};

void expect_same_audio(const std::string& a_path, const std::string& b_path) {
  const DecodedAudio a = read_audio(a_path), b = read_audio(b_path);
  ASSERT_GT(a.frames(), 0u) << a_path;
  EXPECT_EQ(a.sample_rate, b.sample_rate) << a_path << " vs " << b_path;
  EXPECT_EQ(a.planes, b.planes) << a_path << " and " << b_path << " differ";
}

TEST_F(GenMany, NumSongsInOneBatchEqualSingleRuns) {
  const std::vector<std::string> common = {"--model-path", ckpt_, "--ignore-eos",  "--duration", "2", "--topk", "50",
                                           "--threads",    "1",   "--codec-steps", "1"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), common.begin(), common.end());
    return extra;
  };
  std::vector<std::vector<std::string>> runs = {with({"--num-songs", "3", "--seed", "11", "-o", dir_.file("X.wav"),
                                                      "--codes-out", dir_.file("X.safetensors"), "--json"})};
  for (const char* seed : {"11", "12", "13"})
    runs.push_back(with({"--seed", seed, "-o", dir_.file(std::string("S") + seed + ".wav"), "--codes-out",
                         dir_.file(std::string("S") + seed + ".safetensors")}));
  // --batch-size 2 with --num-songs 3: a batch of songs 1-2, then one of song 3.
  runs.push_back(with({"--num-songs", "3", "--batch-size", "2", "--seed", "11", "-o", dir_.file("G.wav"), "--codes-out",
                       dir_.file("G.safetensors")}));
  const std::vector<GenResult> r = run_together(runs, {dir_.path()}, logs_.path());
  for (const auto& x : r) ASSERT_EQ(x.code, 0) << x.err;
  std::printf("num-songs 3: %.1f s; single songs: %.1f, %.1f, %.1f s\n", r[0].seconds, r[1].seconds, r[2].seconds,
              r[3].seconds);

  const std::vector<Json> lines = json_lines(r[0].out);
  ASSERT_EQ(lines.size(), 3u) << r[0].out;
  for (int i = 1; i <= 3; ++i) {
    const std::string n = std::to_string(i), seed = std::to_string(10 + i);
    SCOPED_TRACE("song " + n);
    expect_same_audio(dir_.file("X-" + n + ".wav"), dir_.file("S" + seed + ".wav"));
    const CodesTensor batch = read_safetensors_tensor(dir_.file("X-" + n + ".safetensors"), "frames");
    const CodesTensor alone = read_safetensors_tensor(dir_.file("S" + seed + ".safetensors"), "frames");
    EXPECT_EQ(batch.shape, (std::vector<int64_t>{kFrames, 8}));
    EXPECT_EQ(batch.values, alone.values);
    const Json meta = Json::parse(read_file(dir_.file("X-" + n + ".json")));
    EXPECT_EQ(meta["seed"], 10 + i);
    EXPECT_EQ(meta["partial"], false);
    EXPECT_EQ(meta["timings"]["frames"], kFrames);
    EXPECT_EQ(meta["timings"]["batch_songs"], 3);
    EXPECT_EQ(Json::parse(read_file(dir_.file("S" + seed + ".json")))["timings"]["batch_songs"], 1);
    EXPECT_EQ(lines[static_cast<size_t>(i - 1)]["seed"], 10 + i);
    EXPECT_EQ(lines[static_cast<size_t>(i - 1)]["output"], dir_.file("X-" + n + ".wav"));
    EXPECT_TRUE(contains(r[0].err, "Saved to " + dir_.file("X-" + n + ".wav"))) << r[0].err;
    expect_same_audio(dir_.file("G-" + n + ".wav"), dir_.file("S" + seed + ".wav"));
    EXPECT_EQ(read_safetensors_tensor(dir_.file("G-" + n + ".safetensors"), "frames").values, alone.values);
    EXPECT_EQ(Json::parse(read_file(dir_.file("G-" + n + ".json")))["timings"]["batch_songs"], i < 3 ? 2 : 1);
    EXPECT_TRUE(contains(r[4].err, "song " + n + " of 3 (seed " + seed)) << r[4].err;
  }
  EXPECT_TRUE(contains(r[0].err, "in a batch of 3 songs")) << r[0].err;
}

// Line 2 is bad; lines 1, 3 and 4 share their LM settings (different prompt lengths; line 4
// has its own, shorter length). --batch-size 2: {1, 3} in one batch, then {4}. --batch-size 3:
// {1, 3, 4} in one batch, line 4 ending (and saved) before the others.
TEST_F(GenMany, BatchFileBatchSizesGiveTheSameSongs) {
  const std::string batch = dir_.file("songs.jsonl");
  write_file(batch,
             "{\"lyrics\": \"one\", \"tags\": \"pop\", \"seed\": 1, \"save_path\": \"a.wav\"}\n"
             "{\"lyrics\": \"two\", \"seed\": 2, \"save_path\": \"b.wav\", \"colour\": \"blue\"}\n"
             "{\"lyrics\": \"[Verse]\\nthree little words\\nand many more to come\", \"tags\": \"rock,fast\", "
             "\"seed\": 3, \"save_path\": \"c.wav\"}\n"
             "{\"lyrics\": \"four\", \"tags\": \"jazz\", \"seed\": 4, \"save_path\": \"d.wav\", \"duration\": 1.5}\n");
  const std::vector<std::string> sizes = {"1", "2", "3"};
  std::vector<std::vector<std::string>> runs;
  std::vector<std::string> cwds;  // each run in its own folder (the save paths are relative)
  for (const auto& k : sizes) {
    std::filesystem::create_directory(dir_.file("k" + k));
    cwds.push_back(dir_.file("k" + k));
    runs.push_back({"--model-path", ckpt_, "--batch", batch, "--batch-size", k, "--duration", "1", "--ignore-eos",
                    "--codec-steps", "1", "--threads", "1"});
  }
  const std::vector<GenResult> r = run_together(runs, cwds, logs_.path());
  for (size_t i = 0; i < r.size(); ++i) {
    SCOPED_TRACE("--batch-size " + sizes[i]);
    EXPECT_EQ(r[i].code, 1) << r[i].err;
    EXPECT_TRUE(contains(r[i].err, batch + ":2")) << r[i].err;
    EXPECT_TRUE(contains(r[i].err, "colour")) << r[i].err;
    EXPECT_TRUE(contains(r[i].err, "3 songs done, 1 failed")) << r[i].err;
    const std::string d = dir_.file("k" + sizes[i]);
    EXPECT_EQ(ScratchDir::entries_of(d),
              (std::vector<std::string>{"a.json", "a.wav", "c.json", "c.wav", "d.json", "d.wav"}));
    const int64_t shared = std::stoll(sizes[i]);
    EXPECT_EQ(Json::parse(read_file(d + "/a.json"))["timings"]["batch_songs"], shared);
    EXPECT_EQ(Json::parse(read_file(d + "/c.json"))["timings"]["batch_songs"], shared);
    const Json m4 = Json::parse(read_file(d + "/d.json"));
    EXPECT_EQ(m4["timings"]["batch_songs"], sizes[i] == "3" ? 3 : 1);
    EXPECT_EQ(m4["timings"]["frames"], 19);  // 1500 / 80 + 1
    EXPECT_EQ(m4["seed"], 4);
    if (i == 0) continue;
    for (const char* song : {"a.wav", "c.wav", "d.wav"}) expect_same_audio(dir_.file("k1/") + song, d + "/" + song);
  }
  std::printf("--batch-size 1, 2, 3: %.1f, %.1f, %.1f s\n", r[0].seconds, r[1].seconds, r[2].seconds);
}

// Songs of different lengths in one batch: each is saved as soon as it ends while the others
// go on (the codec worker), so the "saved" lines and the files come shortest first; every song
// equals the one made alone.
TEST_F(GenMany, SongsOfOneBatchAreSavedInTheOrderTheyEnd) {
  const std::string batch = dir_.file("lengths.jsonl");
  write_file(batch,
             "{\"lyrics\": \"long\", \"seed\": 1, \"save_path\": \"a.wav\", \"duration\": 3}\n"
             "{\"lyrics\": \"short\", \"seed\": 2, \"save_path\": \"b.wav\", \"duration\": 1}\n"
             "{\"lyrics\": \"middle\", \"seed\": 3, \"save_path\": \"c.wav\", \"duration\": 2}\n");
  std::vector<std::vector<std::string>> runs;
  std::vector<std::string> cwds;
  for (const char* k : {"1", "3"}) {
    std::filesystem::create_directory(dir_.file(std::string("n") + k));
    cwds.push_back(dir_.file(std::string("n") + k));
    runs.push_back({"--model-path", ckpt_, "--batch", batch, "--batch-size", k, "--ignore-eos", "--codec-steps", "1",
                    "--threads", "1", "--tags", "piano"});
  }
  const std::vector<GenResult> r = run_together(runs, cwds, logs_.path());
  for (const auto& x : r) ASSERT_EQ(x.code, 0) << x.err;
  const std::string& err = r[1].err;
  const size_t second = err.find("song 2 of 3"), third = err.find("song 3 of 3"), first = err.find("song 1 of 3");
  ASSERT_NE(second, std::string::npos) << err;
  ASSERT_NE(third, std::string::npos) << err;
  ASSERT_NE(first, std::string::npos) << err;
  EXPECT_LT(second, third) << err;
  EXPECT_LT(third, first) << err;
  const std::string d = dir_.file("n3");
  namespace fs = std::filesystem;
  EXPECT_LE(fs::last_write_time(d + "/b.wav"), fs::last_write_time(d + "/c.wav"));
  EXPECT_LE(fs::last_write_time(d + "/c.wav"), fs::last_write_time(d + "/a.wav"));
  const std::vector<std::pair<const char*, int64_t>> songs = {{"a", 38}, {"b", 13}, {"c", 26}};
  for (const auto& [name, frames] : songs) {
    SCOPED_TRACE(name);
    const Json meta = Json::parse(read_file(d + "/" + name + ".json"));
    EXPECT_EQ(meta["timings"]["batch_songs"], 3);
    EXPECT_EQ(meta["timings"]["frames"], frames);
    EXPECT_EQ(meta["partial"], false);
    expect_same_audio(dir_.file("n1/") + name + ".wav", d + "/" + name + ".wav");
    EXPECT_EQ(static_cast<int64_t>(read_audio(d + "/" + name + ".wav").frames()), frames * kSamplesPerFrame);
  }
}

TEST_F(GenMany, SigintSavesEverySongOfTheBatchPartial) {
  GenProcess p({"--model-path", ckpt_, "--lyrics", "la la la", "--tags", "piano", "--duration", "30", "--ignore-eos",
                "--codec-steps", "1", "--seed", "5", "--num-songs", "2", "-o", dir_.file("p.wav")},
               dir_.path(), logs_.path());
  ASSERT_TRUE(p.wait_for_stderr("frames ", 120)) << "no progress line:\n" << p.current_stderr();
  p.send_signal(SIGINT);
  const GenResult r = p.wait();
  ASSERT_EQ(r.code, 130) << "signal " << r.signal << "\n" << r.err;
  int64_t frames = -1;
  for (const char* n : {"1", "2"}) {
    SCOPED_TRACE(std::string("song ") + n);
    const std::string wav = dir_.file(std::string("p-") + n + ".wav");
    EXPECT_TRUE(contains(r.err, "Partial song saved to " + wav)) << r.err;
    const Json meta = Json::parse(read_file(dir_.file(std::string("p-") + n + ".json")));
    EXPECT_EQ(meta["partial"], true);
    EXPECT_EQ(meta["timings"]["frames_planned"], 376);
    const int64_t f = meta["timings"]["frames"].get<int64_t>();
    EXPECT_GE(f, 1);
    EXPECT_LT(f, 376);
    if (frames >= 0) EXPECT_EQ(f, frames) << "the songs of one batch stop at the same frame";
    frames = f;
    EXPECT_EQ(static_cast<int64_t>(read_audio(wav).frames()), f * kSamplesPerFrame);
  }
}

TEST_F(GenMany, BatchSizeForOneSongIsAUsageError) {
  const GenResult r =
      run_gen({"--model-path", ckpt_, "--batch-size", "4", "-o", dir_.file("x.wav")}, dir_.path(), logs_.path());
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "--batch-size")) << r.err;
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{});
}

}  // namespace
