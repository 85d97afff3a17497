// libFuzzer target: io::Checkpoint::open on a folder whose model.safetensors.index.json is the
// fuzz input, next to one small valid shard (shard.safetensors holding "a" F32 [2] and "b" I64 [1]).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "heartmula/error.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace {
const std::string& fuzz_dir() {
  static const std::string dir = [] {
    fs::path d = fs::temp_directory_path() / ("heartmula-fuzz-ckpt-" + std::to_string(getpid()));
    fs::create_directories(d);
    heartmula::io::SafetensorsWriter w;
    const float a[2] = {1.0f, 2.0f};
    const int64_t b[1] = {7};
    w.add("a", heartmula::io::DType::F32, {2}, a, sizeof a);
    w.add("b", heartmula::io::DType::I64, {1}, b, sizeof b);
    w.write((d / "shard.safetensors").string());
    return d.string();
  }();
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = fuzz_dir();
  {
    std::ofstream f(dir + "/model.safetensors.index.json", std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    auto ckpt = heartmula::io::Checkpoint::open(dir);
    for (const auto& [name, t] : ckpt.tensors()) (void)t.numel();
    (void)ckpt.total_bytes();
    (void)ckpt.files();
  } catch (const heartmula::Error&) {
  }
  return 0;
}
