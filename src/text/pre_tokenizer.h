// Pre-tokenizers of tokenizer.json ("pre_tokenizer"): Split (regex or literal, every split
// behaviour, invert), ByteLevel (optional prefix space and GPT-2 regex, then the byte-level
// mapping) and Sequence. They turn a piece of plain text into the words the model encodes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "text/json_util.h"

namespace heartmula::text {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces every piece by the pieces it splits into, dropping empty ones.
  virtual void apply(std::vector<std::string>& pieces) const = 0;

  // nullptr for a null pre_tokenizer. Throws Error naming the type if it is not implemented.
  static std::unique_ptr<PreTokenizer> from_json(const json_util::Json& j, const json_util::Where& at);
};

}  // namespace heartmula::text
