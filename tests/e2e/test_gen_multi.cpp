// heartmula-gen with several devices (runtime::DevicePool): --device cpu,cpu runs two workers,
// each with its own model copy, frame loop and codec worker. Same seed, same song, whichever
// worker made it: the files equal those of --device cpu byte for byte; every song is reported
// once, with its "device"; Ctrl-C saves what exists on both workers; bad lists are usage errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <signal.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "gen_test_util.h"

namespace {

using Json = nlohmann::json;
using namespace heartmula::test;

class GenMulti : public ::testing::Test {
 protected:
  void SetUp() override {
    ckpt_ = gen_checkpoint();
    if (ckpt_.empty()) GTEST_SKIP() << "no checkpoint folder (tokenizer.json missing)";
  }
  // Runs two heartmula-gen processes side by side (2 cores), each in its own folder.
  std::pair<GenResult, GenResult> run_pair(const std::vector<std::string>& a, const std::string& cwd_a,
                                           const std::vector<std::string>& b, const std::string& cwd_b) {
    const std::vector<GenResult> r = run_together({a, b}, {cwd_a, cwd_b}, logs_.path());
    return {r[0], r[1]};
  }
  // The audio, codes and sidecar files of both folders: the same names, the audio and codes
  // the same bytes.
  void expect_same_songs(const std::string& one, const std::string& two, size_t songs) {
    EXPECT_EQ(ScratchDir::entries_of(one), ScratchDir::entries_of(two));
    EXPECT_EQ(files_with_extension(one, {".wav"}).size(), songs);
    EXPECT_EQ(files_with_extension(one, {".json"}).size(), songs);
    const auto want = file_bytes(one, {".wav", ".safetensors"});
    for (const auto& [name, bytes] : want) EXPECT_FALSE(bytes.empty()) << name;
    expect_same_files(file_bytes(two, {".wav", ".safetensors"}), want, "--device cpu,cpu vs --device cpu");
  }
  std::string ckpt_;
  ScratchDir dir_{"e2e-multi"};
  ScratchDir logs_{"e2e-multi-logs"};
};

TEST_F(GenMulti, NumSongsOnTwoCpuWorkersEqualOneDevice) {
  namespace fs = std::filesystem;
  const std::string one = dir_.file("one"), two = dir_.file("two");
  fs::create_directory(one);
  fs::create_directory(two);
  auto args = [&](const std::string& device, const std::string& dir) {
    return std::vector<std::string>{"--model-path",
                                    ckpt_,
                                    "--device",
                                    device,
                                    "--ignore-eos",
                                    "--duration",
                                    "2",
                                    "--threads",
                                    "1",
                                    "--codec-steps",
                                    "1",
                                    "--seed",
                                    "21",
                                    "--num-songs",
                                    "4",
                                    "-o",
                                    dir + "/x.wav",
                                    "--codes-out",
                                    dir + "/x.safetensors",
                                    "--json"};
  };
  const auto [r1, r2] = run_pair(args("cpu", one), one, args("cpu,cpu", two), two);
  ASSERT_EQ(r1.code, 0) << r1.err;
  ASSERT_EQ(r2.code, 0) << r2.err;
  expect_same_songs(one, two, 4);

  // One device: no "device" key (its output as before). Two: each song once, with its worker.
  for (const Json& j : json_lines(r1.out)) EXPECT_FALSE(j.contains("device")) << j.dump();
  const std::vector<Json> lines = json_lines(r2.out);
  ASSERT_EQ(lines.size(), 4u) << r2.out;
  std::map<uint64_t, std::string> device_of;
  for (const Json& j : lines) {
    ASSERT_TRUE(j.contains("device")) << j.dump();
    const std::string d = j["device"];
    EXPECT_TRUE(d == "cpu#0" || d == "cpu#1") << d;
    EXPECT_EQ(j["settings"]["device"], "cpu");
    EXPECT_TRUE(device_of.emplace(j["seed"].get<uint64_t>(), d).second) << "seed reported twice: " << j.dump();
  }
  for (int i = 1; i <= 4; ++i) {
    const uint64_t seed = 20 + static_cast<uint64_t>(i);
    ASSERT_EQ(device_of.count(seed), 1u) << "seed " << seed << " not reported";
    const Json meta = Json::parse(read_file(two + "/x-" + std::to_string(i) + ".json"));
    EXPECT_EQ(meta["seed"], seed);
    EXPECT_EQ(meta["device"], device_of[seed]);
    EXPECT_EQ(meta["partial"], false);
    EXPECT_EQ(meta["timings"]["batch_songs"], 2) << "4 songs over 2 devices: groups of 2";
    const std::string wav = two + "/x-" + std::to_string(i) + ".wav";
    EXPECT_TRUE(contains(r2.err, "[" + device_of[seed] + "] song " + std::to_string(i) + " of 4")) << r2.err;
    EXPECT_TRUE(contains(r2.err, "Saved to " + wav)) << r2.err;
  }
  // Songs 1, 2 made together (one group), 3, 4 likewise.
  EXPECT_EQ(device_of[21], device_of[22]);
  EXPECT_EQ(device_of[23], device_of[24]);
}

// A batch file (one bad line) in groups of --batch-size 2 on two workers: the same files and
// bytes as on one device, the bad line failing alone, every good line reported once.
TEST_F(GenMulti, BatchFileOnTwoCpuWorkersEqualsOneDevice) {
  namespace fs = std::filesystem;
  const std::string batch = dir_.file("songs.jsonl");
  write_file(
      batch,
      "{\"lyrics\": \"one\", \"tags\": \"pop\", \"seed\": 1, \"save_path\": \"a.wav\"}\n"
      "{\"lyrics\": \"two\", \"seed\": 2, \"save_path\": \"b.wav\", \"colour\": \"blue\"}\n"
      "{\"lyrics\": \"[Verse]\\nthree little words\", \"tags\": \"rock\", \"seed\": 3, \"save_path\": \"c.wav\"}\n"
      "{\"lyrics\": \"four\", \"tags\": \"jazz\", \"seed\": 4, \"save_path\": \"d.wav\", \"duration\": 1.5}\n"
      "{\"lyrics\": \"five\", \"seed\": 5, \"save_path\": \"e.wav\"}\n");
  const std::string one = dir_.file("one"), two = dir_.file("two");
  fs::create_directory(one);
  fs::create_directory(two);
  auto args = [&](const std::string& device) {
    return std::vector<std::string>{"--model-path", ckpt_,           "--device", device,       "--batch",
                                    batch,          "--batch-size",  "2",        "--duration", "1",
                                    "--ignore-eos", "--codec-steps", "1",        "--threads",  "1",
                                    "--json"};
  };
  const auto [r1, r2] = run_pair(args("cpu"), one, args("cpu,cpu"), two);
  for (const GenResult* r : {&r1, &r2}) {
    EXPECT_EQ(r->code, 1) << r->err;
    EXPECT_TRUE(contains(r->err, batch + ":2")) << r->err;
    EXPECT_TRUE(contains(r->err, "4 songs done, 1 failed")) << r->err;
  }
  expect_same_songs(one, two, 4);
  const std::vector<Json> lines = json_lines(r2.out);
  ASSERT_EQ(lines.size(), 4u) << r2.out;
  std::set<std::string> outputs;
  for (const Json& j : lines) {
    EXPECT_TRUE(j["device"] == "cpu#0" || j["device"] == "cpu#1") << j.dump();
    const std::string output = j["output"];  // relative to the run's folder
    outputs.insert(output);
    const Json meta =
        Json::parse(read_file(two + "/" + std::filesystem::path(output).replace_extension(".json").string()));
    EXPECT_EQ(meta["device"], j["device"]);
  }
  EXPECT_EQ(outputs.size(), 4u);
}

// Ctrl-C while both workers make a song: each saves what exists (partial), with its device.
TEST_F(GenMulti, SigintSavesWhatExistsOnBothWorkers) {
  GenProcess p({"--model-path",
                ckpt_,
                "--device",
                "cpu,cpu",
                "--lyrics",
                "la la la",
                "--tags",
                "piano",
                "--duration",
                "30",
                "--ignore-eos",
                "--codec-steps",
                "1",
                "--seed",
                "5",
                "--num-songs",
                "2",
                "--threads",
                "1",
                "-o",
                dir_.file("p.wav")},
               dir_.path(), logs_.path());
  ASSERT_TRUE(p.wait_for_stderr("[cpu#0] frames ", 240)) << "no progress on worker 0:\n" << p.current_stderr();
  ASSERT_TRUE(p.wait_for_stderr("[cpu#1] frames ", 240)) << "no progress on worker 1:\n" << p.current_stderr();
  p.send_signal(SIGINT);
  const GenResult r = p.wait();
  ASSERT_EQ(r.code, 130) << "signal " << r.signal << "\n" << r.err;
  std::set<std::string> devices;
  for (const char* n : {"1", "2"}) {
    SCOPED_TRACE(std::string("song ") + n);
    const std::string wav = dir_.file(std::string("p-") + n + ".wav");
    EXPECT_TRUE(contains(r.err, "Partial song saved to " + wav)) << r.err;
    const Json meta = Json::parse(read_file(dir_.file(std::string("p-") + n + ".json")));
    EXPECT_EQ(meta["partial"], true);
    EXPECT_EQ(meta["timings"]["batch_songs"], 1);
    const int64_t f = meta["timings"]["frames"].get<int64_t>();
    EXPECT_GE(f, 1);
    EXPECT_LT(f, 376);
    devices.insert(meta["device"].get<std::string>());
  }
  EXPECT_EQ(devices, (std::set<std::string>{"cpu#0", "cpu#1"}));
  EXPECT_EQ(part_files(dir_.path()), std::vector<std::string>{});
}

TEST_F(GenMulti, BadDeviceListsAreUsageErrors) {
  const std::vector<std::vector<std::string>> cases = {
      {"--device", "cuda:x"},     {"--device", "cpu,,cpu"}, {"--device", "cuda:99"},
      {"--device", "cpu,cuda:0"}, {"--device", "auto,cpu"}, {"--device", "cpu,"},
      {"--device", "tpu:all"},    {"--device", "cuda:all"}, {"--device", "cpu,cpu", "--mula-device", "cpu"}};
  std::vector<std::vector<std::string>> runs;
  for (const auto& c : cases) {
    runs.push_back({"--model-path", ckpt_, "-o", dir_.file("x.wav")});
    runs.back().insert(runs.back().end(), c.begin(), c.end());
  }
  const std::vector<GenResult> results = run_together(runs, {dir_.path()}, logs_.path());
  for (size_t k = 0; k < cases.size(); ++k) {
    const GenResult& r = results[k];
    const std::vector<std::string>& c = cases[k];
    SCOPED_TRACE(c[1]);
    EXPECT_EQ(r.code, 2) << r.err;
    const std::string& named = c.size() > 2 ? c[2] : c[0];
    EXPECT_TRUE(contains(r.err, named)) << r.err;
    EXPECT_TRUE(contains(r.err, c[1])) << r.err;
  }
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{});
}

}  // namespace
