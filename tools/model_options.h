// The model and device options heartmula-gen and heartmula-server share: their names, defaults
// and help texts live here only (docs/server.md: "the model and device options are heartmula-gen's").
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "heartmula/generation.h"

namespace heartmula::tools {

// The "Model" group: --model-path, --version, --lazy-load. --version VALUE picks the model
// (upstream's flag) into `version_arg`; --version alone asks for the program's version
// (wants_program_version). No default_str on --version: CLI11 gives a bare "--version" the
// default string, which would hide "alone".
inline CLI::Option_group* add_model_group(CLI::App& app, ModelSettings& m, std::string& version_arg) {
  auto* model = app.add_option_group("Model");
  model
      ->add_option("--model-path,--model_path", m.model_path,
                   "checkpoint folder (HeartMuLa-oss-<version>/, HeartCodec-oss/, tokenizer.json, gen_config.json)")
      ->capture_default_str();
  model
      ->add_option(
          "--version", version_arg,
          "model version, default " + m.version + " (folder HeartMuLa-oss-<version>); alone: print the program version")
      ->expected(0, 1);
  model->add_flag("--lazy-load,--lazy_load", m.lazy_load, "free the language model before the codec runs");
  return model;
}

// The "Device" group: --device, --mula-device, --codec-device, --mula-dtype, --codec-dtype,
// --threads. A tool adds its own device flags to the group returned.
inline CLI::Option_group* add_device_group(CLI::App& app, ModelSettings& m) {
  auto* dev = app.add_option_group("Device");
  dev->add_option("--device", m.device, "device for both models: auto|cpu|cuda[:N]|xpu[:N]")->capture_default_str();
  dev->add_option("--mula-device,--mula_device", m.mula_device, "device of the language model (default: --device)");
  dev->add_option("--codec-device,--codec_device", m.codec_device, "device of the codec (default: --device)");
  dev->add_option(
      "--mula-dtype,--mula_dtype", m.mula_dtype,
      "LM precision fp32|bf16|fp16|int8 (int8: 8-bit weights, bf16 compute; default: bf16 on GPUs, fp32 on CPU)");
  dev->add_option(
         "--codec-dtype,--codec_dtype", m.codec_dtype,
         "codec precision auto|fp32|tf32|bf16|fp16, or ESTIMATOR/DECODER (auto: bf16/tf32 on CUDA, fp32 on CPU)")
      ->capture_default_str();
  dev->add_option("--threads", m.threads, "CPU threads (0: all cores)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  return dev;
}

// After parsing: true when --version came alone (the tool prints its own version and stops);
// otherwise a --version VALUE given becomes the model version.
inline bool wants_program_version(const CLI::App& app, const std::string& version_arg, ModelSettings& m) {
  if (app.count("--version") == 0) return false;
  if (version_arg.empty()) return true;
  m.version = version_arg;
  return false;
}

}  // namespace heartmula::tools
