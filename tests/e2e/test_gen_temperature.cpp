// --temperature START[:END[:linear|cosine]]: the temperature moves from START to END over the
// song's frame limit. A constant schedule ("1.0:1.0") must give the bytes of the plain number;
// a real schedule runs (command line and batch file) and is reported; bad texts are usage
// errors naming the flag and the text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "gen_test_util.h"

namespace {

namespace ht = heartmula::test;
using Json = nlohmann::json;

using ht::last_json_line;

class GenTemperature : public ::testing::Test {
 protected:
  void SetUp() override {
    ckpt_ = ht::gen_checkpoint();
    ASSERT_FALSE(ckpt_.empty());
  }
  // A 2-second song (26 frames), one thread, seed 5, EOS ignored.
  std::vector<std::string> args(std::vector<std::string> extra) const {
    std::vector<std::string> a = {
        "--model-path",  ckpt_, "--lyrics",  "la la la", "--tags", "piano", "--duration", "2",      "--ignore-eos",
        "--codec-steps", "1",   "--threads", "1",        "--seed", "5",     "--json",     "--quiet"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  ht::GenResult gen(std::vector<std::string> extra) {
    return ht::run_gen(args(std::move(extra)), dir_.path(), logs_.path());
  }
  std::vector<int64_t> codes(const std::string& name) {
    return ht::read_safetensors_tensor(dir_.file(name), "frames").values;
  }
  std::string ckpt_;
  ht::ScratchDir dir_{"e2e-temperature"};
  ht::ScratchDir logs_{"e2e-temperature-logs"};
};

// "1.0:1.0" is the constant 1.0: the same codes, the same MP3 and WAV, byte for byte.
TEST_F(GenTemperature, AConstantScheduleGivesTheNumbersBytes) {
  for (const char* ext : {"mp3", "wav"}) {
    SCOPED_TRACE(ext);
    const std::string e = ext;
    const ht::GenResult a =
        gen({"--temperature", "1.0", "-o", dir_.file("a." + e), "--codes-out", dir_.file("a-" + e + ".safetensors")});
    ASSERT_EQ(a.code, 0) << a.err;
    const ht::GenResult b = gen(
        {"--temperature", "1.0:1.0", "-o", dir_.file("b." + e), "--codes-out", dir_.file("b-" + e + ".safetensors")});
    ASSERT_EQ(b.code, 0) << b.err;
    EXPECT_EQ(codes("a-" + e + ".safetensors"), codes("b-" + e + ".safetensors"));
    const std::string fa = ht::read_file(dir_.file("a." + e)), fb = ht::read_file(dir_.file("b." + e));
    EXPECT_GT(fa.size(), 1000u);
    EXPECT_TRUE(fa == fb) << "the files differ";
    EXPECT_EQ(last_json_line(b.out)["settings"]["temperature_schedule"], "1:1:linear");
    EXPECT_EQ(last_json_line(a.out)["settings"]["temperature_schedule"], "1");
  }
}

// A schedule runs and changes the song after its first frame (frame 0 samples at START).
TEST_F(GenTemperature, AScheduleRunsAndIsReported) {
  const ht::GenResult constant = gen({"--temperature", "1.5", "--no-audio", "--codes-out", dir_.file("c.safetensors")});
  ASSERT_EQ(constant.code, 0) << constant.err;
  const ht::GenResult cosine =
      gen({"--temperature", "1.5:0.3:cosine", "-o", dir_.file("s.mp3"), "--codes-out", dir_.file("s.safetensors")});
  ASSERT_EQ(cosine.code, 0) << cosine.err;
  const std::vector<int64_t> c = codes("c.safetensors"), s = codes("s.safetensors");
  ASSERT_EQ(c.size(), s.size());
  ASSERT_EQ(c.size(), 26u * 8u);
  EXPECT_TRUE(std::equal(c.begin(), c.begin() + 8, s.begin())) << "frame 0 is sampled at START";
  EXPECT_NE(c, s) << "the schedule changed nothing";
  const Json j = last_json_line(cosine.out);
  EXPECT_EQ(j["settings"]["temperature"], 1.5);
  EXPECT_EQ(j["settings"]["temperature_schedule"], "1.5:0.3:cosine");
  const Json side = Json::parse(ht::read_file(dir_.file("s.json")));  // the sidecar says the same
  EXPECT_EQ(side["settings"]["temperature_schedule"], "1.5:0.3:cosine");
  // Linear (the default shape) is another song again, the same on every run.
  const ht::GenResult lin = gen({"--temperature", "1.5:0.3", "--no-audio", "--codes-out", dir_.file("l.safetensors")});
  ASSERT_EQ(lin.code, 0) << lin.err;
  EXPECT_EQ(last_json_line(lin.out)["settings"]["temperature_schedule"], "1.5:0.3:linear");
  EXPECT_NE(codes("l.safetensors"), s);
  const ht::GenResult again =
      gen({"--temperature", "1.5:0.3:linear", "--no-audio", "--codes-out", dir_.file("l2.safetensors")});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(codes("l2.safetensors"), codes("l.safetensors"));
}

// A batch file's "temperature" takes the same text: each line's song equals the command line's
// (a line's seed is its own: given on each line).
TEST_F(GenTemperature, BatchFileLinesTakeTheSameText) {
  const ht::GenResult cli =
      gen({"--temperature", "1.5:0.3:cosine", "--no-audio", "--codes-out", dir_.file("cli.safetensors")});
  ASSERT_EQ(cli.code, 0) << cli.err;
  ht::write_file(dir_.file("b.jsonl"), "{\"seed\": 5, \"temperature\": \"1.5:0.3:cosine\", \"codes_out\": \"" +
                                           dir_.file("b1.safetensors") +
                                           "\"}\n"
                                           "{\"seed\": 5, \"temperature\": 1.5, \"codes_out\": \"" +
                                           dir_.file("b2.safetensors") +
                                           "\"}\n"
                                           "{\"temperature\": \"1.5:0.3:cubic\", \"codes_out\": \"" +
                                           dir_.file("b3.safetensors") + "\"}\n");
  const ht::GenResult b = gen({"--batch", dir_.file("b.jsonl"), "--no-audio"});
  EXPECT_EQ(b.code, 1) << "line 3 fails: " << b.err;
  EXPECT_EQ(codes("b1.safetensors"), codes("cli.safetensors"));
  EXPECT_NE(codes("b2.safetensors"), codes("cli.safetensors"));
  EXPECT_NE(b.err.find("error: " + dir_.file("b.jsonl") +
                       ":3: 'temperature' must be START[:END[:linear|cosine]] with START and END numbers in [0.01, "
                       "100]. Given: 1.5:0.3:cubic\n"),
            std::string::npos)
      << b.err;
  // The place once: the error line (--quiet leaves out the summary's "failed:" line).
  const std::string place = dir_.file("b.jsonl") + ":3:";
  size_t n = 0;
  for (size_t at = b.err.find(place); at != std::string::npos; at = b.err.find(place, at + 1)) ++n;
  EXPECT_EQ(n, 1u) << b.err;
}

// Bad texts: exit 2 before anything is loaded, the flag and the text named.
TEST_F(GenTemperature, BadTextsAreUsageErrors) {
  const std::string schedule = "must be START[:END[:linear|cosine]] with START and END numbers in [0.01, 100]. Given: ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"1.0:", "--temperature " + schedule + "1.0:"},
      {"a:b", "--temperature " + schedule + "a:b"},
      {"1:2:cubic", "--temperature " + schedule + "1:2:cubic"},
      {"1:2:linear:4", "--temperature " + schedule + "1:2:linear:4"},
      {":1", "--temperature " + schedule + ":1"},
      {"1:0.001", "--temperature " + schedule + "1:0.001"},
      {"0:1", "--temperature " + schedule + "0:1"},
      {"1e3", "--temperature must be a number in [0.01, 100]. Given: 1e3"},
  };
  for (const auto& [text, message] : cases) {
    SCOPED_TRACE(text);
    const ht::GenResult r =
        ht::run_gen({"--model-path", dir_.file("nothing-here"), "--temperature", text, "-o", dir_.file("x.mp3")},
                    dir_.path(), logs_.path());
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_EQ(r.err, "error: " + message + "\n");
  }
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{});
}

}  // namespace
