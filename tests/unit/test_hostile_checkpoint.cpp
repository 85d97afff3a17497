// Hostile checkpoints at the model level: copies of the tiny LM / codec fixtures with one thing
// broken (truncated or missing shard, wrong dtype or shape, NaN/Inf weights, absurd config).
// Every case must end in one heartmula::Error naming the culprit, never a crash.
// The byte-level cases of the safetensors reader itself live in test_safetensors.cpp.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "codec/heartcodec.h"
#include "heartmula/error.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/weight_binder.h"
#include "model/heartmula.h"

namespace fs = std::filesystem;
using heartmula::Error;
using namespace heartmula;

namespace {

const std::string kLm = std::string(HEARTMULA_TEST_DATA) + "/ckpt/HeartMuLa-oss-3B";
const std::string kCodec = std::string(HEARTMULA_TEST_DATA) + "/ckpt/HeartCodec-oss";
const std::string kShard2 = "model-00002-of-00002.safetensors";
const std::string kVictim = "backbone.layers.0.attn.q_proj.weight";  // in shard 2

// A copy of a fixture folder, removed file by file (flat folders only) at the end.
class Copy {
 public:
  explicit Copy(const std::string& from) {
    char tmpl[] = "/tmp/heartmula-hostile-XXXXXX";
    dir_ = mkdtemp(tmpl);
    for (const auto& e : fs::directory_iterator(from)) fs::copy_file(e.path(), fs::path(dir_) / e.path().filename());
  }
  ~Copy() {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_, ec)) fs::remove(e.path(), ec);
    fs::remove(dir_, ec);
  }
  std::string file(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}
bool has(const std::string& msg, const std::string& part) { return msg.find(part) != std::string::npos; }

void load_lm(const std::string& dir) { model::HeartMuLaModel::load(dir, at::kFloat, at::kCPU); }
void load_codec(const std::string& dir) { codec::HeartCodec::load(dir, at::kFloat, at::kCPU); }

// Rewrites safetensors file `path` with tensor `name` replaced by (dtype, shape, bytes).
void replace_tensor(const std::string& path, const std::string& name, io::DType dtype, std::vector<int64_t> shape,
                    const std::string& bytes) {
  io::SafetensorsWriter w;
  {
    const io::SafetensorsFile f = io::SafetensorsFile::open(path);
    for (const auto& [key, t] : f.tensors()) {
      if (key == name)
        w.add(key, dtype, shape, bytes.data(), bytes.size());
      else
        w.add(key, t.dtype, t.shape, t.data, t.nbytes);
    }
  }
  w.write(path);
}

const io::TensorInfo victim_info(const std::string& shard) {
  static io::SafetensorsFile f = io::SafetensorsFile::open(shard);
  return f.at(kVictim);
}

// The victim tensor as float32 values with `poison` written at a few positions.
std::string f32_bytes(int64_t numel, float poison, int poisoned) {
  std::vector<float> v(static_cast<size_t>(numel), 0.01f);
  for (int i = 0; i < poisoned; ++i) v[static_cast<size_t>(i * 7 % numel)] = poison;
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

}  // namespace

TEST(HostileCheckpoint, FixtureLoads) {
  EXPECT_NO_THROW(load_lm(kLm));
  EXPECT_NO_THROW(load_codec(kCodec));
}

TEST(HostileCheckpoint, TruncatedShardNamesTheFile) {
  Copy c(kLm);
  const auto size = fs::file_size(c.file(kShard2));
  for (uintmax_t keep : {uintmax_t{0}, uintmax_t{5}, uintmax_t{100}, size / 2, size - 1}) {
    fs::resize_file(c.file(kShard2), keep);
    const std::string msg = error_of([&] { load_lm(c.dir()); });
    EXPECT_TRUE(has(msg, kShard2)) << "keep " << keep << ": " << msg;
  }
}

TEST(HostileCheckpoint, HeaderClaimingMoreDataThanTheFileHolds) {
  Copy c(kLm);
  // The header stays intact; the data section loses its last tensor's bytes.
  const auto size = fs::file_size(c.file(kShard2));
  fs::resize_file(c.file(kShard2), size - 64);
  const std::string msg = error_of([&] { load_lm(c.dir()); });
  EXPECT_TRUE(has(msg, kShard2)) << msg;
}

TEST(HostileCheckpoint, MissingShardNamedByTheIndex) {
  Copy c(kLm);
  fs::remove(c.file(kShard2));
  const std::string msg = error_of([&] { load_lm(c.dir()); });
  EXPECT_TRUE(has(msg, "shard '" + kShard2 + "'")) << msg;
  EXPECT_TRUE(has(msg, "missing")) << msg;
}

TEST(HostileCheckpoint, TensorInTwoShardsUsesTheIndexOnly) {
  // A shard holding a tensor the index assigns elsewhere is not used for it; an index entry
  // pointing at a shard without the tensor is an Error naming both.
  Copy c(kLm);
  std::ifstream in(c.file("model.safetensors.index.json"));
  std::string index((std::istreambuf_iterator<char>(in)), {});
  const std::string from = "\"" + kVictim + "\": \"" + kShard2 + "\"";
  ASSERT_TRUE(has(index, from));
  index.replace(index.find(from), from.size(), "\"" + kVictim + "\": \"model-00001-of-00002.safetensors\"");
  std::ofstream(c.file("model.safetensors.index.json"), std::ios::trunc) << index;
  const std::string msg = error_of([&] { load_lm(c.dir()); });
  EXPECT_TRUE(has(msg, kVictim)) << msg;
  EXPECT_TRUE(has(msg, "does not contain it")) << msg;
}

TEST(HostileCheckpoint, WrongDtypeNamesTheTensor) {
  const auto info = victim_info(kLm + "/" + kShard2);
  const int64_t n = info.numel();
  {
    Copy c(kLm);
    replace_tensor(c.file(kShard2), kVictim, io::DType::I64, info.shape, std::string(n * 8, '\0'));
    const std::string msg = error_of([&] { load_lm(c.dir()); });
    EXPECT_TRUE(has(msg, "'" + kVictim + "' has integer dtype I64")) << msg;
  }
  {
    Copy c(kLm);
    replace_tensor(c.file(kShard2), kVictim, io::DType::BOOL, info.shape, std::string(n, '\1'));
    const std::string msg = error_of([&] { load_lm(c.dir()); });
    EXPECT_TRUE(has(msg, "'" + kVictim + "' has non-numeric dtype BOOL")) << msg;
  }
}

TEST(HostileCheckpoint, ShapeNotMatchingConfigIsOneErrorListingIt) {
  const auto info = victim_info(kLm + "/" + kShard2);
  Copy c(kLm);
  std::vector<int64_t> wrong = info.shape;
  wrong[0] += 1;
  const int64_t n = wrong[0] * wrong[1];
  replace_tensor(c.file(kShard2), kVictim, io::DType::BF16, wrong, std::string(n * 2, '\0'));
  const std::string msg = error_of([&] { load_lm(c.dir()); });
  EXPECT_TRUE(has(msg, "1 problem)")) << msg;
  EXPECT_TRUE(has(msg, "'" + kVictim + "' has wrong shape")) << msg;
}

TEST(HostileCheckpoint, NonFiniteWeightsAreReportedWithTheirCount) {
  const auto info = victim_info(kLm + "/" + kShard2);
  const int64_t n = info.numel();
  for (float poison :
       {std::nanf(""), std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
    Copy c(kLm);
    replace_tensor(c.file(kShard2), kVictim, io::DType::F32, info.shape, f32_bytes(n, poison, 3));
    const std::string msg = error_of([&] { load_lm(c.dir()); });
    EXPECT_TRUE(has(msg, "'" + kVictim + "' in " + c.file(kShard2) + " has 3 non-finite values")) << msg;
  }
  {
    // Finite in float32, Inf once converted to bfloat16.
    Copy c(kLm);
    replace_tensor(c.file(kShard2), kVictim, io::DType::F32, info.shape, f32_bytes(n, 3.4e38f, 1));
    EXPECT_NO_THROW(load_lm(c.dir()));
    const std::string msg = error_of([&] { model::HeartMuLaModel::load(c.dir(), at::kBFloat16, at::kCPU); });
    EXPECT_TRUE(has(msg, "'" + kVictim + "' in " + c.file(kShard2) + " has 1 non-finite value")) << msg;
  }
}

TEST(HostileCheckpoint, CodecNonFiniteWeight) {
  Copy c(kCodec);
  const auto decl = codec::HeartCodec::declarations(codec::HeartCodecConfig::from_file(kCodec + "/config.json"));
  ASSERT_FALSE(decl.empty());
  const std::string key = decl.back().key;
  const io::TensorInfo t = io::SafetensorsFile::open(kCodec + "/model.safetensors").at(key);
  ASSERT_EQ(t.dtype, io::DType::F32);
  replace_tensor(c.file("model.safetensors"), key, io::DType::F32, t.shape, f32_bytes(t.numel(), std::nanf(""), 1));
  const std::string msg = error_of([&] { load_codec(c.dir()); });
  EXPECT_TRUE(has(msg, "'" + key + "' in " + c.file("model.safetensors") + " has 1 non-finite value")) << msg;
}

TEST(HostileCheckpoint, AbsurdConfigIsRefusedBeforeAllocating) {
  Copy c(kLm);
  std::ifstream in(c.file("config.json"));
  std::string cfg((std::istreambuf_iterator<char>(in)), {});
  const auto pos = cfg.find("\"embed_dim\"");
  ASSERT_NE(pos, std::string::npos);
  const auto colon = cfg.find(':', pos), end = cfg.find_first_of(",}", colon);
  cfg.replace(colon + 1, end - colon - 1, " 1000000000");
  std::ofstream(c.file("config.json"), std::ios::trunc) << cfg;
  const std::string msg = error_of([&] { load_lm(c.dir()); });
  EXPECT_TRUE(has(msg, "embed_dim")) << msg;
  EXPECT_TRUE(has(msg, "config.json")) << msg;
}

// Found by fuzz_config (UBSan: float -> int64 conversion out of range in nlohmann's get<>()).
TEST(HostileCheckpoint, CodecConfigNonIntegerSizes) {
  Copy c(kCodec);
  std::ifstream in(c.file("config.json"));
  const std::string good((std::istreambuf_iterator<char>(in)), {});
  in.close();
  const auto with = [&](const std::string& key, const std::string& value) {
    std::string cfg = good;
    const auto pos = cfg.find("\"" + key + "\"");
    if (pos == std::string::npos) return cfg.insert(cfg.find('{') + 1, "\"" + key + "\": " + value + ",");
    const auto colon = cfg.find(':', pos);
    const auto end = value[0] == '[' ? cfg.find(']', colon) + 1 : cfg.find_first_of(",}", colon);
    return cfg.replace(colon + 1, end - colon - 1, " " + value);
  };
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"dim", "7.77778e+37"},
                                                        {"dim", "1.5"},
                                                        {"num_layers", "18446744073709551615"},
                                                        {"upsample_factors", "[2, 1e300]"}}) {
    std::ofstream(c.file("config.json"), std::ios::trunc) << with(key, value);
    const std::string msg = error_of([&] { codec::HeartCodecConfig::from_file(c.file("config.json")); });
    EXPECT_TRUE(has(msg, "'" + key + "' must be an integer")) << key << " = " << value << ": " << msg;
  }
}
