#include "bench/model_configs.h"

#include "heartmula/error.h"

namespace heartmula::tools {

using nlohmann::json;

ModelSize parse_model_size(const std::string& name, const std::string& flag) {
  if (name == "real") return ModelSize::Real;
  if (name == "tiny") return ModelSize::Tiny;
  throw UsageError(flag + " must be 'real' or 'tiny'. Given: '" + name + "'");
}

namespace {

json tiny_stack(int64_t dim, int64_t mlp, int64_t max_seq) {
  return {{"attn_dropout", 0.0}, {"embed_dim", dim},   {"intermediate_dim", mlp}, {"max_seq_len", max_seq},
          {"norm_eps", 1e-5},    {"num_heads", 2},     {"num_kv_heads", 1},       {"num_layers", 2},
          {"rope_base", 500000}, {"scale_factor", 32}, {"vocab_size", 128256}};
}

}  // namespace

json lm_config_json(ModelSize size) {
  json j = {{"architectures", {"HeartMuLa"}},
            {"model_type", "heartmula"},
            {"torch_dtype", "float32"},
            {"text_vocab_size", 128256},
            {"audio_num_codebooks", 8}};
  if (size == ModelSize::Real) {
    j["backbone_flavor"] = "llama-3B";
    j["decoder_flavor"] = "llama-300M";
    j["audio_vocab_size"] = 8197;
    j["muq_dim"] = 512;
  } else {
    j["backbone_flavor"] = "tiny-backbone";
    j["decoder_flavor"] = "tiny-decoder";
    j["backbone_config"] = tiny_stack(16, 64, 1024);
    j["decoder_config"] = tiny_stack(24, 48, 16);
    j["audio_vocab_size"] = 2053;
    j["muq_dim"] = 16;
  }
  return j;
}

json codec_config_json(ModelSize size) {
  const bool real = size == ModelSize::Real;
  return {{"architectures", {"HeartCodec"}},
          {"model_type", "heartcodec"},
          {"torch_dtype", "float32"},
          {"dim", real ? 512 : 32},
          {"codebook_size", real ? 8192 : 2048},
          {"decay", 0.9},
          {"commitment_weight", 1.0},
          {"threshold_ema_dead_code", 2},
          {"use_cosine_sim", false},
          {"codebook_dim", real ? 32 : 8},
          {"num_quantizers", 8},
          {"attention_head_dim", real ? 64 : 8},
          {"in_channels", real ? 1024 : 544},
          {"norm_type", "ada_norm_single"},
          {"num_attention_heads", real ? 24 : 2},
          {"num_layers", real ? 24 : 2},
          {"num_layers_2", real ? 6 : 1},
          {"out_channels", 256},
          {"num_bands", 1},
          {"sample_rate", 48000},
          {"causal", true},
          {"num_samples", 2},
          {"downsample_factors", {3, 4, 4, 4, 5}},
          {"downsample_kernel_sizes", {6, 8, 8, 8, 10}},
          {"upsample_factors", {5, 4, 4, 4, 3}},
          {"upsample_kernel_sizes", {10, 8, 8, 8, 6}},
          {"latent_hidden_dim", 128},
          {"default_kernel_size", 7},
          {"delay_kernel_size", 5},
          {"init_channel", real ? 64 : 4},
          {"res_kernel_size", 7}};
}

json gen_config_json(ModelSize size) {
  return {{"text_bos_id", 128000},
          {"text_eos_id", 128001},
          {"audio_eos_id", size == ModelSize::Real ? 8193 : 2049},
          {"empty_id", 0}};
}

}  // namespace heartmula::tools
