// libFuzzer target: the real Llama-3 tokenizer (loaded once from $HEARTMULA_TOKENIZER or
// <repo>/.cache/llama3/tokenizer.json) encoding arbitrary bytes, invalid UTF-8 included.
// Valid input must round-trip through decode; invalid UTF-8 must be an Error.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "heartmula/error.h"
#include "text/tokenizer.h"

namespace {
const heartmula::text::Tokenizer& tokenizer() {
  static const heartmula::text::Tokenizer tok = [] {
    const char* env = std::getenv("HEARTMULA_TOKENIZER");
    const std::string path = env ? env : HEARTMULA_TEST_CACHE "/llama3/tokenizer.json";
    try {
      return heartmula::text::Tokenizer::from_file(path);
    } catch (const heartmula::Error& e) {
      std::fprintf(stderr, "fuzz_tokenizer_encode: %s\n(set HEARTMULA_TOKENIZER)\n", e.what());
      std::abort();
    }
  }();
  return tok;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& tok = tokenizer();
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto ids = tok.encode(text, size % 2 == 0);
    const std::string back = tok.decode(ids, size % 2 == 0);
    // Without special tokens added, decode(encode(x)) == x for byte-level BPE.
    if (size % 2 == 1 && back != text) __builtin_trap();
  } catch (const heartmula::Error&) {
  }
  return 0;
}
