// The prompt rows fed to the backbone (upstream HeartMuLaGenPipeline.preprocess):
//   [tags ids][one MuQ slot][lyrics ids], N+1 lanes per row (lanes 0..N-1 audio codes, all 0
//   here; lane N the text id), mask true on the text lane only.
// Tags are lowercased and wrapped in "<tag>...</tag>" (plain text) unless already wrapped;
// lyrics are lowercased. Each part gets text_bos prepended / text_eos appended unless its
// encoding already starts / ends with them. Empty text gives [bos, eos] (upstream crashes).
#pragma once

#include <ATen/core/Tensor.h>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/config.h"

namespace heartmula::text {
class Tokenizer;
}

namespace heartmula::model {

struct Prompt {
  at::Tensor tokens;       // [L, N+1] int64, CPU
  at::Tensor mask;         // [L, N+1] bool, CPU
  int64_t muq_index = -1;  // row of the MuQ slot; -1: none

  int64_t length() const { return tokens.defined() ? tokens.size(0) : 0; }
  int64_t lanes() const { return tokens.defined() ? tokens.size(1) : 0; }
};

using EncodeFn = std::function<std::vector<int64_t>(const std::string&)>;

// Python's str.lower() on UTF-8 text (full Unicode lowercase mapping, final sigma included).
std::string lowercase_like_python(const std::string& text);

// The token ids of one part (after lowercasing/wrapping), with the BOS/EOS rule applied.
std::vector<int64_t> tags_ids(const std::string& tags, const EncodeFn& encode, const GenConfig& gen);
std::vector<int64_t> lyrics_ids(const std::string& lyrics, const EncodeFn& encode, const GenConfig& gen);

// Builds the prompt from the tags and lyrics text (already read from files by the caller).
Prompt build_prompt(const std::string& tags, const std::string& lyrics, const EncodeFn& encode, const GenConfig& gen,
                    int64_t num_codebooks = 8);
// Same with the project's tokenizer (tokenizer.json).
Prompt build_prompt(const std::string& tags, const std::string& lyrics, const text::Tokenizer& tokenizer,
                    const GenConfig& gen, int64_t num_codebooks = 8);

// A prompt from ready rows (e.g. a fixture's prompt_tokens): tokens [L, N+1] int64,
// mask true on the text lane, MuQ slot at `muq_index`.
Prompt prompt_from_tokens(const at::Tensor& tokens, int64_t muq_index);

}  // namespace heartmula::model
