// HeartMuLa hyperparameters (config.json of HeartMuLa-oss-<version>) and generation ids
// (gen_config.json). Parsing validates every size before anything is allocated.
#pragma once

#include <cstdint>
#include <string>

namespace heartmula::model {

// The quantization a checkpoint folder records in config.json ("quantization"), written by
// heartmula-quantize (docs/quantization.md). The only scheme: int8 values, one float32 scale per output row, symmetric.
struct QuantScheme {
  static constexpr const char* kMethod = "int8-per-row";
  static constexpr int kVersion = 1;
  // Suffix of the scale tensor's key: "<weight key>_scale" ("...q_proj.weight_scale").
  static constexpr const char* kScaleSuffix = "_scale";
};

// One torchtune llama3_2 transformer (the backbone or the depth decoder).
struct TransformerConfig {
  int64_t embed_dim = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t intermediate_dim = 0;
  int64_t max_seq_len = 0;
  double norm_eps = 1e-5;
  double rope_base = 500000.0;
  double scale_factor = 32.0;  // Llama-3 RoPE scaling (low 1, high 4, old context 8192)

  int64_t head_dim() const { return num_heads > 0 ? embed_dim / num_heads : 0; }
  // Throws Error naming `where` and the field when a value is absurd or inconsistent.
  void validate(const std::string& where) const;
};

// The flavors upstream knows by name (llama-3B, llama-300M, llama-400M, llama-7B).
// Returns false for other names.
bool flavor_config(const std::string& flavor, TransformerConfig* out);

struct HeartMuLaConfig {
  std::string backbone_flavor = "llama-3B";
  std::string decoder_flavor = "llama-300M";
  TransformerConfig backbone;
  TransformerConfig decoder;
  int64_t text_vocab_size = 128256;
  int64_t audio_vocab_size = 8197;  // codebook size + specials (EOS ...)
  int64_t audio_num_codebooks = 8;
  int64_t muq_dim = 512;
  // "quantization" of a checkpoint written by heartmula-quantize: QuantScheme::kMethod
  // (above); empty for the released float checkpoints. Another method or version is
  // refused by name when the file is parsed.
  std::string quantization;

  // Parses config.json text; `source` names the file in errors. Named flavors come from the
  // table, other names need backbone_config / decoder_config objects.
  static HeartMuLaConfig from_json(const std::string& text, const std::string& source);
  static HeartMuLaConfig from_file(const std::string& path);
  void validate(const std::string& source) const;
  // Parameter count implied by the sizes (to reject absurd configs before allocating).
  double parameter_count() const;
};

// gen_config.json: special ids used by prompt building and the stopping rule.
struct GenConfig {
  int64_t text_bos_id = 128000;
  int64_t text_eos_id = 128001;
  int64_t audio_eos_id = 8193;
  int64_t empty_id = 0;

  static GenConfig from_json(const std::string& text, const std::string& source);
  static GenConfig from_file(const std::string& path);
  // Ids must index the model's tables (text ids < text_vocab_size, audio_eos_id < audio_vocab_size).
  void validate_against(const HeartMuLaConfig& model) const;
};

}  // namespace heartmula::model
