// Decoders of tokenizer.json ("decoder"): ByteLevel (tokens -> bytes -> text, ill-formed UTF-8
// replaced by U+FFFD as HF does); a null decoder joins the tokens with spaces, as HF does.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "text/json_util.h"

namespace heartmula::text {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual std::string decode(const std::vector<std::string_view>& tokens) const = 0;

  // A null decoder gives the space-joining one. Throws Error naming an unsupported type.
  static std::unique_ptr<Decoder> from_json(const json_util::Json& j, const json_util::Where& at);
};

}  // namespace heartmula::text
