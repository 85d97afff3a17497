// libFuzzer target: io::parse_safetensors_header on arbitrary bytes (a whole safetensors file:
// u64 header length, JSON header, data). Any heartmula::Error is a correct refusal; anything
// else (crash, sanitizer report, other exception) is a bug.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "heartmula/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::map<std::string, heartmula::io::TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  try {
    heartmula::io::parse_safetensors_header("fuzz.safetensors", data, size, tensors, metadata);
    // Whatever was accepted must lie inside the input.
    for (const auto& [name, t] : tensors) {
      if (t.nbytes > 0 && (t.data < data || t.data + t.nbytes > data + size)) __builtin_trap();
      (void)t.numel();
      (void)t.shape_str();
    }
  } catch (const heartmula::Error&) {
  }
  return 0;
}
