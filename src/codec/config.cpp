#include "codec/config.h"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <type_traits>
#include <nlohmann/json.hpp>

#include "heartmula/error.h"

namespace heartmula::codec {

namespace {

// nlohmann's get<int64_t>() casts a float (undefined behaviour out of range; found by
// fuzz_config) and wraps an unsigned above INT64_MAX: integer keys accept only exact integers.
bool integral_value(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
  if (v.is_number_float()) {
    const double d = v.get<double>();
    return std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15;
  }
  return true;  // integers; other types make get<T>() throw a type error
}

template <typename T>
void read_key(const nlohmann::json& j, const std::string& origin, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;  // upstream default
  bool ok = true;
  if constexpr (std::is_same_v<T, int64_t>) ok = integral_value(*it);
  if constexpr (std::is_same_v<T, std::vector<int64_t>>)
    if (it->is_array())
      for (const auto& v : *it) ok = ok && integral_value(v);
  if (!ok) throw Error(origin + ": key '" + key + "' must be an integer, got " + it->dump());
  try {
    out = it->get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin + ": key '" + key + "' has the wrong type: " + it->dump());
  }
}

void require(bool ok, const std::string& origin, const std::string& what) {
  if (!ok) throw Error(origin + ": unsupported HeartCodec config: " + what);
}

std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

int64_t HeartCodecConfig::samples_per_latent() const {
  int64_t n = num_samples;
  for (int64_t f : upsample_factors) n *= f;
  return n;
}

HeartCodecConfig HeartCodecConfig::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open codec config '" + path + "'");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw Error("codec config '" + path + "' is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error("codec config '" + path + "' is not a JSON object");
  HeartCodecConfig c;
  read_key(j, path, "dim", c.dim);
  read_key(j, path, "codebook_size", c.codebook_size);
  read_key(j, path, "codebook_dim", c.codebook_dim);
  read_key(j, path, "num_quantizers", c.num_quantizers);
  read_key(j, path, "attention_head_dim", c.attention_head_dim);
  read_key(j, path, "in_channels", c.in_channels);
  read_key(j, path, "norm_type", c.norm_type);
  read_key(j, path, "num_attention_heads", c.num_attention_heads);
  read_key(j, path, "num_layers", c.num_layers);
  read_key(j, path, "num_layers_2", c.num_layers_2);
  read_key(j, path, "out_channels", c.out_channels);
  read_key(j, path, "num_bands", c.num_bands);
  read_key(j, path, "sample_rate", c.sample_rate);
  read_key(j, path, "causal", c.causal);
  read_key(j, path, "num_samples", c.num_samples);
  read_key(j, path, "upsample_factors", c.upsample_factors);
  read_key(j, path, "upsample_kernel_sizes", c.upsample_kernel_sizes);
  read_key(j, path, "latent_hidden_dim", c.latent_hidden_dim);
  read_key(j, path, "default_kernel_size", c.default_kernel_size);
  read_key(j, path, "delay_kernel_size", c.delay_kernel_size);
  read_key(j, path, "init_channel", c.init_channel);
  read_key(j, path, "res_kernel_size", c.res_kernel_size);
  c.validate(path);
  return c;
}

void HeartCodecConfig::validate(const std::string& origin) const {
  const std::pair<const char*, int64_t> positive[] = {{"dim", dim},
                                                      {"codebook_size", codebook_size},
                                                      {"codebook_dim", codebook_dim},
                                                      {"num_quantizers", num_quantizers},
                                                      {"attention_head_dim", attention_head_dim},
                                                      {"in_channels", in_channels},
                                                      {"num_attention_heads", num_attention_heads},
                                                      {"num_layers", num_layers},
                                                      {"out_channels", out_channels},
                                                      {"sample_rate", sample_rate},
                                                      {"num_samples", num_samples},
                                                      {"latent_hidden_dim", latent_hidden_dim},
                                                      {"default_kernel_size", default_kernel_size},
                                                      {"delay_kernel_size", delay_kernel_size},
                                                      {"init_channel", init_channel},
                                                      {"res_kernel_size", res_kernel_size}};
  for (const auto& [key, v] : positive)
    require(v > 0, origin, std::string(key) + " must be positive, got " + std::to_string(v));
  require(num_layers_2 >= 0, origin, "num_layers_2 must be >= 0, got " + std::to_string(num_layers_2));
  require(norm_type == "ada_norm_single", origin, "norm_type '" + norm_type + "' (only ada_norm_single)");
  require(attention_head_dim % 2 == 0, origin,
          "attention_head_dim must be even (RoPE pairs), got " + std::to_string(attention_head_dim));
  require(in_channels == 2 * out_channels + dim, origin,
          "in_channels " + std::to_string(in_channels) +
              " != 2 * out_channels + dim = " + std::to_string(2 * out_channels + dim));
  require(out_channels == 2 * latent_hidden_dim, origin,
          "out_channels " + std::to_string(out_channels) + " != 2 * latent_hidden_dim (" +
              std::to_string(latent_hidden_dim) + "): the latent splits into 2 audio channels");
  require(num_bands == 1, origin, "num_bands " + std::to_string(num_bands) + " (only 1)");
  require(causal, origin, "causal = false (only the causal scalar decoder)");
  require(!upsample_factors.empty() && upsample_factors.size() == upsample_kernel_sizes.size(), origin,
          "upsample_factors " + list_str(upsample_factors) + " and upsample_kernel_sizes " +
              list_str(upsample_kernel_sizes) + " must be non-empty and of equal length");
  for (size_t i = 0; i < upsample_factors.size(); ++i)
    require(upsample_factors[i] > 0 && upsample_kernel_sizes[i] == 2 * upsample_factors[i], origin,
            "upsample_kernel_sizes[" + std::to_string(i) + "] = " + std::to_string(upsample_kernel_sizes[i]) +
                " must be 2 * upsample_factors[" + std::to_string(i) +
                "] = " + std::to_string(2 * upsample_factors[i]) + " (causal transposed convolution)");
  require(init_channel << upsample_factors.size() > 0 && upsample_factors.size() < 16, origin,
          "too many upsampling stages: " + std::to_string(upsample_factors.size()));
  require(samples_per_latent() * 25 == sample_rate, origin,
          "num_samples * prod(upsample_factors) * 25 Hz = " + std::to_string(samples_per_latent() * 25) +
              " != sample_rate " + std::to_string(sample_rate));
}

}  // namespace heartmula::codec
