// The numeric song parameters are checked through one table (runtime/song_params.h): the same
// bad value gets the same message from the command line (the real heartmula-gen), a batch-file
// line (runtime::parse_batch_line) and SongRequest::validate(); only the name in front differs
// (the flag, or the key the batch file used).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "gen_test_util.h"
#include "heartmula/error.h"
#include "heartmula/generation.h"
#include "runtime/batch_file.h"
#include "runtime/song_params.h"

namespace {

namespace ht = heartmula::test;
using heartmula::SongRequest;
using heartmula::UsageError;

std::string verbatim(const std::string& value, const std::string&) { return value; }

// The UsageError message of `f` ("" if it throws none).
std::string usage_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

struct BadValue {
  std::string flag, key, text;            // as typed on the command line and in a batch file
  std::function<void(SongRequest&)> set;  // the same value in a SongRequest, set by hand
  std::string core;                       // the message after the name
};

TEST(SongParams, TheSameBadValueGetsTheSameMessageOnEveryPath) {
  const std::vector<BadValue> cases = {
      {"--temperature", "temperature", "0.001", [](SongRequest& r) { r.temperature = 0.001; },
       "must be a number in [0.01, 100]. Given: 0.001"},
      {"--temperature", "temperature", "150", [](SongRequest& r) { r.temperature = 150; },
       "must be a number in [0.01, 100]. Given: 150"},
      {"--topk", "topk", "0", [](SongRequest& r) { r.topk = 0; }, "must be an integer in [1, 1000000]. Given: 0"},
      {"--topk", "topk", "1000001", [](SongRequest& r) { r.topk = 1000001; },
       "must be an integer in [1, 1000000]. Given: 1000001"},
      {"--cfg-scale", "cfg_scale", "-1", [](SongRequest& r) { r.cfg_scale = -1; },
       "must be a number in [0, 100]. Given: -1"},
      {"--cfg-scale", "cfg_scale", "100.5", [](SongRequest& r) { r.cfg_scale = 100.5; },
       "must be a number in [0, 100]. Given: 100.5"},
      {"--codec-steps", "codec_steps", "1001", [](SongRequest& r) { r.codec_steps = 1001; },
       "must be an integer in [1, 1000]. Given: 1001"},
      {"--codec-guidance", "codec_guidance", "-0.5", [](SongRequest& r) { r.codec_guidance = -0.5; },
       "must be a number in [0, 100]. Given: -0.5"},
      {"--mp3-bitrate", "mp3_bitrate", "7", [](SongRequest& r) { r.mp3_bitrate_kbps = 7; },
       "must be an integer in [8, 320]. Given: 7"},
      {"--max-audio-length-ms", "max_audio_length_ms", "79", [](SongRequest& r) { r.max_audio_length_ms = 79; },
       "must be an integer in [80, 3600000]. Given: 79"},
  };
  ht::ScratchDir dir("song-params"), logs("song-params-logs");
  for (const BadValue& c : cases) {
    SCOPED_TRACE(c.flag + " " + c.text);
    // Command line: refused before anything is loaded (no checkpoint needed), exit 2.
    const ht::GenResult cli = ht::run_gen({c.flag, c.text}, dir.path(), logs.path());
    EXPECT_EQ(cli.code, 2) << cli.err;
    EXPECT_EQ(cli.err, "error: " + c.flag + " " + c.core + "\n");
    // Batch file: the place, then the key.
    const std::string batch = usage_error_of([&] {
      heartmula::runtime::parse_batch_line("{\"" + c.key + "\": " + c.text + "}", {}, "b.jsonl:1", verbatim);
    });
    EXPECT_EQ(batch, "b.jsonl:1: '" + c.key + "' " + c.core);
    // Library: SongRequest::validate() on an otherwise valid request.
    SongRequest r;
    r.no_audio = true;
    r.codes_out = dir.file("c.safetensors");
    EXPECT_NO_THROW(r.validate());
    c.set(r);
    EXPECT_EQ(usage_error_of([&] { r.validate(); }), c.flag + " " + c.core);
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{}) << "a refused value left files";
}

// The underscore spellings of upstream are the same parameter, with the same message.
TEST(SongParams, UnderscoreSpellingsAreCheckedToo) {
  ht::ScratchDir dir("song-params-underscore");
  const ht::GenResult r = ht::run_gen({"--cfg_scale", "101"}, dir.path(), dir.path());
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(r.err, "error: --cfg-scale must be a number in [0, 100]. Given: 101\n");
  const ht::GenResult t = ht::run_gen({"--topk", "1.5"}, dir.path(), dir.path());
  EXPECT_EQ(t.code, 2) << t.err;
  EXPECT_EQ(t.err, "error: --topk must be an integer in [1, 1000000]. Given: 1.5\n");
  const ht::GenResult n = ht::run_gen({"--temperature", "warm"}, dir.path(), dir.path());
  EXPECT_EQ(n.code, 2) << n.err;
  EXPECT_EQ(n.err, "error: --temperature must be a number in [0.01, 100]. Given: warm\n");
}

// SongRequest::validate() used to check only "> 0": a library caller got temperature 0.005
// through, which the command line refused.
TEST(SongParams, ValidateRefusesTemperatureBelowTheLimit) {
  ht::ScratchDir dir("song-params-validate");
  SongRequest r;
  r.no_audio = true;
  r.codes_out = dir.file("c.safetensors");
  r.temperature = 0.005;
  EXPECT_EQ(usage_error_of([&] { r.validate(); }), "--temperature must be a number in [0.01, 100]. Given: 0.005");
  r.temperature = 0.01;  // the limit itself is allowed
  EXPECT_NO_THROW(r.validate());
  r.temperature = 100;
  EXPECT_NO_THROW(r.validate());
}

// A temperature schedule's START and END have the table's temperature limits on every path.
TEST(SongParams, TemperatureScheduleEndsAreCheckedThroughTheTable) {
  ht::ScratchDir dir("song-params-schedule"), logs("song-params-schedule-logs");
  const std::string core =
      "must be START[:END[:linear|cosine]] with START and END numbers in [0.01, 100]. Given: 1:150";
  const ht::GenResult cli = ht::run_gen({"--temperature", "1:150"}, dir.path(), logs.path());
  EXPECT_EQ(cli.code, 2) << cli.err;
  EXPECT_EQ(cli.err, "error: --temperature " + core + "\n");
  EXPECT_EQ(usage_error_of([&] {
              heartmula::runtime::parse_batch_line(R"({"temperature": "1:150"})", {}, "b.jsonl:1", verbatim);
            }),
            "b.jsonl:1: 'temperature' " + core);
  SongRequest r;
  r.no_audio = true;
  r.codes_out = dir.file("c.safetensors");
  r.temperature_end = 0.5;
  EXPECT_NO_THROW(r.validate());
  r.temperature_end = 150;  // the library gets the table's message for the END value
  EXPECT_EQ(usage_error_of([&] { r.validate(); }), "--temperature must be a number in [0.01, 100]. Given: 150");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{});
}

// Limits are printed as people write them.
TEST(SongParams, NumbersArePrintedAsPeopleWriteThem) {
  using heartmula::runtime::format_number;
  EXPECT_EQ(format_number(0.01), "0.01");
  EXPECT_EQ(format_number(100), "100");
  EXPECT_EQ(format_number(0.08), "0.08");
  EXPECT_EQ(format_number(3600000), "3600000");
  EXPECT_EQ(format_number(-0.5), "-0.5");
  EXPECT_EQ(format_number(1e20), "1e+20");
  EXPECT_EQ(format_number(0.1 + 0.2), "0.30000000000000004");
}

// The --help text shows each parameter's limits and SongRequest's default.
TEST(SongParams, HelpShowsTheTablesLimitsAndDefaults) {
  ht::ScratchDir dir("song-params-help");
  const ht::GenResult h = ht::run_gen({"--help"}, dir.path(), dir.path());
  ASSERT_EQ(h.code, 0) << h.err;
  for (const heartmula::runtime::SongParam& p : heartmula::runtime::song_params()) {
    SCOPED_TRACE(p.key);
    const std::string limits = std::string(p.integer ? "INT" : "FLOAT") + " in [" +
                               heartmula::runtime::format_number(p.lo) + ", " +
                               heartmula::runtime::format_number(p.hi) + "]";
    const std::string expect = std::string(p.flags) + " " + limits + (p.get ? "=" + p.default_text() : "");
    EXPECT_NE(h.out.find(expect), std::string::npos) << "no '" << expect << "' in:\n" << h.out;
  }
  EXPECT_NE(h.out.find("--temperature FLOAT in [0.01, 100]=1 "), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("--cfg-scale,--cfg_scale FLOAT in [0, 100]=1.5"), std::string::npos) << h.out;
}

}  // namespace
