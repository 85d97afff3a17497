// heartmula-gen --batch FILE with --shard K/N and --skip-existing (docs/usage.md "Sharding and
// resuming"): the song's identity is its line; a batch line without save_path is saved as
// <folder>/<batch stem>-<line>.mp3 in every run and shard.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <algorithm>

#include "gen_test_util.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace heartmula::test;

// Audio files (not sidecars, whose timings differ from run to run) of a folder -> their bytes.
std::map<std::string, std::string> audio_files(const std::string& dir) { return file_bytes(dir, {".mp3", ".wav"}); }

std::vector<std::string> sidecars(const std::string& dir) { return files_with_extension(dir, {".json"}); }

class GenShard : public ::testing::Test {
 protected:
  void SetUp() override {
    ckpt_ = gen_checkpoint();
    if (ckpt_.empty()) GTEST_SKIP() << "no checkpoint folder (tokenizer.json missing)";
    // Five songs, a blank line between (not a song line: lines 1, 2, 4, 5, 6 are songs 0..4).
    // Line 5 names its file (relative: in the working folder, each run's output folder here);
    // the others get songs-<line>.mp3.
    batch_ = dir_.file("songs.jsonl");
    write_file(batch_,
               "{\"lyrics\": \"one\", \"seed\": 1}\n"
               "{\"lyrics\": \"two\", \"seed\": 2, \"duration\": 0.2}\n"
               "\n"
               "{\"lyrics\": \"three\", \"seed\": 3}\n"
               "{\"lyrics\": \"four\", \"seed\": 4, \"save_path\": \"four.wav\"}\n"
               "{\"lyrics\": \"five\", \"seed\": 5}\n");
  }
  std::vector<std::string> args(const std::string& out_dir, const std::vector<std::string>& more) {
    std::vector<std::string> a = {"--model-path", ckpt_,           "--batch", batch_, "--duration", "0.4",
                                  "--ignore-eos", "--codec-steps", "1",       "-o",   out_dir + "/"};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  std::string out(const std::string& name) {
    const std::string d = dir_.file(name);
    fs::create_directory(d);
    return d;
  }
  std::string ckpt_, batch_;
  ScratchDir dir_{"e2e-shard"};
  ScratchDir logs_{"e2e-shard-logs"};
};

const std::vector<std::string> kAllFiles = {"four.wav", "songs-1.mp3", "songs-2.mp3", "songs-4.mp3", "songs-6.mp3"};

TEST_F(GenShard, ShardsTogetherGiveTheUnshardedRunAndSkipExistingCompletesAPartialRun) {
  const std::string whole = out("whole"), shards = out("shards"), resumed = out("resumed");
  // The unsharded run and the two shards (into one folder) side by side.
  GenProcess p_whole(args(whole, {}), whole, logs_.path());
  GenProcess p0(args(shards, {"--shard", "0/2", "--json"}), shards, logs_.path());
  const GenResult r_whole = p_whole.wait(), r0 = p0.wait();
  const GenResult r1 = run_gen(args(shards, {"--shard", "1/2"}), shards, logs_.path());
  ASSERT_EQ(r_whole.code, 0) << r_whole.err;
  ASSERT_EQ(r0.code, 0) << r0.err;
  ASSERT_EQ(r1.code, 0) << r1.err;
  // Song lines 0, 2, 4 (file lines 1, 4, 6) in shard 0; 1, 3 (lines 2, 5) in shard 1.
  EXPECT_TRUE(contains(r0.err, "batch: 3 songs done, 0 failed")) << r0.err;
  EXPECT_TRUE(contains(r1.err, "batch: 2 songs done, 0 failed")) << r1.err;
  EXPECT_TRUE(contains(r1.err, batch_ + ":2]")) << r1.err;
  EXPECT_FALSE(contains(r1.err, batch_ + ":1]")) << r1.err;
  const auto expected = audio_files(whole);
  std::vector<std::string> names;
  for (const auto& [name, bytes] : expected) names.push_back(name);
  EXPECT_EQ(names, kAllFiles);
  expect_same_files(audio_files(shards), expected, "the shards' files vs the unsharded run's");
  EXPECT_EQ(sidecars(shards), sidecars(whole));

  // A partial run (shard 0's songs), then --skip-existing for all: the rest is made, the
  // existing files are not touched.
  ASSERT_EQ(run_gen(args(resumed, {"--shard", "0/2"}), resumed, logs_.path()).code, 0);
  std::map<std::string, fs::file_time_type> mtimes;
  const auto before = audio_files(resumed);
  for (const auto& [name, bytes] : before) mtimes[name] = fs::last_write_time(resumed + "/" + name);
  ASSERT_EQ(before.size(), 3u);
  const GenResult r = run_gen(args(resumed, {"--skip-existing", "--json"}), resumed, logs_.path());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "batch: 2 songs done, 0 failed, 0 interrupted, 3 skipped")) << r.err;
  EXPECT_TRUE(contains(r.err, "skipped: " + resumed + "/songs-1.mp3 exists")) << r.err;
  expect_same_files(audio_files(resumed), expected, "after --skip-existing");
  for (const auto& [name, t] : mtimes) EXPECT_EQ(fs::last_write_time(resumed + "/" + name), t) << name;
  // --json: a line per song, the skipped ones marked.
  int skipped = 0, made = 0;
  for (const Json& j : json_lines(r.out)) {
    if (j.value("skipped", false))
      ++skipped;
    else
      ++made;
  }
  EXPECT_EQ(skipped, 3);
  EXPECT_EQ(made, 2);

  // A song cut short (its sidecar says partial) is made again.
  Json meta = Json::parse(read_file(resumed + "/songs-2.json"));
  meta["partial"] = true;
  write_file(resumed + "/songs-2.json", meta.dump());
  write_file(resumed + "/songs-2.mp3", "partial");
  const GenResult again = run_gen(args(resumed, {"--skip-existing"}), resumed, logs_.path());
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(contains(again.err, "batch: 1 songs done, 0 failed, 0 interrupted, 4 skipped")) << again.err;
  expect_same_files(audio_files(resumed), expected, "after remaking a partial song");
}

TEST_F(GenShard, NumSongsShardsGiveTheSameFiles) {
  const std::string whole = out("n-whole"), shards = out("n-shards");
  auto n_args = [&](const std::string& d, std::vector<std::string> more) {
    std::vector<std::string> a = {
        "--model-path", ckpt_,          "--num-songs",   "3", "--seed", "7",         "--duration",
        "0.2",          "--ignore-eos", "--codec-steps", "1", "-o",     d + "/x.wav"};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  GenProcess a(n_args(whole, {}), dir_.path(), logs_.path());
  GenProcess b(n_args(shards, {"--shard", "1/2"}), dir_.path(), logs_.path());
  ASSERT_EQ(a.wait().code, 0);
  ASSERT_EQ(b.wait().code, 0);
  const GenResult r = run_gen(n_args(shards, {"--skip-existing"}), dir_.path(), logs_.path());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "skipped: " + shards + "/x-2.wav exists")) << r.err;
  expect_same_files(audio_files(shards), audio_files(whole), "--num-songs shards vs the whole run");
  EXPECT_EQ(audio_files(whole).size(), 3u);
}

TEST_F(GenShard, BadShardValuesAreUsageErrors) {
  const std::string d = out("bad");
  // Each process only starts, checks and exits: four at a time.
  const std::vector<std::string> values = {"2/2", "0/0", "-1/2", "a/b", "1", "1/2/3", "", " 0/2", "0/ 2", "3/2"};
  std::vector<std::vector<std::string>> runs;
  for (const auto& v : values) runs.push_back(args(d, {"--shard", v}));
  const std::vector<GenResult> results = run_together(runs, {dir_.path()}, logs_.path(), 4);
  for (size_t i = 0; i < values.size(); ++i) {
    SCOPED_TRACE("--shard '" + values[i] + "'");
    const GenResult& r = results[i];
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "--shard")) << r.err;
    EXPECT_TRUE(contains(r.err, "'" + values[i] + "'")) << r.err;
  }
  const GenResult no_seed = run_gen({"--model-path", ckpt_, "--num-songs", "2", "--shard", "0/2", "-o", d + "/x.wav"},
                                    dir_.path(), logs_.path());
  EXPECT_EQ(no_seed.code, 2) << no_seed.err;
  EXPECT_TRUE(contains(no_seed.err, "--seed")) << no_seed.err;
  const GenResult one =
      run_gen({"--model-path", ckpt_, "--shard", "0/2", "-o", d + "/x.wav"}, dir_.path(), logs_.path());
  EXPECT_EQ(one.code, 2) << one.err;
  EXPECT_TRUE(contains(one.err, "--shard")) << one.err;
  const GenResult folder =
      run_gen({"--model-path", ckpt_, "--skip-existing", "-o", d + "/"}, dir_.path(), logs_.path());
  EXPECT_EQ(folder.code, 2) << folder.err;
  EXPECT_TRUE(contains(folder.err, "--skip-existing")) << folder.err;
  EXPECT_EQ(ScratchDir::entries_of(d), std::vector<std::string>{});
}

}  // namespace
