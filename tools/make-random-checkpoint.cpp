// make-random-checkpoint: writes a checkpoint folder of random weights in exactly the released
// layout, so that loading (and everything after it) can be measured at real size without the
// download (docs/performance.md):
//   DIR/HeartMuLa-oss-3B/{config.json, model-0000i-of-0000n.safetensors, model.safetensors.index.json}
//   DIR/HeartCodec-oss/{config.json, shards, index}   DIR/gen_config.json   [DIR/tokenizer.json]
// Tensor names and shapes come from the models' own declarations; values are normal(0, 0.02)
// (norm scales 1), seeded per tensor, streamed one tensor at a time.
#include <CLI/CLI.hpp>

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>
#include <unistd.h>

#include "bench/model_configs.h"
#include "bench/random_checkpoint.h"
#include "cli_defaults.h"
#include "codec/heartcodec.h"
#include "heartmula/error.h"
#include "tool_main.h"
#include "io/atomic_file.h"
#include "model/heartmula.h"

namespace fs = std::filesystem;
using namespace heartmula;

namespace {

struct Cli {
  std::string out_dir, what = "all", size = "real", dtype = "fp32", tokenizer;
  uint64_t seed = 0;
  int shards_lm = 4, shards_codec = 2, threads = 0;
  bool overwrite = false, dry_run = false;
};

struct Totals {
  size_t bytes = 0;
  double seconds = 0.0;
};

double gb(size_t bytes) { return static_cast<double>(bytes) / 1e9; }

io::DType parse_dtype(const std::string& s) {
  if (s == "fp32" || s == "float32") return io::DType::F32;
  if (s == "bf16" || s == "bfloat16") return io::DType::BF16;
  if (s == "fp16" || s == "float16") return io::DType::F16;
  throw UsageError("--dtype must be fp32, bf16 or fp16. Given: '" + s + "'");
}

std::set<std::string> parse_what(const std::string& s) {
  std::set<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, ',');) {
    if (part == "all")
      out.insert({"lm", "codec"});
    else if (part == "lm" || part == "codec")
      out.insert(part);
    else
      throw UsageError("--what takes lm, codec or all (comma-separated). Given: '" + s + "'");
  }
  if (out.empty()) throw UsageError("--what is empty");
  return out;
}

void write_text(const std::string& path, const std::string& text, Totals& t) {
  io::write_file_atomically(path, text.data(), text.size());
  std::printf("  %-60s %12zu bytes\n", path.c_str(), text.size());
  t.bytes += text.size();
}

// Makes `dir`; refuses one that holds safetensors already unless --overwrite (then removes them,
// so that no stale shard of another split stays behind).
void prepare_dir(const std::string& dir, bool overwrite) {
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".safetensors") == std::string::npos) continue;
    if (!overwrite) throw Error("'" + dir + "' already holds '" + name + "' (use --overwrite to replace)");
    fs::remove(e.path());
  }
}

// --dry-run: the bytes each shard would get.
void print_plan(const std::vector<io::WeightBinder::Declaration>& decls, int shards, io::DType dtype) {
  std::vector<size_t> bytes;
  for (const auto& d : decls) {
    size_t n = io::dtype_size(dtype);
    for (int64_t s : d.shape) n *= static_cast<size_t>(s);
    bytes.push_back(n);
  }
  std::vector<size_t> per(static_cast<size_t>(shards), 0);
  const std::vector<int> where = tools::assign_shards(bytes, shards);
  size_t total = 0;
  for (size_t i = 0; i < bytes.size(); ++i) per[static_cast<size_t>(where[i])] += bytes[i], total += bytes[i];
  for (int s = 0; s < shards; ++s) std::printf("  shard %d: %.3f GB\n", s + 1, gb(per[static_cast<size_t>(s)]));
  std::printf("  total: %zu bytes (%.3f GB, %.3f GiB) of tensors\n", total, gb(total),
              static_cast<double>(total) / (1024.0 * 1024.0 * 1024.0));
}

void write_model(const std::string& dir, const nlohmann::json& config,
                 const std::vector<io::WeightBinder::Declaration>& decls, int shards, const Cli& c, Totals& t) {
  if (!c.dry_run) prepare_dir(dir, c.overwrite);
  size_t params = 0;
  for (const auto& d : decls) {
    size_t n = 1;
    for (int64_t s : d.shape) n *= static_cast<size_t>(s);
    params += n;
  }
  std::printf("%s: %zu tensors, %.3f B parameters\n", dir.c_str(), decls.size(), static_cast<double>(params) / 1e9);
  if (c.dry_run) return print_plan(decls, shards, parse_dtype(c.dtype));
  write_text(dir + "/config.json", config.dump(2) + "\n", t);
  for (const auto& f : tools::write_random_checkpoint(dir, decls, shards, parse_dtype(c.dtype), c.seed)) {
    if (f.seconds > 0)
      std::printf("  %-60s %12zu bytes %8.2f s %6.2f GB/s\n", f.path.c_str(), f.bytes, f.seconds,
                  gb(f.bytes) / f.seconds);
    else
      std::printf("  %-60s %12zu bytes\n", f.path.c_str(), f.bytes);
    t.bytes += f.bytes;
    t.seconds += f.seconds;
  }
}

std::vector<io::WeightBinder::Declaration> lm_declarations(const nlohmann::json& config) {
  model::HeartMuLaModel m;
  m.config = model::HeartMuLaConfig::from_json(config.dump(), "<built-in LM config>");
  io::WeightBinder binder(c10::ScalarType::Float, c10::Device(c10::DeviceType::CPU));
  m.declare(binder);
  return binder.declarations();
}

std::vector<io::WeightBinder::Declaration> codec_declarations(const nlohmann::json& config, const std::string& tmp) {
  // The codec parses its config from a file only: validate the one we are about to write.
  io::write_file_atomically(tmp, config.dump(2).data(), config.dump(2).size());
  return codec::HeartCodec::declarations(codec::HeartCodecConfig::from_file(tmp));
}

void run(const Cli& c) {
  c10::InferenceMode guard;
  if (c.threads > 0) at::set_num_threads(c.threads);
  const tools::ModelSize size = tools::parse_model_size(c.size, "--size");
  const std::set<std::string> what = parse_what(c.what);
  parse_dtype(c.dtype);
  if (!c.tokenizer.empty() && !fs::is_regular_file(c.tokenizer))
    throw UsageError("--tokenizer '" + c.tokenizer + "' is not a file");
  if (!c.dry_run) fs::create_directories(c.out_dir);
  Totals t;
  auto t0 = std::chrono::steady_clock::now();
  if (what.count("lm")) {
    const nlohmann::json config = tools::lm_config_json(size);
    write_model(c.out_dir + "/HeartMuLa-oss-3B", config, lm_declarations(config), c.shards_lm, c, t);
  }
  if (what.count("codec")) {
    const std::string dir = c.out_dir + "/HeartCodec-oss";
    const nlohmann::json config = tools::codec_config_json(size);
    const std::string tmp =
        c.dry_run ? (fs::temp_directory_path() / ("heartcodec-config-" + std::to_string(::getpid()) + ".json")).string()
                  : dir + "/config.json";
    if (!c.dry_run) fs::create_directories(dir);
    write_model(dir, config, codec_declarations(config, tmp), c.shards_codec, c, t);
    if (c.dry_run) fs::remove(tmp);
  }
  if (c.dry_run) return;
  std::printf("%s:\n", c.out_dir.c_str());
  write_text(c.out_dir + "/gen_config.json", tools::gen_config_json(size).dump(1) + "\n", t);
  if (!c.tokenizer.empty()) {
    const std::string dst = c.out_dir + "/tokenizer.json";
    fs::copy_file(c.tokenizer, dst, fs::copy_options::overwrite_existing);
    std::printf("  %-60s %12zu bytes (copied)\n", dst.c_str(), static_cast<size_t>(fs::file_size(dst)));
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("total: %.3f GB in %.2f s (%.2f GB/s of tensors written)\n", gb(t.bytes), wall,
              t.seconds > 0 ? gb(t.bytes) / t.seconds : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"make-random-checkpoint: a random-weight checkpoint in the released HeartMuLa layout"};
  Cli c;
  app.add_option("--out", c.out_dir, "output folder (HeartMuLa-oss-3B/, HeartCodec-oss/, gen_config.json)")->required();
  app.add_option("--what", c.what, "what to write: lm, codec or all")->capture_default_str();
  app.add_option("--size", c.size, "real (3B LM 14.7 GB + codec, fp32) or tiny (test shapes)")->capture_default_str();
  app.add_option("--seed", c.seed, "random seed")->capture_default_str();
  app.add_option("--shards-lm,--shards_lm", c.shards_lm, "LM safetensors shards")
      ->capture_default_str()
      ->check(CLI::Range(1, 99));
  app.add_option("--shards-codec,--shards_codec", c.shards_codec, "codec safetensors shards")
      ->capture_default_str()
      ->check(CLI::Range(1, 99));
  app.add_option("--dtype", c.dtype, "stored dtype: fp32, bf16 or fp16")->capture_default_str();
  app.add_option("--tokenizer", c.tokenizer, "tokenizer.json to copy into the folder");
  app.add_option("--threads", c.threads, "CPU threads for drawing values (0: all)")->capture_default_str();
  app.add_flag("--overwrite", c.overwrite, "replace safetensors already in the folders");
  app.add_flag("--dry-run", c.dry_run, "print the tensors, parameters and shard sizes; write nothing");
  if (const auto code = heartmula::tools::parse_command_line(app, argc, argv)) return *code;
  return heartmula::tools::run_tool([&] {
    run(c);
    return static_cast<int>(kExitOk);
  });
}
