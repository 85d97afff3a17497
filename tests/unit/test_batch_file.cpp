// runtime::parse_batch_line: one line of a --batch file -> SongRequest, or a UsageError naming
// the place (FILE:LINE) and the key. Every key, every type and range check, hostile lines.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "heartmula/error.h"
#include "runtime/batch_file.h"

namespace {

using heartmula::Error;
using heartmula::read_text_arg;
using heartmula::SongRequest;
using heartmula::UsageError;
using heartmula::runtime::is_blank_batch_line;
using heartmula::runtime::parse_batch_line;
using heartmula::runtime::TextArgReader;

const std::string kWhere = "songs.jsonl:7";

// The value itself, no file look-ups (what the fuzzer uses too).
std::string verbatim(const std::string& value, const std::string&) { return value; }

SongRequest parse(const std::string& line, const SongRequest& base = {}) {
  return parse_batch_line(line, base, kWhere, verbatim);
}

// The message of the UsageError that `line` throws ("" if it parses).
std::string error_of(const std::string& line) {
  try {
    parse(line);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(BatchFile, EveryKeyIsRead) {
  const SongRequest s =
      parse(R"({"lyrics": "la", "tags": "pop", "seed": 42, "save_path": "a.wav", "max_audio_length_ms": 5000,)"
            R"( "temperature": 0.9, "topk": 30, "cfg_scale": 2, "ignore_eos": true, "codec_steps": 4,)"
            R"( "codec_guidance": 1.5, "codes_out": "a.safetensors", "mp3_bitrate": 192, "overwrite": true})");
  EXPECT_EQ(s.lyrics, "la");
  EXPECT_EQ(s.tags, "pop");
  ASSERT_TRUE(s.seed.has_value());
  EXPECT_EQ(*s.seed, 42u);
  EXPECT_EQ(s.save_path, "a.wav");
  EXPECT_EQ(s.max_audio_length_ms, 5000);
  EXPECT_DOUBLE_EQ(s.temperature, 0.9);
  EXPECT_EQ(s.topk, 30);
  EXPECT_DOUBLE_EQ(s.cfg_scale, 2.0);
  EXPECT_TRUE(s.ignore_eos);
  EXPECT_EQ(s.codec_steps, 4);
  EXPECT_DOUBLE_EQ(s.codec_guidance, 1.5);
  EXPECT_EQ(s.codes_out, "a.safetensors");
  EXPECT_EQ(s.mp3_bitrate_kbps, 192);
  EXPECT_TRUE(s.overwrite);
}

TEST(BatchFile, MissingKeysKeepTheBaseButNotItsSeed) {
  SongRequest base;
  base.lyrics = "base lyrics";
  base.tags = "base tags";
  base.seed = 9;
  base.topk = 7;
  base.save_path = "base.mp3";
  const SongRequest s = parse("{}", base);
  EXPECT_EQ(s.lyrics, "base lyrics");
  EXPECT_EQ(s.tags, "base tags");
  EXPECT_FALSE(s.seed.has_value()) << "each line gets its own random seed unless it names one";
  EXPECT_EQ(s.topk, 7);
  EXPECT_EQ(s.save_path, "base.mp3");
}

TEST(BatchFile, AliasesDurationAndComments) {
  EXPECT_EQ(parse(R"({"save-path": "x.wav"})").save_path, "x.wav");
  EXPECT_EQ(parse(R"({"output": "y.wav"})").save_path, "y.wav");
  EXPECT_EQ(parse(R"({"duration": 1.5})").max_audio_length_ms, 1500);
  EXPECT_EQ(parse("{\"seed\": 1, // a comment\n \"topk\": 2 /* another */}").topk, 2);
  EXPECT_EQ(*parse(R"({"seed": 18446744073709551615})").seed, UINT64_MAX);
  EXPECT_EQ(*parse(R"({"seed": 0})").seed, 0u);
  EXPECT_EQ(parse(R"({"max_audio_length_ms": 80})").max_audio_length_ms, 80);
  EXPECT_EQ(parse(R"({"mp3_bitrate": 320})").mp3_bitrate_kbps, 320);
}

TEST(BatchFile, BlankLines) {
  EXPECT_TRUE(is_blank_batch_line(""));
  EXPECT_TRUE(is_blank_batch_line(" \t\r"));
  EXPECT_FALSE(is_blank_batch_line(" {}"));
  EXPECT_FALSE(is_blank_batch_line("\v")) << "not blank: an error for the parser to report";
}

// Each bad line -> the place and the key (or what is wrong) in the message.
TEST(BatchFile, WrongTypesAndRangesNameThePlaceAndTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"topk": 1e20})", "'topk' must be an integer in [1, 1000000]. Given: 1e+20"},
      {R"({"topk": 1.5})", "'topk' must be an integer"},
      {R"({"topk": 0})", "'topk' must be an integer"},
      {R"({"topk": "5"})", "'topk' must be an integer"},
      {R"({"topk": 18446744073709551615})", "'topk' must be an integer"},
      {R"({"topk": -9223372036854775808})", "'topk' must be an integer"},
      {R"({"duration": 1e300})", "'duration' must be a number in [0.08, 3600]. Given: 1e+300"},
      {R"({"duration": 0.01})", "'duration' must be a number"},
      {R"({"duration": "30"})", "'duration' must be a number"},
      {R"({"seed": -5})", "'seed' must be an integer"},
      {R"({"seed": 1.0})", "'seed' must be an integer"},
      {R"({"seed": null})", "'seed' must be an integer"},
      {R"({"max_audio_length_ms": 79})", "'max_audio_length_ms' must be an integer"},
      {R"({"max_audio_length_ms": 3600001})", "'max_audio_length_ms' must be an integer"},
      {R"({"temperature": 0})", "'temperature' must be a number"},
      {R"({"temperature": 1e309})", ""},  // out of double range: nlohmann's parse error
      {R"({"cfg_scale": -1})", "'cfg_scale' must be a number"},
      {R"({"codec_steps": 1001})", "'codec_steps' must be an integer"},
      {R"({"codec_guidance": [1]})", "'codec_guidance' must be a number"},
      {R"({"mp3_bitrate": 7})", "'mp3_bitrate' must be an integer"},
      {R"({"ignore_eos": "yes"})", "'ignore_eos' must be true or false"},
      {R"({"ignore_eos": 1})", "'ignore_eos' must be true or false"},
      {R"({"overwrite": null})", "'overwrite' must be true or false"},
      {R"({"save_path": 5})", "'save_path' must be a string"},
      {R"({"codes_out": {}})", "'codes_out' must be a string"},
      {R"({"lyrics": 7})", "'lyrics' must be a string"},
      {R"({"tags": ["a"]})", "'tags' must be a string"},
      {R"({"colour": "blue"})", "unknown key 'colour'"},
      {R"({"": 1})", "unknown key ''"},
      {R"([1, 2])", "not a JSON object"},
      {R"("text")", "not a JSON object"},
      {"null", "not a JSON object"},
      {"{", "parse error"},
      {"{\"lyrics\": \"a\"} {}", "parse error"},
      {"{\"lyrics\": \"\xff\"}", "parse error"},  // invalid UTF-8
      {"{\"lyrics\": \"a\u0000b\"}", ""},         // NUL escape: valid JSON, accepted
      {"   ", "parse error"},
  };
  for (const auto& [line, needle] : cases) {
    SCOPED_TRACE(line);
    const std::string err = error_of(line);
    if (std::string(needle).empty() && err.empty()) continue;
    ASSERT_FALSE(err.empty()) << "accepted";
    EXPECT_EQ(err.rfind(kWhere + ": ", 0), 0u) << err;
    EXPECT_EQ(err.find(kWhere, kWhere.size()), std::string::npos) << "the place twice: " << err;
    EXPECT_NE(err.find(needle), std::string::npos) << err;
  }
}

// "temperature" takes a number or the text --temperature takes (START:END[:linear|cosine]).
TEST(BatchFile, TemperatureScheduleAsText) {
  SongRequest s = parse(R"({"temperature": "1.2:0.8:cosine"})");
  EXPECT_EQ(s.temperature, 1.2);
  ASSERT_TRUE(s.temperature_end.has_value());
  EXPECT_EQ(*s.temperature_end, 0.8);
  EXPECT_EQ(s.temperature_shape, heartmula::TemperatureShape::cosine);
  s = parse(R"({"temperature": "1:0.5"})");  // linear unless given
  EXPECT_EQ(s.temperature_shape, heartmula::TemperatureShape::linear);
  EXPECT_EQ(*s.temperature_end, 0.5);
  s = parse(R"({"temperature": "0.7"})");  // one number as text: constant
  EXPECT_EQ(s.temperature, 0.7);
  EXPECT_FALSE(s.temperature_end.has_value());
  // A number on the line replaces a schedule of the base (the command line's) as a whole.
  SongRequest base;
  base.temperature = 1.3, base.temperature_end = 0.6, base.temperature_shape = heartmula::TemperatureShape::cosine;
  s = parse(R"({"temperature": 0.9})", base);
  EXPECT_EQ(s.temperature, 0.9);
  EXPECT_FALSE(s.temperature_end.has_value());
  EXPECT_EQ(s.temperature_shape, heartmula::TemperatureShape::linear);
  s = parse(R"({"topk": 3})", base);  // no temperature on the line: the base's schedule
  EXPECT_EQ(*s.temperature_end, 0.6);
  // Errors name the place once, the key and the text.
  EXPECT_EQ(error_of(R"({"temperature": "1:2:cubic"})"),
            kWhere +
                ": 'temperature' must be START[:END[:linear|cosine]] with START and END numbers in [0.01, 100]. "
                "Given: 1:2:cubic");
  EXPECT_EQ(error_of(R"({"temperature": "1:200"})"),
            kWhere +
                ": 'temperature' must be START[:END[:linear|cosine]] with START and END numbers in [0.01, 100]. "
                "Given: 1:200");
  EXPECT_EQ(error_of(R"({"temperature": "warm"})"),
            kWhere + ": 'temperature' must be a number in [0.01, 100]. Given: warm");
  EXPECT_EQ(error_of(R"({"temperature": true})"),
            kWhere + ": 'temperature' must be a number in [0.01, 100]. Given: true");
}

TEST(BatchFile, DuplicateKeysTakeTheLastValue) { EXPECT_EQ(parse(R"({"topk": 1, "topk": 2})").topk, 2); }

// Hostile shapes: deep nesting, long strings, many keys. Errors, never a crash or a hang.
TEST(BatchFile, HostileLines) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_NE(error_of(deep).find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of(std::string(100000, '{')).find("parse error"), std::string::npos);
  // Regression (found by the ASan build of this test): the error message used to dump() the
  // value, which recursed once per level and overflowed the stack. Containers are now named
  // by type only; 1,000,000 levels would overflow an 8 MB stack even without ASan.
  for (const int depth : {50000, 1000000}) {
    const std::string deep_value = "{\"topk\": " + std::string(depth, '[') + std::string(depth, ']') + "}";
    const std::string err = error_of(deep_value);
    EXPECT_NE(err.find("'topk' must be an integer"), std::string::npos) << err.substr(0, 200);
    EXPECT_NE(err.find("Given: an array"), std::string::npos) << err.substr(0, 200);
    std::string objects = "{\"ignore_eos\": ";
    for (int i = 0; i < depth; ++i) objects += "{\"a\": ";
    objects += "1" + std::string(depth + 1, '}');
    EXPECT_NE(error_of(objects).find("'ignore_eos' must be true or false. Given: an object"), std::string::npos);
  }
  // Long strings are cut in the message.
  const std::string long_err = error_of("{\"seed\": \"" + std::string(100000, 'z') + "\"}");
  EXPECT_NE(long_err.find("Given: \"zzzz"), std::string::npos);
  EXPECT_LT(long_err.size(), 300u);
  const std::string long_lyrics(1 << 20, 'a');
  EXPECT_EQ(parse("{\"lyrics\": \"" + long_lyrics + "\"}").lyrics, long_lyrics);
  std::string many = "{";
  for (int i = 0; i < 10000; ++i) many += "\"seed\": " + std::to_string(i) + ",";
  many += "\"topk\": 3}";
  EXPECT_EQ(*parse(many).seed, 9999u);
}

// The default reader is read_text_arg: a value naming a file gives its contents; a missing
// file or invalid UTF-8 is an Error naming the key.
TEST(BatchFile, LyricsFromAFileWithTheDefaultReader) {
  char tmpl[] = "/tmp/heartmula-batch-XXXXXX";
  const int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  const std::string path = tmpl;
  { std::ofstream(path) << "[verse]\nfrom a file\n"; }
  const SongRequest s = parse_batch_line("{\"lyrics\": \"" + path + "\", \"tags\": \"rock\"}", {}, kWhere);
  EXPECT_EQ(s.lyrics, "[verse]\nfrom a file\n");
  EXPECT_EQ(s.tags, "rock");
  { std::ofstream(path) << "bad \xC3("; }
  try {
    parse_batch_line("{\"tags\": \"" + path + "\"}", {}, kWhere);
    ADD_FAILURE() << "invalid UTF-8 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tags"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
  EXPECT_THROW(parse_batch_line("{\"lyrics\": \"" + path + "\"}", {}, kWhere), UsageError) << "missing file";
}

// The reader's errors (a missing file, text that is not UTF-8) name the place too, once, in
// front, and keep their type: every error of a line is "FILE:LINE: ...", which heartmula-gen
// prints as it is (it used to add the place a second time: "b.jsonl:1: b.jsonl:1: ...").
TEST(BatchFile, TheReadersErrorsNameThePlaceOnce) {
  const auto error_with = [](const std::string& line, const TextArgReader& read) -> std::pair<std::string, bool> {
    try {
      parse_batch_line(line, {}, kWhere, read);
    } catch (const UsageError& e) {
      return {e.what(), true};
    } catch (const Error& e) {
      return {e.what(), false};
    }
    return {"", false};
  };
  const auto [missing, missing_is_usage] = error_with(R"({"lyrics": "./no-such-lyrics.txt"})", read_text_arg);
  EXPECT_EQ(missing, kWhere + ": lyrics ./no-such-lyrics.txt: no such file");
  EXPECT_TRUE(missing_is_usage);
  const auto [bad, bad_is_usage] =
      error_with(R"({"tags": "x"})", [](const std::string&, const std::string& key) -> std::string {
        throw Error(key + ": text is not valid UTF-8");
      });
  EXPECT_EQ(bad, kWhere + ": tags: text is not valid UTF-8");
  EXPECT_FALSE(bad_is_usage) << "a reader's Error stays an Error (exit 1), not a UsageError";
}

// A custom reader sees each text value with its key.
TEST(BatchFile, TheReaderSeesEachTextWithItsKey) {
  std::string seen;
  const SongRequest s =
      parse_batch_line(R"({"tags": "t", "lyrics": "l"})", {}, kWhere, [&](const std::string& v, const std::string& k) {
        seen += k + "=" + v + ";";
        return "<" + v + ">";
      });
  EXPECT_EQ(seen, "lyrics=l;tags=t;");
  EXPECT_EQ(s.lyrics, "<l>");
  EXPECT_EQ(s.tags, "<t>");
}

}  // namespace
