// libFuzzer target: text::Tokenizer::from_json on arbitrary text; when it loads, a short encode
// and a decode of every id must not crash either.
#include <cstddef>
#include <cstdint>
#include <string>

#include "heartmula/error.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto tok = heartmula::text::Tokenizer::from_json(text, "fuzz.json");
    auto ids = tok.encode("Hello world! <|eot_id|> ab c\n\xc3\xa9", true);
    (void)tok.decode(ids, false);
    (void)tok.decode(ids, true);
    (void)tok.vocab_size();
  } catch (const heartmula::Error&) {
  }
  return 0;
}
