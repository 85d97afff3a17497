// build_prompt over the project's tokenizer (kept apart so the model layer builds without it).
#include "model/prompt.h"
#include "text/tokenizer.h"

namespace heartmula::model {

Prompt build_prompt(const std::string& tags, const std::string& lyrics, const text::Tokenizer& tokenizer,
                    const GenConfig& gen, int64_t num_codebooks) {
  EncodeFn encode = [&tokenizer](const std::string& s) {
    std::vector<int32_t> ids = tokenizer.encode(s);
    return std::vector<int64_t>(ids.begin(), ids.end());
  };
  return build_prompt(tags, lyrics, encode, gen, num_codebooks);
}

}  // namespace heartmula::model
