// HeartMuLa config.json / gen_config.json parsing and validation; prompt rows for empty
// tags/lyrics; Python-compatible lowercasing.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "heartmula/error.h"
#include "model/config.h"
#include "model/heartmula.h"
#include "model/prompt.h"

namespace hm = heartmula::model;

namespace {

// Throws and the message contains every `parts`.
template <typename F>
void expect_error(F&& f, std::vector<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning " << parts.front();
  } catch (const heartmula::Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

const char* kTiny = R"({
  "audio_num_codebooks": 8, "audio_vocab_size": 2053, "muq_dim": 16, "text_vocab_size": 128256,
  "backbone_flavor": "public-backbone", "decoder_flavor": "public-decoder",
  "backbone_config": {"embed_dim": 16, "intermediate_dim": 64, "max_seq_len": 1024, "norm_eps": 1e-05,
    "num_heads": 2, "num_kv_heads": 1, "num_layers": 2, "rope_base": 500000, "scale_factor": 32},
  "decoder_config": {"embed_dim": 24, "intermediate_dim": 48, "max_seq_len": 16,
    "num_heads": 2, "num_kv_heads": 1, "num_layers": 2}
})";

std::string tiny_with(const std::string& from, const std::string& to) {
  std::string s = kTiny;
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(LmConfig, ParsesExplicitTransformerConfigs) {
  const auto c = hm::HeartMuLaConfig::from_json(kTiny, "config.json");
  EXPECT_EQ(c.backbone.embed_dim, 16);
  EXPECT_EQ(c.backbone.head_dim(), 8);
  EXPECT_EQ(c.backbone.num_kv_heads, 1);
  EXPECT_EQ(c.backbone.max_seq_len, 1024);
  EXPECT_EQ(c.decoder.head_dim(), 12);
  EXPECT_DOUBLE_EQ(c.decoder.rope_base, 500000.0);  // defaults
  EXPECT_DOUBLE_EQ(c.decoder.scale_factor, 32.0);
  EXPECT_DOUBLE_EQ(c.decoder.norm_eps, 1e-5);
  EXPECT_EQ(c.audio_vocab_size, 2053);
  EXPECT_EQ(c.muq_dim, 16);
}

TEST(LmConfig, NamedFlavorsComeFromTheTable) {
  const auto c =
      hm::HeartMuLaConfig::from_json(R"({"backbone_flavor": "llama-3B", "decoder_flavor": "llama-300M"})", "c");
  EXPECT_EQ(c.backbone.num_layers, 28);
  EXPECT_EQ(c.backbone.num_heads, 24);
  EXPECT_EQ(c.backbone.num_kv_heads, 8);
  EXPECT_EQ(c.backbone.head_dim(), 128);
  EXPECT_EQ(c.backbone.max_seq_len, 8192);
  EXPECT_EQ(c.decoder.num_layers, 3);
  EXPECT_EQ(c.decoder.head_dim(), 384);
  EXPECT_EQ(c.decoder.max_seq_len, 2048);
  EXPECT_EQ(c.audio_vocab_size, 8197);  // upstream defaults
  EXPECT_EQ(c.muq_dim, 512);
  hm::TransformerConfig t;
  ASSERT_TRUE(hm::flavor_config("llama-7B", &t));
  EXPECT_EQ(t.embed_dim, 4096);
  EXPECT_EQ(t.intermediate_dim, 14336);
  ASSERT_TRUE(hm::flavor_config("llama-400M", &t));
  EXPECT_EQ(t.num_layers, 4);
  EXPECT_FALSE(hm::flavor_config("llama-1B", &t));
}

TEST(LmConfig, ErrorsNameTheField) {
  expect_error([] { hm::HeartMuLaConfig::from_json(R"({"backbone_flavor": "llama-9B"})", "cfg.json"); },
               {"cfg.json", "backbone_flavor", "llama-9B"});
  expect_error(
      [] { hm::HeartMuLaConfig::from_json(tiny_with("\"num_layers\": 2,", "\"num_layers\": 1000000000,"), "c"); },
      {"num_layers", "1000000000"});
  expect_error([] { hm::HeartMuLaConfig::from_json(tiny_with("\"embed_dim\": 16", "\"embed_dim\": 15"), "c"); },
               {"embed_dim 15", "num_heads"});
  expect_error([] { hm::HeartMuLaConfig::from_json(tiny_with("\"embed_dim\": 16", "\"embed_dim\": \"big\""), "c"); },
               {"embed_dim", "integer"});
  expect_error([] { hm::HeartMuLaConfig::from_json(tiny_with("\"embed_dim\": 16,", ""), "c"); },
               {"missing field 'embed_dim'"});
  expect_error(
      [] {
        hm::HeartMuLaConfig::from_json(tiny_with("\"num_kv_heads\": 1, \"num_layers\": 2, \"rope_base\"",
                                                 "\"num_kv_heads\": 3, \"num_layers\": 2, \"rope_base\""),
                                       "c");
      },
      {"num_kv_heads"});
  expect_error(
      [] { hm::HeartMuLaConfig::from_json(tiny_with("\"audio_vocab_size\": 2053", "\"audio_vocab_size\": -5"), "c"); },
      {"audio_vocab_size", "-5"});
  expect_error([] { hm::HeartMuLaConfig::from_json(tiny_with("\"max_seq_len\": 16", "\"max_seq_len\": 4"), "c"); },
               {"decoder max_seq_len 4", "audio_num_codebooks"});
  expect_error([] { hm::HeartMuLaConfig::from_json("{not json", "broken.json"); }, {"broken.json", "JSON"});
  expect_error([] { hm::HeartMuLaConfig::from_json("[1, 2]", "arr.json"); }, {"arr.json", "object"});
  expect_error([] { hm::HeartMuLaConfig::from_file("/nonexistent/config.json"); }, {"/nonexistent/config.json"});
  // Each size is sane, the total is not a HeartMuLa model.
  expect_error(
      [] {
        hm::HeartMuLaConfig::from_json(
            R"({"backbone_config": {"embed_dim": 65536, "num_layers": 1000, "num_heads": 64, "max_seq_len": 8192,
                 "intermediate_dim": 200000}, "decoder_flavor": "llama-300M"})",
            "c");
      },
      {"billion parameters"});
}

TEST(LmConfig, GenConfig) {
  const auto g = hm::GenConfig::from_json(
      R"({"text_bos_id": 128000, "text_eos_id": 128001, "audio_eos_id": 2049, "empty_id": 0})", "g");
  EXPECT_EQ(g.audio_eos_id, 2049);
  const auto d = hm::GenConfig::from_json("{}", "g");  // upstream defaults
  EXPECT_EQ(d.text_bos_id, 128000);
  EXPECT_EQ(d.audio_eos_id, 8193);
  expect_error([] { hm::GenConfig::from_json(R"({"audio_eos_id": "x"})", "gen_config.json"); },
               {"gen_config.json", "audio_eos_id"});
  const auto c = hm::HeartMuLaConfig::from_json(kTiny, "c");
  EXPECT_NO_THROW(g.validate_against(c));
  expect_error([&] { d.validate_against(c); }, {"audio_eos_id = 8193", "2052"});
}

TEST(LmConfig, ComputeDtypeNames) {
  EXPECT_EQ(hm::parse_lm_precision("fp32"), (hm::LmPrecision{at::kFloat, hm::WeightQuant::None}));
  EXPECT_EQ(hm::parse_lm_precision("bf16"), (hm::LmPrecision{at::kBFloat16, hm::WeightQuant::None}));
  EXPECT_EQ(hm::parse_lm_precision("fp16"), (hm::LmPrecision{at::kHalf, hm::WeightQuant::None}));
  EXPECT_EQ(hm::parse_lm_precision("int8"), (hm::LmPrecision{at::kBFloat16, hm::WeightQuant::Int8}));
  EXPECT_EQ(hm::parse_lm_precision("int8").name(), "int8");
  EXPECT_EQ(hm::parse_lm_precision("bfloat16").name(), "bf16");
  expect_error([] { hm::parse_lm_precision("fp8"); }, {"fp8", "int8"});
}

// A stand-in tokenizer: one id per byte (1000 + byte), nothing added.
std::vector<int64_t> byte_ids(const std::string& s) {
  std::vector<int64_t> ids;
  for (unsigned char c : s) ids.push_back(1000 + c);
  return ids;
}

TEST(LmPrompt, EmptyTagsAndLyricsGiveBosEos) {
  hm::GenConfig g;
  const hm::Prompt p = hm::build_prompt("", "", byte_ids, g, 8);
  const std::vector<int64_t> tags = hm::tags_ids("", byte_ids, g);
  ASSERT_EQ(tags.size(), 2 + std::string("<tag></tag>").size());
  EXPECT_EQ(tags.front(), g.text_bos_id);
  EXPECT_EQ(tags.back(), g.text_eos_id);
  EXPECT_EQ(hm::lyrics_ids("", byte_ids, g), (std::vector<int64_t>{g.text_bos_id, g.text_eos_id}));
  ASSERT_EQ(p.length(), static_cast<int64_t>(tags.size()) + 1 + 2);
  EXPECT_EQ(p.lanes(), 9);
  EXPECT_EQ(p.muq_index, static_cast<int64_t>(tags.size()));
  const int64_t n = p.length();
  EXPECT_EQ(p.tokens[n - 2][8].item<int64_t>(), g.text_bos_id);
  EXPECT_EQ(p.tokens[n - 1][8].item<int64_t>(), g.text_eos_id);
  EXPECT_EQ(p.tokens.narrow(1, 0, 8).abs().sum().item<int64_t>(), 0);  // audio lanes all 0
  EXPECT_EQ(p.tokens[p.muq_index].abs().sum().item<int64_t>(), 0);
  EXPECT_TRUE(p.mask.select(1, 8).all().item<bool>());
  EXPECT_FALSE(p.mask.narrow(1, 0, 8).any().item<bool>());
  EXPECT_EQ(p.tokens.scalar_type(), at::kLong);
  EXPECT_EQ(p.mask.scalar_type(), at::kBool);
}

TEST(LmPrompt, BosEosNotDuplicatedAndTagsWrappedOnce) {
  hm::GenConfig g;
  auto with_bos = [&](const std::string& s) {
    auto ids = byte_ids(s);
    ids.insert(ids.begin(), g.text_bos_id);
    return ids;
  };
  const auto ids = hm::lyrics_ids("ab", with_bos, g);
  EXPECT_EQ(ids, (std::vector<int64_t>{g.text_bos_id, 1000 + 'a', 1000 + 'b', g.text_eos_id}));
  EXPECT_EQ(hm::lyrics_ids("", with_bos, g), (std::vector<int64_t>{g.text_bos_id, g.text_eos_id}));
  std::string seen;
  auto record = [&](const std::string& s) {
    seen = s;
    return byte_ids(s);
  };
  hm::tags_ids("<TAG>Rock, Pop</TAG>", record, g);
  EXPECT_EQ(seen, "<tag>rock, pop</tag>");
  hm::tags_ids("Piano,Happy", record, g);
  EXPECT_EQ(seen, "<tag>piano,happy</tag>");
  hm::tags_ids("<tag>jazz", record, g);
  EXPECT_EQ(seen, "<tag>jazz</tag>");
  hm::lyrics_ids("[Verse]\nHELLO", record, g);
  EXPECT_EQ(seen, "[verse]\nhello");
}

TEST(LmPrompt, LowercaseLikePython) {
  EXPECT_EQ(hm::lowercase_like_python("ABC xyz 123"), "abc xyz 123");
  EXPECT_EQ(hm::lowercase_like_python("ÀÉÎÕÜ ÇÑ"), "àéîõü çñ");
  EXPECT_EQ(hm::lowercase_like_python("ДЕРЕВНЯ"), "деревня");
  EXPECT_EQ(hm::lowercase_like_python("ΟΔΟΣ ΣΑΣ"), "οδος σας");  // final sigma
  EXPECT_EQ(hm::lowercase_like_python("Σ"), "σ");
  EXPECT_EQ(hm::lowercase_like_python("İ"), "i\xcc\x87");
  EXPECT_EQ(hm::lowercase_like_python("夜空中 ẞ Ａ"), "夜空中 ß ａ");
  EXPECT_EQ(hm::lowercase_like_python("a\xff"
                                      "B"),
            "a\xff"
            "b");  // stray bytes kept
}

TEST(LmPrompt, FromTokensValidates) {
  at::Tensor t = at::zeros({3, 9}, at::TensorOptions().dtype(at::kLong));
  EXPECT_EQ(hm::prompt_from_tokens(t, 1).muq_index, 1);
  expect_error([&] { hm::prompt_from_tokens(t, 3); }, {"MuQ slot index 3"});
  expect_error([&] { hm::prompt_from_tokens(at::zeros({9}, t.options()), 0); }, {"[L, N+1]"});
}

}  // namespace
