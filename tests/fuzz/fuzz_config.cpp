// libFuzzer target: the JSON config parsers on arbitrary text: the LM's config.json
// (model::HeartMuLaConfig), gen_config.json (model::GenConfig) and the codec's config.json
// (codec::HeartCodecConfig, which only reads files, so the input goes through a temp file).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "codec/config.h"
#include "heartmula/error.h"
#include "model/config.h"

namespace {
const std::string& codec_path() {
  static const std::string p =
      (std::filesystem::temp_directory_path() / ("heartmula-fuzz-codec-" + std::to_string(getpid()) + ".json"))
          .string();
  return p;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  heartmula::model::HeartMuLaConfig lm;
  bool lm_ok = false;
  try {
    lm = heartmula::model::HeartMuLaConfig::from_json(text, "fuzz");
    lm_ok = true;
  } catch (const heartmula::Error&) {
  }
  try {
    auto gen = heartmula::model::GenConfig::from_json(text, "fuzz");
    if (lm_ok) gen.validate_against(lm);
  } catch (const heartmula::Error&) {
  }
  {
    std::ofstream f(codec_path(), std::ios::binary | std::ios::trunc);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  try {
    (void)heartmula::codec::HeartCodecConfig::from_file(codec_path());
  } catch (const heartmula::Error&) {
  }
  return 0;
}
