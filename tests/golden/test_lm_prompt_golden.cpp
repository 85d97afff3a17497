// The prompt built from cases.json's tags and lyrics with the real Llama-3 tokenizer equals the
// reference's prompt_tokens (tests/data/lm/mula_*.safetensors), with the npm tokenizer (no BOS
// added by its post-processor) and with the Llama-3.2-style one that adds <|begin_of_text|>.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "../unit/test_tokenizer_assets.h"
#include "io/torch_tensors.h"
#include "model/prompt.h"
#include "text/tokenizer.h"

namespace hm = heartmula::model;
using heartmula::text::Tokenizer;

namespace {

const std::string kData = HEARTMULA_TEST_DATA;

class LmPromptGolden : public ::testing::Test {
 protected:
  void SetUp() override {
    heartmula::test::require_llama3_tokenizer();
    std::ifstream in(kData + "/lm/cases.json");
    cases_ = nlohmann::json::parse(in);
    gen_ = hm::GenConfig::from_file(kData + "/ckpt/gen_config.json");
  }
  void expect_all_cases(const Tokenizer& tok) {
    const hm::Prompt p =
        hm::build_prompt(cases_["tags"].get<std::string>(), cases_["lyrics"].get<std::string>(), tok, gen_, 8);
    for (const auto& [name, c] : cases_["cases"].items()) {
      const auto t = heartmula::io::load_all_tensors(kData + "/lm/mula_" + name + ".safetensors");
      const at::Tensor& ref = t.at("prompt_tokens");
      ASSERT_EQ(p.tokens.sizes(), ref.sizes()) << name;
      EXPECT_TRUE(p.tokens.equal(ref)) << name << ": prompt differs in " << p.tokens.ne(ref).sum().item<int64_t>()
                                       << " entries";
      EXPECT_EQ(p.length(), c["prompt_len"].get<int64_t>());
    }
    // The MuQ slot follows the tags' text_eos; only the text lane is unmasked.
    EXPECT_EQ(p.tokens[p.muq_index - 1][8].item<int64_t>(), gen_.text_eos_id);
    EXPECT_EQ(p.tokens[p.muq_index].abs().sum().item<int64_t>(), 0);
    EXPECT_EQ(p.mask.sum().item<int64_t>(), p.length());
    EXPECT_TRUE(p.mask.select(1, 8).all().item<bool>());
  }
  nlohmann::json cases_;
  hm::GenConfig gen_;
};

TEST_F(LmPromptGolden, NpmLlama3TokenizerGivesReferencePrompt) {
  expect_all_cases(Tokenizer::from_file(heartmula::test::llama3_tokenizer_path()));
}

TEST_F(LmPromptGolden, BosAddingTokenizerGivesTheSamePrompt) {
  const std::string path = heartmula::test::llama3_tokenizer_path();
  auto file = nlohmann::json::parse(heartmula::test::read_text_file(path));
  file["post_processor"] =
      nlohmann::json::parse(heartmula::test::read_text_file(kData + "/tokenizer/llama32_post_processor.json"));
  const Tokenizer tok = Tokenizer::from_json(file.dump(), "llama32 variant of " + path);
  ASSERT_EQ(tok.encode("x").front(), gen_.text_bos_id);
  expect_all_cases(tok);
}

TEST_F(LmPromptGolden, InstrumentalPromptWithTheRealTokenizer) {
  const Tokenizer tok = Tokenizer::from_file(heartmula::test::llama3_tokenizer_path());
  const hm::Prompt p = hm::build_prompt("piano", "", tok, gen_, 8);
  const int64_t n = p.length();
  EXPECT_EQ(p.tokens[n - 2][8].item<int64_t>(), gen_.text_bos_id);
  EXPECT_EQ(p.tokens[n - 1][8].item<int64_t>(), gen_.text_eos_id);
  EXPECT_EQ(p.muq_index, n - 3);
}

}  // namespace
