// The Llama-3 tokenizer against HF tokenizers 0.23 ids (tests/data/tokenizer/*golden*.json):
// the npm tokenizer.json as is, and a Llama-3.2-style variant whose post-processor adds
// <|begin_of_text|> (built here from the npm file and llama32_post_processor.json).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../unit/test_tokenizer_assets.h"
#include "text/tokenizer.h"

namespace {

using heartmula::text::Tokenizer;
using Json = nlohmann::json;
using Ids = std::vector<int32_t>;

const std::string kData = std::string(HEARTMULA_TEST_DATA) + "/tokenizer/";

struct GoldenCase {
  std::string text;
  Ids ids;
  const Json* decoded;  // null when not recorded
};

class TokenizerGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = heartmula::test::llama3_tokenizer_path();
    if (!std::filesystem::is_regular_file(path)) return;
    llama3_ = std::make_unique<Tokenizer>(Tokenizer::from_file(path));
    Json file = Json::parse(heartmula::test::read_text_file(path));
    file["post_processor"] = Json::parse(heartmula::test::read_text_file(kData + "llama32_post_processor.json"));
    llama32_ = std::make_unique<Tokenizer>(Tokenizer::from_json(file.dump(), "llama32 variant of " + path));
  }
  static void TearDownTestSuite() {
    llama3_.reset();
    llama32_.reset();
  }
  void SetUp() override { heartmula::test::require_llama3_tokenizer(); }

  static Json load_golden(const std::string& name) {
    return Json::parse(heartmula::test::read_text_file(kData + name));
  }

  static std::unique_ptr<Tokenizer> llama3_;
  static std::unique_ptr<Tokenizer> llama32_;
};
std::unique_ptr<Tokenizer> TokenizerGolden::llama3_;
std::unique_ptr<Tokenizer> TokenizerGolden::llama32_;

TEST_F(TokenizerGolden, Llama3IdsAndDecode) {
  const Json golden = load_golden("tokenizer_golden.json");
  ASSERT_EQ(golden.size(), 22u);
  for (const Json& c : golden) {
    const std::string text = c["text"];
    const Ids want = c["ids"];
    EXPECT_EQ(llama3_->encode(text), want) << "text: " << text;
    EXPECT_EQ(llama3_->encode(text, false), want) << "text: " << text;  // the post-processor adds nothing
    EXPECT_EQ(llama3_->decode(want), c["decoded"].get<std::string>()) << "text: " << text;
  }
}

TEST_F(TokenizerGolden, Llama32VariantAddsBeginOfText) {
  const Json golden = load_golden("tokenizer_golden_llama32_public.json");
  ASSERT_EQ(golden.size(), 22u);
  for (const Json& c : golden) {
    const std::string text = c["text"];
    const Ids want = c["ids"];
    EXPECT_EQ(llama32_->encode(text), want) << "text: " << text;
    ASSERT_FALSE(want.empty());
    EXPECT_EQ(want[0], 128000);
    EXPECT_EQ(llama32_->encode(text, false), Ids(want.begin() + 1, want.end())) << "text: " << text;
    EXPECT_EQ(llama32_->decode(want), "<|begin_of_text|>" + text) << "text: " << text;
  }
}

TEST_F(TokenizerGolden, Vocabulary) {
  EXPECT_EQ(llama3_->vocab_size(), 128256u);
  EXPECT_EQ(llama3_->token_to_id("<|begin_of_text|>"), 128000);
  EXPECT_EQ(llama3_->token_to_id("<|end_of_text|>"), 128001);
  EXPECT_EQ(llama3_->token_to_id("<|eot_id|>"), 128009);
  EXPECT_EQ(llama3_->id_to_token(128255), "<|reserved_special_token_250|>");
  EXPECT_EQ(llama3_->encode("hello world"), (Ids{15339, 1917}));
  EXPECT_EQ(llama3_->decode({128000, 15339, 1917, 128001}, true), "hello world");
}

TEST_F(TokenizerGolden, RoundTripsRandomText) {
  std::mt19937 rng(7);
  const char* alphabet[] = {"a",      "Z",          " ",   "  ", "\n",      "\r\n",   "\t",       "7",
                            "42",     "'s",         "'LL", "!",  "?!",      ",",      "é",        "ß",
                            "ж",      "夜",         "の",  "사", "🎵",       "❤️", "\xC2\xA0", "\xE1\xA0\x8E",
                            "\u200b", "<|eot_id|>", "<|",  "|>", "[verse]", "ﬁ",      "\xCC\x81"};
  for (int iter = 0; iter < 300; ++iter) {
    std::string s;
    for (int n = rng() % 30; n > 0; --n) s += alphabet[rng() % (sizeof(alphabet) / sizeof(alphabet[0]))];
    EXPECT_EQ(llama3_->decode(llama3_->encode(s)), s);
  }
}

}  // namespace
