// heartmula-quantize: writes an 8-bit checkpoint folder that heartmula-gen loads directly
// (docs/quantization.md):
//   heartmula-quantize --model-path DIR --dtype int8 -o OUT
// OUT/HeartMuLa-oss-<version>/ holds every linear weight as int8 with "<key>_scale" (float32, one
// per output row) beside it, the other tensors in bf16 (the compute dtype of int8), and the scheme
// in config.json ("quantization"); HeartCodec-oss/, tokenizer.json and gen_config.json are linked
// (or copied with --copy). The values are model::quantize_int8's, so loading OUT gives the same
// bytes as quantizing DIR at load. The folder is written under a temporary name and renamed when
// complete: an interrupted run leaves no half checkpoint behind.
#include <CLI/CLI.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "bench/random_checkpoint.h"
#include "heartmula/error.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/torch_tensors.h"
#include "io/weight_binder.h"
#include "model/heartmula.h"
#include "model/linear.h"
#include "cli_defaults.h"
#include "tool_main.h"

namespace fs = std::filesystem;
using namespace heartmula;

namespace {

struct Cli {
  std::string model_path, out_dir, version = "3B", dtype = "int8";
  int shards = 2, threads = 0;
  bool copy = false, overwrite = false;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read '" + path + "'");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// One tensor of the output: a float tensor of the checkpoint in bf16, or a linear weight's int8
// values or scales (audio_head: stored [N-1, Dd, V], quantized per vocabulary column).
struct Part {
  std::string source_key;
  enum Kind { Dense, Values, Scales } kind = Dense;
};

// The quantized form of `key` in its stored layout; the last one is kept (a weight's values and
// scales are usually written one after the other).
class Quantizer {
 public:
  explicit Quantizer(const io::Checkpoint& ckpt) : ckpt_(ckpt) {}
  const model::Linear& get(const std::string& key) {
    if (key == key_) return q_;
    at::Tensor w = io::load_tensor(ckpt_.at(key), at::kFloat, c10::Device(c10::kCPU));
    if (key == "audio_head") {  // [N-1, Dd, V]: one scale per vocabulary entry (an output row)
      std::vector<at::Tensor> values, scales;
      for (int64_t i = 0; i < w.size(0); ++i) {
        model::Linear q = model::quantize_int8(w.select(0, i).transpose(0, 1));
        values.push_back(q.weight.transpose(0, 1));
        scales.push_back(q.scale);
      }
      q_.weight = at::stack(values).contiguous();
      q_.scale = at::stack(scales).contiguous();
    } else {
      q_ = model::quantize_int8(w);
    }
    key_ = key;
    return q_;
  }

 private:
  const io::Checkpoint& ckpt_;
  std::string key_;
  model::Linear q_;
};

void link_or_copy(const fs::path& from, const fs::path& to, bool copy) {
  std::error_code ec;
  if (!fs::exists(from, ec)) {
    std::fprintf(stderr, "warning: %s does not exist; not in the output either\n", from.c_str());
    return;
  }
  if (copy)
    fs::copy(from, to, fs::copy_options::recursive);
  else
    fs::create_symlink(fs::absolute(from), to);
  std::printf("  %-60s %s\n", to.c_str(), copy ? "(copied)" : ("-> " + fs::absolute(from).string()).c_str());
}

void run(const Cli& c) {
  c10::InferenceMode guard;
  if (c.threads > 0) at::set_num_threads(c.threads);
  if (c.dtype != "int8") throw UsageError("--dtype " + c.dtype + ": heartmula-quantize writes int8 (the only scheme)");
  const fs::path root(c.model_path), out(c.out_dir);
  const std::string lm_name = "HeartMuLa-oss-" + c.version;
  const fs::path src = root / lm_name, dst = out / lm_name;
  if (!fs::is_regular_file(src / "config.json"))
    throw UsageError("--model-path " + c.model_path + ": no " + lm_name + "/config.json there");
  std::error_code ec;
  if (fs::exists(out, ec) && fs::equivalent(root, out, ec))
    throw UsageError("-o " + c.out_dir + " is --model-path itself: write the quantized checkpoint elsewhere");
  for (const char* entry : {"HeartCodec-oss", "tokenizer.json", "gen_config.json"})
    if (fs::exists(fs::symlink_status(out / entry)) && !c.overwrite)
      throw UsageError("-o " + c.out_dir + ": " + (out / entry).string() + " exists (use --overwrite to replace it)");
  if (fs::exists(dst) && !c.overwrite)
    throw UsageError("-o " + c.out_dir + ": " + dst.string() + " exists (use --overwrite to replace it)");

  // The float checkpoint must be the model (one message listing every problem) and not quantized.
  nlohmann::json config = nlohmann::json::parse(read_text((src / "config.json").string()));
  model::HeartMuLaModel m;
  m.config = model::HeartMuLaConfig::from_file((src / "config.json").string());
  if (!m.config.quantization.empty())
    throw UsageError("--model-path " + c.model_path + ": " + lm_name + " is already quantized (" +
                     m.config.quantization + ")");
  const io::Checkpoint ckpt = io::Checkpoint::open(src.string());
  io::WeightBinder binder(ckpt, at::kFloat, c10::Device(c10::kCPU));
  m.declare(binder);
  binder.check();

  std::vector<io::TensorSpec> specs;
  std::vector<Part> parts;
  for (const auto& d : binder.declarations()) {
    if (!model::is_linear_weight_key(d.key)) {
      specs.push_back({d.key, io::DType::BF16, d.shape});
      parts.push_back({d.key, Part::Dense});
      continue;
    }
    std::vector<int64_t> scale_shape = d.shape;  // every dim but [1] (the input features)
    scale_shape.erase(scale_shape.begin() + 1);
    specs.push_back({d.key, io::DType::I8, d.shape});
    parts.push_back({d.key, Part::Values});
    specs.push_back({d.key + model::QuantScheme::kScaleSuffix, io::DType::F32, scale_shape});
    parts.push_back({d.key, Part::Scales});
  }

  const fs::path tmp = out / ("." + lm_name + ".partial-" + std::to_string(::getpid()));
  fs::create_directories(out);
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    auto t0 = std::chrono::steady_clock::now();
    Quantizer quantizer(ckpt);
    size_t total = 0;
    std::printf("%s -> %s\n", src.c_str(), dst.c_str());
    const auto files =
        tools::write_sharded_checkpoint(tmp.string(), specs, c.shards, [&](size_t i, void* buf, size_t n) {
          const Part& p = parts[i];
          at::Tensor t;
          if (p.kind == Part::Dense)
            t = io::load_tensor(ckpt.at(p.source_key), at::kBFloat16, c10::Device(c10::kCPU));
          else if (p.kind == Part::Values)
            t = quantizer.get(p.source_key).weight;
          else
            t = quantizer.get(p.source_key).scale;
          t = t.contiguous();
          if (static_cast<size_t>(t.numel()) * t.element_size() != n)
            throw Error("heartmula-quantize: internal size mismatch for '" + specs[i].name + "'");
          std::memcpy(buf, t.data_ptr(), n);
        });
    config["quantization"] = {{"method", model::QuantScheme::kMethod},
                              {"version", model::QuantScheme::kVersion},
                              {"weights",
                               "int8 values, one float32 scale per output row (<key>_scale): scale = max|w| / 127, "
                               "q = round_half_even(w / scale)"},
                              {"other_tensors", "bfloat16"},
                              {"source", fs::absolute(src).string()}};
    const std::string text = config.dump(2) + "\n";
    io::write_file_atomically((tmp / "config.json").string(), text.data(), text.size());
    for (const auto& f : files) total += f.bytes;
    if (fs::exists(dst)) fs::remove_all(dst);
    fs::rename(tmp, dst);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("  %zu tensors (%zu quantized), %zu files, %.3f GB (from %.3f GB) in %.1f s\n", specs.size(),
                static_cast<size_t>(
                    std::count_if(parts.begin(), parts.end(), [](const Part& p) { return p.kind == Part::Values; })),
                files.size(), static_cast<double>(total) / 1e9, static_cast<double>(ckpt.total_bytes()) / 1e9, secs);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  for (const char* entry : {"HeartCodec-oss", "tokenizer.json", "gen_config.json"}) {
    if (fs::exists(fs::symlink_status(out / entry))) fs::remove_all(out / entry);
    link_or_copy(root / entry, out / entry, c.copy);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"heartmula-quantize: an 8-bit HeartMuLa checkpoint that heartmula-gen --mula-dtype int8 loads directly"};
  Cli c;
  app.add_option("--model-path,--model_path", c.model_path, "checkpoint folder (holding HeartMuLa-oss-<version>/)")
      ->required();
  app.add_option("-o,--out", c.out_dir, "output checkpoint folder")->required();
  app.add_option("--dtype", c.dtype, "weight format: int8")->capture_default_str();
  app.add_option("--version", c.version, "model version (HeartMuLa-oss-<version>)")->capture_default_str();
  app.add_option("--shards", c.shards, "safetensors shards of the output")
      ->capture_default_str()
      ->check(CLI::Range(1, 99));
  app.add_option("--threads", c.threads, "CPU threads (0: all)")->capture_default_str();
  app.add_flag("--copy", c.copy, "copy HeartCodec-oss/, tokenizer.json and gen_config.json instead of linking them");
  app.add_flag("--overwrite", c.overwrite, "replace an existing quantized checkpoint in the output folder");
  heartmula::tools::last_value_wins(app);
  if (const auto code = heartmula::tools::parse_command_line(app, argc, argv)) return *code;
  return heartmula::tools::run_tool([&] {
    run(c);
    return static_cast<int>(kExitOk);
  });
}
