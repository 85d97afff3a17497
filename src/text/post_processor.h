// Post-processors of tokenizer.json ("post_processor"): ByteLevel (offsets only, so nothing to
// do on ids), TemplateProcessing (the "single" template, e.g. <|begin_of_text|> $A) and Sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "text/json_util.h"

namespace heartmula::text {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Rewrites the ids of one encoded sequence; special tokens only when add_special_tokens.
  virtual void apply(std::vector<int32_t>& ids, bool add_special_tokens) const = 0;

  // nullptr for a null post_processor. Throws Error naming the type if it is not implemented.
  static std::unique_ptr<PostProcessor> from_json(const json_util::Json& j, const json_util::Where& at);
};

}  // namespace heartmula::text
