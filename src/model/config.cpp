#include "model/config.h"

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "heartmula/error.h"

namespace heartmula::model {

namespace {

using nlohmann::json;

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse_object(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error("'" + source + "' is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error("'" + source + "' must hold a JSON object");
  return j;
}

// An integer field; absent -> `fallback` (or Error when `required`).
int64_t get_int(const json& j, const char* key, const std::string& where, int64_t fallback, bool required = false) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw Error(where + ": missing field '" + key + "'");
    return fallback;
  }
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    double v = it->get<double>();
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.0e15) return static_cast<int64_t>(v);
  }
  throw Error(where + ": field '" + key + "' must be an integer, got " + it->dump());
}

double get_num(const json& j, const char* key, const std::string& where, double fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) throw Error(where + ": field '" + key + "' must be a number, got " + it->dump());
  return it->get<double>();
}

std::string get_str(const json& j, const char* key, const std::string& where, const std::string& fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_string()) throw Error(where + ": field '" + key + "' must be a string, got " + it->dump());
  return it->get<std::string>();
}

void check_range(const std::string& where, const char* field, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    throw Error(where + ": " + field + " = " + std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "]");
}

TransformerConfig parse_transformer(const json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + " must be a JSON object");
  TransformerConfig c;
  c.embed_dim = get_int(j, "embed_dim", where, 0, true);
  c.num_layers = get_int(j, "num_layers", where, 0, true);
  c.num_heads = get_int(j, "num_heads", where, 0, true);
  c.num_kv_heads = get_int(j, "num_kv_heads", where, c.num_heads);
  c.max_seq_len = get_int(j, "max_seq_len", where, 0, true);
  // torchtune's default when intermediate_dim is absent: scale_hidden_dim_for_mlp(dim, 256).
  int64_t hidden = 4 * ((2 * c.embed_dim) / 3);
  hidden = 256 * ((hidden + 255) / 256);
  c.intermediate_dim = get_int(j, "intermediate_dim", where, hidden);
  c.norm_eps = get_num(j, "norm_eps", where, 1e-5);
  c.rope_base = get_num(j, "rope_base", where, 500000.0);
  c.scale_factor = get_num(j, "scale_factor", where, 32.0);
  return c;
}

TransformerConfig resolve(const json& j, const char* flavor_key, const char* config_key, const std::string& flavor,
                          const std::string& source) {
  auto it = j.find(config_key);
  if (it != j.end() && !it->is_null()) return parse_transformer(*it, "'" + source + "' " + config_key);
  TransformerConfig c;
  if (flavor_config(flavor, &c)) return c;
  throw Error("'" + source + "': unknown " + flavor_key + " '" + flavor +
              "' (known: llama-3B, llama-300M, llama-400M, llama-7B) and no " + config_key + " given");
}

}  // namespace

bool flavor_config(const std::string& flavor, TransformerConfig* out) {
  // name -> layers, heads, kv heads, dim, mlp, max_seq (MODEL_NOTES / upstream FLAVORS)
  struct Row {
    int64_t layers, heads, kv, dim, mlp, max_seq;
  };
  static const std::map<std::string, Row> table = {
      {"llama-3B", {28, 24, 8, 3072, 8192, 8192}},
      {"llama-300M", {3, 8, 4, 3072, 8192, 2048}},
      {"llama-400M", {4, 8, 4, 3072, 8192, 2048}},
      {"llama-7B", {32, 32, 8, 4096, 14336, 8192}},
  };
  auto it = table.find(flavor);
  if (it == table.end()) return false;
  const Row& r = it->second;
  TransformerConfig c;
  c.num_layers = r.layers;
  c.num_heads = r.heads;
  c.num_kv_heads = r.kv;
  c.embed_dim = r.dim;
  c.intermediate_dim = r.mlp;
  c.max_seq_len = r.max_seq;
  *out = c;
  return true;
}

void TransformerConfig::validate(const std::string& where) const {
  check_range(where, "embed_dim", embed_dim, 1, 1 << 16);
  check_range(where, "num_layers", num_layers, 1, 1024);
  check_range(where, "num_heads", num_heads, 1, 1024);
  check_range(where, "num_kv_heads", num_kv_heads, 1, num_heads);
  check_range(where, "intermediate_dim", intermediate_dim, 1, 1 << 18);
  check_range(where, "max_seq_len", max_seq_len, 1, 1 << 20);
  if (embed_dim % num_heads != 0)
    throw Error(where + ": embed_dim " + std::to_string(embed_dim) + " is not divisible by num_heads " +
                std::to_string(num_heads));
  if (num_heads % num_kv_heads != 0)
    throw Error(where + ": num_heads " + std::to_string(num_heads) + " is not divisible by num_kv_heads " +
                std::to_string(num_kv_heads));
  if (head_dim() % 2 != 0)
    throw Error(where + ": head_dim " + std::to_string(head_dim()) + " must be even (RoPE rotates pairs)");
  if (!(norm_eps > 0.0 && norm_eps < 1.0))
    throw Error(where + ": norm_eps " + std::to_string(norm_eps) + " must be in (0, 1)");
  if (!(rope_base > 1.0 && std::isfinite(rope_base))) throw Error(where + ": rope_base must be > 1");
  if (!(scale_factor > 0.0 && std::isfinite(scale_factor))) throw Error(where + ": scale_factor must be > 0");
}

HeartMuLaConfig HeartMuLaConfig::from_json(const std::string& text, const std::string& source) {
  json j = parse_object(text, source);
  const std::string where = "'" + source + "'";
  HeartMuLaConfig c;
  c.backbone_flavor = get_str(j, "backbone_flavor", where, c.backbone_flavor);
  c.decoder_flavor = get_str(j, "decoder_flavor", where, c.decoder_flavor);
  c.text_vocab_size = get_int(j, "text_vocab_size", where, c.text_vocab_size);
  c.audio_vocab_size = get_int(j, "audio_vocab_size", where, c.audio_vocab_size);
  c.audio_num_codebooks = get_int(j, "audio_num_codebooks", where, c.audio_num_codebooks);
  c.muq_dim = get_int(j, "muq_dim", where, c.muq_dim);
  if (j.contains("quantization")) {
    const json& q = j["quantization"];
    const std::string method =
        q.is_object() && q.contains("method") && q["method"].is_string() ? q["method"].get<std::string>() : q.dump();
    const int64_t version =
        q.is_object() && q.contains("version") && q["version"].is_number_integer() ? q["version"].get<int64_t>() : -1;
    if (method != QuantScheme::kMethod || version != QuantScheme::kVersion)
      throw Error(where + ": checkpoint quantized as '" + method + "' version " + std::to_string(version) +
                  "; this build reads '" + QuantScheme::kMethod + "' version " + std::to_string(QuantScheme::kVersion) +
                  " (heartmula-quantize) or float checkpoints");
    c.quantization = method;
  }
  c.backbone = resolve(j, "backbone_flavor", "backbone_config", c.backbone_flavor, source);
  c.decoder = resolve(j, "decoder_flavor", "decoder_config", c.decoder_flavor, source);
  c.validate(source);
  return c;
}

HeartMuLaConfig HeartMuLaConfig::from_file(const std::string& path) { return from_json(read_text_file(path), path); }

void HeartMuLaConfig::validate(const std::string& source) const {
  const std::string where = "'" + source + "'";
  check_range(where, "text_vocab_size", text_vocab_size, 1, 1 << 24);
  check_range(where, "audio_vocab_size", audio_vocab_size, 2, 1 << 20);
  check_range(where, "audio_num_codebooks", audio_num_codebooks, 2, 64);
  check_range(where, "muq_dim", muq_dim, 1, 1 << 16);
  backbone.validate(where + " backbone");
  decoder.validate(where + " decoder");
  // The decoder sees the backbone state + one position per codebook.
  if (decoder.max_seq_len < audio_num_codebooks)
    throw Error(where + ": decoder max_seq_len " + std::to_string(decoder.max_seq_len) +
                " is smaller than audio_num_codebooks " + std::to_string(audio_num_codebooks));
  const double params = parameter_count();
  if (params > 200e9)
    throw Error(where + ": the sizes imply " + std::to_string(params / 1e9) +
                " billion parameters, which is not a HeartMuLa model");
}

double HeartMuLaConfig::parameter_count() const {
  auto stack = [](const TransformerConfig& t) {
    const double d = static_cast<double>(t.embed_dim), hd = static_cast<double>(t.head_dim());
    const double attn = d * hd * (t.num_heads + 2.0 * t.num_kv_heads) + d * d;
    const double mlp = 3.0 * d * static_cast<double>(t.intermediate_dim);
    return static_cast<double>(t.num_layers) * (attn + mlp + 2.0 * d) + d;
  };
  const double bd = static_cast<double>(backbone.embed_dim), dd = static_cast<double>(decoder.embed_dim);
  const double v = static_cast<double>(audio_vocab_size), n = static_cast<double>(audio_num_codebooks);
  return stack(backbone) + stack(decoder) + static_cast<double>(text_vocab_size) * bd + v * n * bd + bd + bd * dd +
         bd * v + (n - 1) * dd * v + static_cast<double>(muq_dim) * bd + bd;
}

GenConfig GenConfig::from_json(const std::string& text, const std::string& source) {
  json j = parse_object(text, source);
  const std::string where = "'" + source + "'";
  GenConfig g;
  g.text_bos_id = get_int(j, "text_bos_id", where, g.text_bos_id);
  g.text_eos_id = get_int(j, "text_eos_id", where, g.text_eos_id);
  g.audio_eos_id = get_int(j, "audio_eos_id", where, g.audio_eos_id);
  g.empty_id = get_int(j, "empty_id", where, g.empty_id);
  check_range(where, "text_bos_id", g.text_bos_id, 0, (1 << 24) - 1);
  check_range(where, "text_eos_id", g.text_eos_id, 0, (1 << 24) - 1);
  check_range(where, "audio_eos_id", g.audio_eos_id, 1, (1 << 20) - 1);
  check_range(where, "empty_id", g.empty_id, 0, (1 << 24) - 1);
  return g;
}

GenConfig GenConfig::from_file(const std::string& path) { return from_json(read_text_file(path), path); }

void GenConfig::validate_against(const HeartMuLaConfig& m) const {
  const std::string where = "gen_config.json";
  check_range(where, "text_bos_id", text_bos_id, 0, m.text_vocab_size - 1);
  check_range(where, "text_eos_id", text_eos_id, 0, m.text_vocab_size - 1);
  check_range(where, "empty_id", empty_id, 0, m.text_vocab_size - 1);
  check_range(where, "audio_eos_id", audio_eos_id, 1, m.audio_vocab_size - 1);
}

}  // namespace heartmula::model
