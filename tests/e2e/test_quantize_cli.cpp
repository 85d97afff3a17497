// heartmula-quantize run as a program on the tiny fixture checkpoint: the folder it writes, the
// same bytes as quantizing at load, heartmula-gen on it giving the same codes, and its refusals.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gen_test_util.h"
#include "heartmula/error.h"
#include "model/heartmula.h"

namespace fs = std::filesystem;
namespace hm = heartmula::model;
using heartmula::test::ScratchDir;

namespace {

struct Result {
  int code = -1;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Result run(const std::string& tool, const std::vector<std::string>& args, const std::string& scratch) {
  std::string cmd = quote(std::string(HEARTMULA_BIN_DIR) + "/" + tool);
  for (const auto& a : args) cmd += " " + quote(a);
  const std::string err = scratch + "/stderr.txt";
  cmd += " 2>" + quote(err);
  Result r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = heartmula::test::read_file(err);
  return r;
}

// Every tensor of a model, by a name of its own.
std::vector<std::pair<std::string, at::Tensor>> tensors_of(const hm::HeartMuLaModel& m) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  auto lin = [&](const std::string& name, const hm::Linear& l) {
    out.push_back({name + ".weight", l.weight});
    out.push_back({name + ".scale", l.scale});
  };
  for (const auto* stack : {&m.backbone, &m.decoder}) {
    const std::string p = stack == &m.backbone ? "backbone." : "decoder.";
    for (size_t i = 0; i < stack->layers.size(); ++i) {
      const auto& l = stack->layers[i];
      const std::string q = p + std::to_string(i) + ".";
      out.push_back({q + "sa_norm", l.sa_norm});
      out.push_back({q + "mlp_norm", l.mlp_norm});
      lin(q + "wqkv", l.wqkv), lin(q + "wo", l.wo), lin(q + "w13", l.w13), lin(q + "w2", l.w2);
    }
    out.push_back({p + "norm", stack->norm});
  }
  lin("projection", m.projection), lin("codebook0_head", m.codebook0_head), lin("audio_head", m.audio_head);
  for (auto [n, t] : {std::pair<const char*, at::Tensor>{"text_embeddings", m.text_embeddings},
                      {"audio_embeddings", m.audio_embeddings},
                      {"unconditional_text_embedding", m.unconditional_text_embedding},
                      {"muq_linear_weight", m.muq_linear_weight},
                      {"muq_linear_bias", m.muq_linear_bias}})
    out.push_back({n, t});
  return out;
}

size_t safetensors_bytes(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") n += fs::file_size(e.path());
  return n;
}

TEST(QuantizeCli, WritesACheckpointThatLoadsToTheSameBytes) {
  ScratchDir dir("quantize");
  const std::string ckpt = heartmula::test::gen_checkpoint();
  ASSERT_FALSE(ckpt.empty());
  const std::string out = dir.file("q");
  const Result r = run("heartmula-quantize", {"--model-path", ckpt, "-o", out, "--shards", "2"}, dir.path());
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string lm = out + "/HeartMuLa-oss-3B";
  std::ifstream cfg(lm + "/config.json");
  const nlohmann::json j = nlohmann::json::parse(cfg);
  EXPECT_EQ(j["quantization"]["method"], "int8-per-row");
  EXPECT_EQ(j["quantization"]["version"], 1);
  EXPECT_TRUE(fs::is_regular_file(lm + "/model.safetensors.index.json"));
  for (const char* e : {"HeartCodec-oss/config.json", "tokenizer.json", "gen_config.json"})
    EXPECT_TRUE(fs::exists(out + "/" + e)) << e;
  EXPECT_TRUE(heartmula::test::part_files(out).empty());
  // int8 values + bf16 rest: under 30 % of the fixture's stored bytes? The fixture is bf16, so
  // the linear weights halve: well under the original size.
  EXPECT_LT(safetensors_bytes(lm), safetensors_bytes(ckpt + "/HeartMuLa-oss-3B"));

  const hm::LmPrecision int8 = hm::parse_lm_precision("int8");
  const hm::HeartMuLaModel at_load = hm::HeartMuLaModel::load(ckpt + "/HeartMuLa-oss-3B", int8, at::kCPU);
  const hm::HeartMuLaModel stored = hm::HeartMuLaModel::load(lm, int8, at::kCPU);
  const auto a = tensors_of(at_load), b = tensors_of(stored);
  ASSERT_EQ(a.size(), b.size());
  size_t int8_tensors = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].second.defined(), b[i].second.defined()) << a[i].first;
    if (!a[i].second.defined()) continue;
    EXPECT_EQ(a[i].second.scalar_type(), b[i].second.scalar_type()) << a[i].first;
    EXPECT_TRUE(a[i].second.equal(b[i].second)) << a[i].first << " differs";
    int8_tensors += a[i].second.scalar_type() == at::kChar;
  }
  EXPECT_EQ(int8_tensors, 4 * (at_load.backbone.layers.size() + at_load.decoder.layers.size()) + 3);

  // A quantized checkpoint is not a float one.
  try {
    hm::HeartMuLaModel::load(lm, hm::parse_lm_precision("bf16"), at::kCPU);
    ADD_FAILURE() << "a quantized checkpoint loaded as bf16";
  } catch (const heartmula::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--mula-dtype int8"), std::string::npos) << e.what();
  }

  // heartmula-gen: the quantized folder and quantizing at load give the same codes.
  auto codes = [&](const std::string& model, const std::string& name, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--model-path", model,          "--tags",     "piano",  "--lyrics",
                                     "la la",        "--duration",   "1",          "--seed", "5",
                                     "--codes-out",  dir.file(name), "--no-audio", "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    return heartmula::test::run_gen(args, dir.path(), dir.path());
  };
  const auto g1 = codes(out, "a.safetensors", {"--mula-dtype", "int8"});
  ASSERT_EQ(g1.code, 0) << g1.err;
  const auto g2 = codes(ckpt, "b.safetensors", {"--mula-dtype", "int8"});
  ASSERT_EQ(g2.code, 0) << g2.err;
  const auto ca = heartmula::test::read_safetensors_tensor(dir.file("a.safetensors"), "frames");
  const auto cb = heartmula::test::read_safetensors_tensor(dir.file("b.safetensors"), "frames");
  EXPECT_FALSE(ca.values.empty());
  EXPECT_EQ(ca.values, cb.values);
  const auto g3 = codes(out, "c.safetensors", {});
  EXPECT_EQ(g3.code, 2) << g3.err;
  EXPECT_NE(g3.err.find("--mula-dtype int8"), std::string::npos) << g3.err;
}

TEST(QuantizeCli, RefusesWithoutTouchingAnything) {
  ScratchDir dir("quantize_refuse");
  const std::string ckpt = heartmula::test::gen_checkpoint();
  ASSERT_FALSE(ckpt.empty());
  const std::string out = dir.file("q");
  ASSERT_EQ(run("heartmula-quantize", {"--model-path", ckpt, "-o", out}, dir.path()).code, 0);
  const auto before = fs::last_write_time(out + "/HeartMuLa-oss-3B/config.json");
  Result r = run("heartmula-quantize", {"--model-path", ckpt, "-o", out}, dir.path());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("exists"), std::string::npos) << r.err;
  EXPECT_EQ(fs::last_write_time(out + "/HeartMuLa-oss-3B/config.json"), before);
  r = run("heartmula-quantize", {"--model-path", ckpt, "-o", out, "--overwrite"}, dir.path());
  EXPECT_EQ(r.code, 0) << r.err;
  r = run("heartmula-quantize", {"--model-path", out, "-o", dir.file("qq")}, dir.path());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("already quantized"), std::string::npos) << r.err;
  r = run("heartmula-quantize", {"--model-path", ckpt, "-o", dir.file("x"), "--dtype", "int4"}, dir.path());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("int4"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir.file("x") + "/HeartMuLa-oss-3B"));
  r = run("heartmula-quantize", {"--model-path", dir.file("nothing"), "-o", dir.file("y")}, dir.path());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("nothing"), std::string::npos) << r.err;
}

}  // namespace
