// heartmula-tokenize run as a program on the Llama-3 tokenizer.json: ids and decoded text
// compared with the HF goldens, and the exit codes of its error paths.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "../unit/test_tokenizer_assets.h"

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class TokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("heartmula_tokenize_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // Runs the tool with `args` (already quoted), capturing stdout and stderr.
  Result run(const std::string& args) {
    const std::string err = (dir_ / "stderr.txt").string();
    const std::string cmd =
        quote(std::string(HEARTMULA_BIN_DIR) + "/heartmula-tokenize") + " " + args + " 2>" + quote(err);
    Result r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = heartmula::test::read_text_file(err);
    return r;
  }

  fs::path dir_;
};

TEST_F(TokenizeCli, EncodesAndDecodesGoldenTexts) {
  heartmula::test::require_llama3_tokenizer();
  const std::string tok = quote(heartmula::test::llama3_tokenizer_path());
  const Json golden = Json::parse(
      heartmula::test::read_text_file(std::string(HEARTMULA_TEST_DATA) + "/tokenizer/tokenizer_golden.json"));
  // A few of the cases (each run loads the 9 MB file): tags, full lyrics, CJK, specials, edge cases.
  for (const size_t i : {0, 2, 3, 9, 11, 15, 16}) {
    const Json& c = golden.at(i);
    const std::string text_file = quote(write("text.txt", c["text"].get<std::string>()));
    const Result enc = run("--tokenizer " + tok + " --text-file " + text_file);
    ASSERT_EQ(enc.code, 0) << enc.err;
    EXPECT_EQ(Json::parse(enc.out), c["ids"]) << "case " << i;
    EXPECT_EQ(enc.out.back(), '\n');

    const std::string ids_file = quote(write("ids.json", c["ids"].dump()));
    const Result dec = run("--tokenizer " + tok + " --decode --text-file " + ids_file);
    ASSERT_EQ(dec.code, 0) << dec.err;
    EXPECT_EQ(dec.out, c["decoded"].get<std::string>()) << "case " << i;
  }
}

TEST_F(TokenizeCli, IdListsAndFlags) {
  heartmula::test::require_llama3_tokenizer();
  const std::string tok = quote(heartmula::test::llama3_tokenizer_path());
  EXPECT_EQ(run("--tokenizer " + tok + " --text 'hello world'").out, "[15339,1917]\n");
  EXPECT_EQ(run("--tokenizer " + tok + " --decode --text '128000, 15339 1917'").out, "<|begin_of_text|>hello world");
  EXPECT_EQ(run("--tokenizer " + tok + " --decode --no-special --text '[128000,15339,1917]'").out, "hello world");
}

TEST_F(TokenizeCli, ErrorsAndExitCodes) {
  heartmula::test::require_llama3_tokenizer();
  const std::string tok = quote(heartmula::test::llama3_tokenizer_path());
  Result r = run("--text hi");  // no --tokenizer
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  r = run("--tokenizer " + tok);  // no text
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("exactly one of --text and --text-file"), std::string::npos) << r.err;
  r = run("--tokenizer " + quote((dir_ / "missing.json").string()) + " --text hi");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("error: "), std::string::npos);
  EXPECT_NE(r.err.find("missing.json: tokenizer file not found"), std::string::npos) << r.err;
  r = run("--tokenizer " + tok + " --text-file " + quote(write("bad.txt", "ok\xFFno")));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "error: text is not valid UTF-8 at byte 2\n");
  r = run("--tokenizer " + tok + " --decode --text '1, x'");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("'x' is not a token id"), std::string::npos) << r.err;
  r = run("--tokenizer " + tok + " --decode --text 999999");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("999999"), std::string::npos) << r.err;
}

}  // namespace
