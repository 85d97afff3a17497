// The config.json / gen_config.json contents of the two model sizes the benchmark tools build:
// "real" (the released HeartMuLa-oss-3B + HeartCodec-oss architecture) and "tiny" (the shapes
// of the committed test checkpoint, tests/data/ckpt, small enough for a CPU in seconds).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace heartmula::tools {

enum class ModelSize { Real, Tiny };

// "real" / "tiny" -> size; UsageError naming `flag` and the value otherwise.
ModelSize parse_model_size(const std::string& name, const std::string& flag);

// HeartMuLa-oss-3B/config.json (flavors llama-3B / llama-300M, or explicit tiny stacks).
nlohmann::json lm_config_json(ModelSize size);
// HeartCodec-oss/config.json (upstream HeartCodecConfig defaults, or the tiny test codec).
nlohmann::json codec_config_json(ModelSize size);
// gen_config.json: text_bos 128000, text_eos 128001, empty 0; audio_eos = codebook size + 1.
nlohmann::json gen_config_json(ModelSize size);

}  // namespace heartmula::tools
