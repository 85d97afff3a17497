// make-random-checkpoint and heartmula-bench run as programs: a tiny random checkpoint in the
// released layout (shards, index, configs), loaded and benchmarked on the CPU in seconds.
// (The codec rows are not run here: one 29.76 s window of the tiny codec takes ~10 s on 2 cores.)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "io/checkpoint.h"

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A tiny checkpoint written once for the whole suite.
class ToolsBench : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("heartmula_tools_bench_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    tokenizer_ = (dir_ / "tok.json").string();
    std::ofstream(tokenizer_) << "{\"model\": {}}\n";
  }

  // The checkpoint, written on first use (each test runs in its own process under ctest).
  static const Result& made() {
    if (made_.code < 0)
      made_ = run("make-random-checkpoint", "--out " + quote((dir_ / "ckpt").string()) +
                                                " --size tiny --seed 7 --shards-lm 2 --shards-codec 2 --threads 2"
                                                " --tokenizer " +
                                                quote(tokenizer_));
    return made_;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static Result run(const std::string& tool, const std::string& args) {
    const std::string err = (dir_ / "stderr.txt").string();
    const std::string cmd = quote(std::string(HEARTMULA_BIN_DIR) + "/" + tool) + " " + args + " 2>" + quote(err);
    Result r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = read_file(err);
    return r;
  }

  static std::string ckpt() { return (dir_ / "ckpt").string(); }

  static inline fs::path dir_;
  static inline std::string tokenizer_;
  static inline Result made_;
};

TEST_F(ToolsBench, WritesTheReleasedLayout) {
  ASSERT_EQ(made().code, 0) << made_.err << made_.out;
  const fs::path lm = fs::path(ckpt()) / "HeartMuLa-oss-3B", codec = fs::path(ckpt()) / "HeartCodec-oss";
  for (const fs::path& d : {lm, codec}) {
    EXPECT_TRUE(fs::exists(d / "config.json")) << d;
    EXPECT_TRUE(fs::exists(d / "model-00001-of-00002.safetensors")) << d;
    EXPECT_TRUE(fs::exists(d / "model-00002-of-00002.safetensors")) << d;
    const Json index = Json::parse(read_file(d / "model.safetensors.index.json"));
    const heartmula::io::Checkpoint ck = heartmula::io::Checkpoint::open(d.string());
    EXPECT_EQ(index["metadata"]["total_size"].get<size_t>(), ck.total_bytes()) << d;
    EXPECT_EQ(index["weight_map"].size(), ck.tensors().size()) << d;
  }
  const Json gen = Json::parse(read_file(fs::path(ckpt()) / "gen_config.json"));
  EXPECT_EQ(gen["text_bos_id"], 128000);
  EXPECT_EQ(gen["text_eos_id"], 128001);
  EXPECT_EQ(gen["empty_id"], 0);
  EXPECT_EQ(read_file(fs::path(ckpt()) / "tokenizer.json"), read_file(tokenizer_));
  EXPECT_NE(made_.out.find("GB/s"), std::string::npos) << made_.out;
}

TEST_F(ToolsBench, ValuesAreNormalAndNormScalesOne) {
  ASSERT_EQ(made().code, 0) << made_.err;
  const auto ck = heartmula::io::Checkpoint::open((fs::path(ckpt()) / "HeartMuLa-oss-3B").string());
  const auto& emb = ck.at("text_embeddings.weight");
  ASSERT_EQ(emb.dtype, heartmula::io::DType::F32);
  const float* v = reinterpret_cast<const float*>(emb.data);
  double sum = 0, sq = 0;
  const int64_t n = emb.numel();
  for (int64_t i = 0; i < n; ++i) sum += v[i], sq += static_cast<double>(v[i]) * v[i];
  EXPECT_NEAR(sum / n, 0.0, 1e-3);
  EXPECT_NEAR(std::sqrt(sq / n), 0.02, 1e-3);
  const auto& scale = ck.at("backbone.layers.0.sa_norm.scale");
  for (int64_t i = 0; i < scale.numel(); ++i) EXPECT_EQ(reinterpret_cast<const float*>(scale.data)[i], 1.0f);
  // Weight norm is stored as the parametrization pair load() folds.
  const auto codec = heartmula::io::Checkpoint::open((fs::path(ckpt()) / "HeartCodec-oss").string());
  size_t g = 0, v1 = 0;
  for (const auto& [key, t] : codec.tensors()) {
    if (key.find("parametrizations.weight.original0") != std::string::npos) ++g;
    if (key.find("parametrizations.weight.original1") != std::string::npos) ++v1;
  }
  EXPECT_GT(g, 0u);
  EXPECT_EQ(g, v1);
  // Same seed, other thread count and split: the same values.
  const fs::path other = dir_ / "ckpt1";
  const Result again = run("make-random-checkpoint", "--out " + quote(other.string()) +
                                                         " --size tiny --seed 7 --what lm --shards-lm 1 --threads 1");
  ASSERT_EQ(again.code, 0) << again.err;
  const auto one = heartmula::io::Checkpoint::open((other / "HeartMuLa-oss-3B").string());
  EXPECT_TRUE(fs::exists(other / "HeartMuLa-oss-3B" / "model.safetensors"));
  ASSERT_EQ(one.tensors().size(), ck.tensors().size());
  for (const auto& [key, t] : one.tensors()) {
    const auto& u = ck.at(key);
    ASSERT_EQ(t.nbytes, u.nbytes) << key;
    EXPECT_EQ(std::memcmp(t.data, u.data, t.nbytes), 0) << key;
  }
}

TEST_F(ToolsBench, BenchLoadsTheCheckpointAndReportsJson) {
  ASSERT_EQ(made().code, 0) << made_.err;
  const Result r = run("heartmula-bench", "--model-path " + quote(ckpt()) + " --load " + quote(ckpt()) +
                                              " --device cpu --threads 2"
                                              " --positions 16,40 --frames 4 --warmup 1 --reps 1 --json -q");
  ASSERT_EQ(r.code, 0) << r.err;
  const Json doc = Json::parse(r.out);
  EXPECT_EQ(doc["device"], "cpu");
  EXPECT_EQ(doc["lm_dtype"], "fp32");
  EXPECT_GT(doc["weight_bytes_per_frame"].get<double>(), 0);
  int frames = 0, load = 0;
  for (const Json& row : doc["rows"]) {
    const std::string test = row["test"];
    if (test == "frames") {
      ++frames;
      EXPECT_TRUE(row["cfg"] == 1.5 || row["cfg"] == 1.0) << row;
      EXPECT_TRUE(row["position"] == 16 || row["position"] == 40) << row;
      EXPECT_EQ(row["batch_rows"], row["cfg"] == 1.5 ? 2 : 1);
      EXPECT_GT(row["frames_per_second"]["mean"].get<double>(), 0) << row;
      EXPECT_EQ(row["frames_per_second"]["samples"].size(), 1u);
      EXPECT_GT(row["prefill_ms"]["mean"].get<double>(), 0) << row;
      EXPECT_NEAR(row["ms_per_frame"].get<double>() * row["frames_per_second"]["mean"].get<double>(), 1000.0, 1e-6);
      EXPECT_GT(row["peak_memory_bytes"].get<double>(), 0) << row;
      EXPECT_EQ(row["weight_bytes_per_frame"], doc["weight_bytes_per_frame"]);
      EXPECT_GT(row["weight_gbps"].get<double>(), 0);
      EXPECT_TRUE(row["floor_fraction"].is_null());  // no known bandwidth for a CPU
    } else if (test == "load") {
      ++load;
      EXPECT_GT(row["bytes_read"].get<double>(), 0);
      EXPECT_GT(row["gbps"].get<double>(), 0);
    }
  }
  EXPECT_EQ(frames, 4);
  EXPECT_EQ(load, 2);
}

TEST_F(ToolsBench, MarkdownAndCsvOutputs) {
  const Result md = run("heartmula-bench",
                        "--tiny --device cpu --threads 2 --cfg 1.0 --positions 8 --frames 2 --warmup 0 --reps 2 -q");
  ASSERT_EQ(md.code, 0) << md.err;
  EXPECT_NE(md.out.find("| cfg | position | prefill ms | frames/s |"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find(" ± "), std::string::npos) << md.out;
  const std::string csv = (dir_ / "bench.csv").string();
  const Result c =
      run("heartmula-bench",
          "--tiny --device cpu --threads 2 --cfg 1.5 --positions 8 --frames 2 --warmup 0 --reps 1 -q -o " + quote(csv));
  ASSERT_EQ(c.code, 0) << c.err;
  const std::string text = read_file(csv);
  EXPECT_EQ(text.rfind("test,cfg,batch_rows,position", 0), 0u) << text;
  EXPECT_NE(text.find("frames_per_second_mean"), std::string::npos) << text;
}

// --num-songs: one "batch" row per batch size through the batch frame loop; song-frames/s is
// songs x batch steps/s, the speed-up is over the first size (N = 1).
TEST_F(ToolsBench, BatchRowsPerNumberOfSongs) {
  const Result r = run("heartmula-bench",
                       "--tiny --device cpu --threads 2 --cfg 1.5 --positions 16 --num-songs 1,2,4"
                       " --frames 3 --warmup 1 --reps 1 --json -q");
  ASSERT_EQ(r.code, 0) << r.err;
  const Json doc = Json::parse(r.out);
  std::vector<int64_t> songs;
  for (const Json& row : doc["rows"]) {
    ASSERT_EQ(row["test"], "batch") << row;
    const int64_t n = row["songs"].get<int64_t>();
    songs.push_back(n);
    EXPECT_EQ(row["batch_rows"], 2 * n);
    const double fps = row["frames_per_second"]["mean"].get<double>();
    EXPECT_GT(fps, 0);
    EXPECT_NEAR(row["song_frames_per_second"]["mean"].get<double>(), static_cast<double>(n) * fps, 1e-6 * n * fps);
    if (n == 1) {
      EXPECT_DOUBLE_EQ(row["speedup"].get<double>(), 1.0);
    }
    EXPECT_GT(row["speedup"].get<double>(), 0);
  }
  EXPECT_EQ(songs, (std::vector<int64_t>{1, 2, 4}));
  const Result md = run("heartmula-bench",
                        "--tiny --device cpu --threads 2 --cfg 1.0 --positions 8 --num-songs 1,3"
                        " --frames 2 --warmup 0 --reps 1 -q");
  ASSERT_EQ(md.code, 0) << md.err;
  EXPECT_NE(md.out.find("| songs | rows | steps/s | song-frames/s | speed-up |"), std::string::npos) << md.out;
  const Result bad = run("heartmula-bench", "--tiny --device cpu --num-songs 0 --frames 2 --reps 1 -q");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--num-songs"), std::string::npos) << bad.err;
}

TEST_F(ToolsBench, UsageErrorsNameTheFlag) {
  const Result far = run("heartmula-bench", "--tiny --device cpu --positions 5000 --frames 2 --reps 1 -q");
  EXPECT_EQ(far.code, 2);
  EXPECT_NE(far.err.find("--positions 5000"), std::string::npos) << far.err;
  const Result reps = run("heartmula-bench", "--tiny --device cpu --reps 0 -q");
  EXPECT_EQ(reps.code, 2);
  EXPECT_NE(reps.err.find("--reps"), std::string::npos) << reps.err;
  const Result codec = run("heartmula-bench", "--tiny --device cpu --frames 0 --codec -q");
  EXPECT_EQ(codec.code, 2);
  EXPECT_NE(codec.err.find("--codec-path"), std::string::npos) << codec.err;
  const Result size = run("make-random-checkpoint", "--out " + quote((dir_ / "x").string()) + " --size huge");
  EXPECT_EQ(size.code, 2);
  EXPECT_NE(size.err.find("--size"), std::string::npos) << size.err;
  ASSERT_EQ(made().code, 0) << made_.err;
  const Result again = run("make-random-checkpoint", "--out " + quote(ckpt()) + " --size tiny --what lm");
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("--overwrite"), std::string::npos) << again.err;
}

}  // namespace
