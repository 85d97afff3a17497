// Unit tests of the tokenizer on small hand-made tokenizer.json files (no fetched assets).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "heartmula/error.h"
#include "text/pre_tokenizer.h"
#include "text/regex.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace {

using heartmula::Error;
using heartmula::text::Regex;
using heartmula::text::Tokenizer;
using Json = nlohmann::json;
using Ids = std::vector<int32_t>;

const char* kLlama3Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

Json bpe_model(Json vocab, Json merges, bool ignore_merges = false) {
  return {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"ignore_merges", ignore_merges},
          {"vocab", std::move(vocab)},
          {"merges", std::move(merges)}};
}

// A tokenizer.json over plain characters: no pre-tokenizer, post-processor or decoder.
Json plain_file(Json vocab, Json merges, bool ignore_merges = false) {
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", Json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", nullptr},
          {"model", bpe_model(std::move(vocab), std::move(merges), ignore_merges)},
          {"post_processor", nullptr},
          {"decoder", nullptr}};
}

Json added_token(const std::string& content, int id, bool special = true) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", special}};
}

Tokenizer load(const Json& j) { return Tokenizer::from_json(j.dump(), "test.json"); }

// The GPT-2 byte -> character map, written independently of the library's.
std::string byte_char(int b) {
  const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
  int cp = b;
  if (!printable) {
    int n = 0;
    for (int x = 0; x < b; ++x) {
      if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE)) ++n;
    }
    cp = 256 + n;
  }
  std::string s;
  heartmula::text::utf8::append(s, static_cast<char32_t>(cp));
  return s;
}

// A Llama-3-shaped byte-level tokenizer: ids 0..255 are the bytes, then a few merges,
// <|bos|>/<|eos|> special tokens, the Llama-3 pre-tokenizer and a BOS template.
Json byte_level_file() {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  const std::string sp = byte_char(' ');
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab["hell"] = 258;
  vocab["hello"] = 259;
  vocab[sp + "w"] = 260;
  const Json merges = {"h e", "l l", "he ll", "hell o", sp + " w"};
  Json file = plain_file(vocab, merges, true);
  file["added_tokens"] = {added_token("<|bos|>", 261), added_token("<|eos|>", 262)};
  file["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", kLlama3Pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  const Json bos = {{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}};
  const Json seq_a = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
  file["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       {{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}},
        {{"type", "TemplateProcessing"},
         {"single", {bos, seq_a}},
         {"pair", {bos, seq_a, bos, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
         {"special_tokens", {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {261}}, {"tokens", {"<|bos|>"}}}}}}}}}};
  file["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  return file;
}

const Tokenizer& byte_level() {
  static const Tokenizer tok = load(byte_level_file());
  return tok;
}

// The message of the Error `f` throws ("" if it throws none).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> split(const char* pattern, const std::string& text) {
  std::vector<std::string> out;
  for (const auto& [b, e] : Regex::compile(pattern, "test").find_all(text)) out.push_back(text.substr(b, e - b));
  return out;
}

// ---- BPE model ------------------------------------------------------------------------------

TEST(TokenizerBpe, MergesByRank) {
  const Json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}};
  EXPECT_EQ(load(plain_file(vocab, {"a b", "b c", "ab c"})).encode("abc"), (Ids{5}));
  // "b c" ranks first, and nothing merges "a" with "bc".
  EXPECT_EQ(load(plain_file(vocab, {"b c", "a b", "ab c"})).encode("abc"), (Ids{0, 4}));
  EXPECT_EQ(load(plain_file(vocab, {"a b"})).encode("cabab"), (Ids{2, 3, 3}));
}

TEST(TokenizerBpe, LeftmostPairWinsTies) {
  const Json vocab = {{"a", 0}, {"aa", 1}};
  EXPECT_EQ(load(plain_file(vocab, {"a a"})).encode("aaa"), (Ids{1, 0}));
  EXPECT_EQ(load(plain_file(vocab, {"a a"})).encode("aaaa"), (Ids{1, 1}));
}

TEST(TokenizerBpe, MergesAsPairs) {
  const Json vocab = {{"a", 0}, {"b", 1}, {"ab", 2}};
  EXPECT_EQ(load(plain_file(vocab, Json::array({Json::array({"a", "b"})}))).encode("abab"), (Ids{2, 2}));
}

TEST(TokenizerBpe, IgnoreMergesEmitsKnownWordWhole) {
  // "abc" is in the vocabulary but no merge sequence reaches it.
  const Json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"abc", 4}};
  EXPECT_EQ(load(plain_file(vocab, {"a b"}, false)).encode("abc"), (Ids{3, 2}));
  EXPECT_EQ(load(plain_file(vocab, {"a b"}, true)).encode("abc"), (Ids{4}));
}

TEST(TokenizerBpe, UnknownCharactersWithoutUnkTokenAreDropped) {
  const Json vocab = {{"a", 0}};
  EXPECT_EQ(load(plain_file(vocab, Json::array())).encode("xax"), (Ids{0}));
}

TEST(TokenizerBpe, UnkTokenAndFuse) {
  Json file = plain_file({{"<unk>", 0}, {"a", 1}}, Json::array());
  file["model"]["unk_token"] = "<unk>";
  EXPECT_EQ(load(file).encode("xya"), (Ids{0, 0, 1}));
  file["model"]["fuse_unk"] = true;
  EXPECT_EQ(load(file).encode("xya"), (Ids{0, 1}));
}

// ---- byte-level pipeline --------------------------------------------------------------------

TEST(TokenizerByteLevel, EncodesWordsThroughMergesAndBytes) {
  const Tokenizer& t = byte_level();
  EXPECT_EQ(t.encode("hello", false), (Ids{259}));
  EXPECT_EQ(t.encode("hello world", false), (Ids{259, 260, 'o', 'r', 'l', 'd'}));
  EXPECT_EQ(t.encode("é", false), (Ids{0xC3, 0xA9}));
  EXPECT_EQ(t.encode("", false), (Ids{}));
}

TEST(TokenizerByteLevel, TemplateAddsBosOnlyWithSpecialTokens) {
  const Tokenizer& t = byte_level();
  EXPECT_EQ(t.encode("hello"), (Ids{261, 259}));
  EXPECT_EQ(t.encode(""), (Ids{261}));
  EXPECT_EQ(t.encode("hello", false), (Ids{259}));
}

TEST(TokenizerByteLevel, SpecialTokensAreSplitBeforePreTokenizing) {
  const Tokenizer& t = byte_level();
  EXPECT_EQ(t.encode("<|bos|>hello<|eos|>", false), (Ids{261, 259, 262}));
  EXPECT_EQ(t.encode("a<|eos|><|eos|>", false), (Ids{'a', 262, 262}));
  EXPECT_EQ(t.encode("<|bos", false), (Ids{'<', '|', 'b', 'o', 's'}));
}

TEST(TokenizerByteLevel, Decode) {
  const Tokenizer& t = byte_level();
  EXPECT_EQ(t.decode({261, 259, 260, 'o', 262}), "<|bos|>hello wo<|eos|>");
  EXPECT_EQ(t.decode({261, 259, 262}, true), "hello");
  EXPECT_EQ(t.decode({0xC3, 0xA9}), "é");
  // Ill-formed UTF-8 becomes U+FFFD per maximal subpart, as Rust's from_utf8_lossy.
  EXPECT_EQ(t.decode({0xC3}), "\xEF\xBF\xBD");
  EXPECT_EQ(t.decode({0xE2, 0x82, 'x'}), "\xEF\xBF\xBDx");
  EXPECT_EQ(t.decode({0xF0, '('}), "\xEF\xBF\xBD(");
  EXPECT_EQ(t.decode({0xED, 0xA0, 0x80}), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_NE(error_of([&] { t.decode({263}); }).find("263"), std::string::npos);
  EXPECT_NE(error_of([&] { t.decode({-1}); }).find("-1"), std::string::npos);
}

TEST(TokenizerByteLevel, Vocabulary) {
  const Tokenizer& t = byte_level();
  EXPECT_EQ(t.vocab_size(), 263u);
  EXPECT_EQ(t.token_to_id("<|eos|>"), 262);
  EXPECT_EQ(t.token_to_id("hello"), 259);
  EXPECT_EQ(t.token_to_id("nope"), std::nullopt);
  EXPECT_EQ(t.id_to_token(258), "hell");
  EXPECT_EQ(t.id_to_token(261), "<|bos|>");
  EXPECT_EQ(t.id_to_token(999), std::nullopt);
}

TEST(TokenizerByteLevel, InvalidUtf8IsAnErrorWithItsOffset) {
  const Tokenizer& t = byte_level();
  const std::vector<std::pair<std::string, int>> cases = {
      {"ab\xFF", 2},     {"\xC3(", 0}, {"ok\xED\xA0\x80", 2}, {"\xC0\x80", 0}, {"abc\xF4\x90\x80\x80", 3},
      {"xy\xE2\x82", 2}, {"\x80", 0},  {"h\xC3\xA9\xF5", 3}};
  for (const auto& [text, at] : cases) {
    EXPECT_EQ(error_of([&] { t.encode(text); }), "text is not valid UTF-8 at byte " + std::to_string(at));
  }
}

TEST(TokenizerByteLevel, RandomBytesNeverCrash) {
  const Tokenizer& t = byte_level();
  std::mt19937 rng(1234);
  int valid = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s(rng() % 48, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? rng() % 256 : "ab <|>\n'1\xC3\xA9"[rng() % 11]);
    try {
      const Ids ids = t.encode(s, false);
      ++valid;
      EXPECT_EQ(t.decode(ids), s);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("not valid UTF-8 at byte"), std::string::npos);
    }
  }
  EXPECT_GT(valid, 100);
}

TEST(TokenizerByteLevel, RandomTextRoundTrips) {
  const Tokenizer& t = byte_level();
  std::mt19937 rng(99);
  const char32_t ranges[][2] = {{0x20, 0x7E},     {0x9, 0xD},         {0xA0, 0x24F},
                                {0x400, 0x4FF},   {0x3040, 0x30FF},   {0x4E00, 0x4FFF},
                                {0xAC00, 0xAD00}, {0x1F300, 0x1F6FF}, {0x2000, 0x206F}};
  for (int iter = 0; iter < 500; ++iter) {
    std::string s;
    for (int n = rng() % 40; n > 0; --n) {
      const auto& r = ranges[rng() % (sizeof(ranges) / sizeof(ranges[0]))];
      heartmula::text::utf8::append(s, r[0] + rng() % (r[1] - r[0] + 1));
    }
    EXPECT_EQ(t.decode(t.encode(s, false)), s);
  }
}

TEST(TokenizerByteLevel, LongInputs) {
  const Tokenizer& t = byte_level();
  const std::string spaces = std::string(200000, ' ') + "a";
  EXPECT_EQ(t.decode(t.encode(spaces, false)), spaces);
  const std::string letters(100000, 'x');
  EXPECT_EQ(t.encode(letters, false).size(), letters.size());
  const std::string digits(30000, '7');
  EXPECT_EQ(t.encode(digits, false).size(), digits.size());
}

// ---- added tokens ----------------------------------------------------------------------------

// Characters a, b, space, <, m, > are ids 0..5; added tokens start at 6.
Json flags_file(Json tokens) {
  Json file = plain_file({{"a", 0}, {"b", 1}, {" ", 2}, {"<", 3}, {"m", 4}, {">", 5}}, Json::array());
  file["added_tokens"] = std::move(tokens);
  return file;
}

TEST(TokenizerAdded, LeftmostLongest) {
  const Tokenizer t = load(flags_file({added_token("<m", 6), added_token("<m>", 7)}));
  EXPECT_EQ(t.encode("<m>"), (Ids{7}));
  EXPECT_EQ(t.encode("<mb<m>>"), (Ids{6, 1, 7, 5}));
}

TEST(TokenizerAdded, SingleWord) {
  Json tok = added_token("<m>", 6);
  tok["single_word"] = true;
  const Tokenizer t = load(flags_file({tok}));
  EXPECT_EQ(t.encode("a<m>b"), (Ids{0, 3, 4, 5, 1}));
  EXPECT_EQ(t.encode("a <m> b"), (Ids{0, 2, 6, 2, 1}));
  EXPECT_EQ(t.encode("<m>"), (Ids{6}));
}

TEST(TokenizerAdded, LstripAndRstrip) {
  Json l = added_token("<m>", 6);
  l["lstrip"] = true;
  EXPECT_EQ(load(flags_file({l})).encode("a  <m> b"), (Ids{0, 6, 2, 1}));
  Json r = added_token("<m>", 6);
  r["rstrip"] = true;
  EXPECT_EQ(load(flags_file({r})).encode("a  <m> b"), (Ids{0, 2, 2, 6, 1}));
  EXPECT_EQ(load(flags_file({added_token("<m>", 6)})).encode("a <m> b"), (Ids{0, 2, 6, 2, 1}));
}

TEST(TokenizerAdded, ContentAlreadyInVocabularyKeepsItsId) {
  EXPECT_EQ(load(flags_file({added_token("m", 4)})).token_to_id("m"), 4);
  EXPECT_NE(error_of([] { load(flags_file({added_token("m", 9)})); }).find("HF tokenizers gives it id 4"),
            std::string::npos);
  EXPECT_NE(error_of([] { load(flags_file({added_token("<x>", 8)})); }).find("gives it id 6"), std::string::npos);
}

// ---- pre-tokenizers and regex -----------------------------------------------------------------

std::vector<std::string> pre_tokenize(const Json& j, std::string text) {
  auto pre = heartmula::text::PreTokenizer::from_json(j, {"test", "pre_tokenizer"});
  std::vector<std::string> pieces{std::move(text)};
  pre->apply(pieces);
  return pieces;
}

TEST(TokenizerSplit, Behaviors) {
  using V = std::vector<std::string>;
  const auto run = [](const char* behavior, bool invert = false) {
    const Json j = {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}};
    return pre_tokenize(j, "the-final--countdown");
  };
  EXPECT_EQ(run("Removed"), (V{"the", "final", "countdown"}));
  EXPECT_EQ(run("Isolated"), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(run("MergedWithPrevious"), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(run("MergedWithNext"), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(run("Contiguous"), (V{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(run("Removed", true), (V{"-", "-", "-"}));
}

TEST(TokenizerRegex, OnigEscapesRewritten) {
  using heartmula::text::onig_to_pcre2;
  EXPECT_EQ(onig_to_pcre2("\\s+(?!\\S)"), "\\p{White_Space}+(?!\\P{White_Space})");
  EXPECT_EQ(onig_to_pcre2("[^\\s\\p{L}]"), "[^\\p{White_Space}\\p{L}]");
  EXPECT_EQ(onig_to_pcre2("\\\\s"), "\\\\s");
  EXPECT_EQ(onig_to_pcre2("[\\h]\\h"), "[0-9a-fA-F][0-9a-fA-F]");
}

TEST(TokenizerRegex, Llama3PatternSplits) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split(kLlama3Pattern, "I'm here"), (V{"I", "'m", " here"}));
  EXPECT_EQ(split(kLlama3Pattern, "HE'S"), (V{"HE", "'S"}));
  EXPECT_EQ(split(kLlama3Pattern, "1234567"), (V{"123", "456", "7"}));
  EXPECT_EQ(split(kLlama3Pattern, "a  b"), (V{"a", " ", " b"}));
  EXPECT_EQ(split(kLlama3Pattern, "x\n\ny"), (V{"x", "\n\n", "y"}));
  EXPECT_EQ(split(kLlama3Pattern, "end   "), (V{"end", "   "}));
  EXPECT_EQ(split(kLlama3Pattern, "hi!!!\n"), (V{"hi", "!!!\n"}));
  EXPECT_EQ(split(kLlama3Pattern, "[verse]\nla"), (V{"[verse", "]\n", "la"}));
  // U+180E is not White_Space for onig (PCRE2's own \s would take it): one piece with the '!'.
  EXPECT_EQ(split(kLlama3Pattern, "\xE1\xA0\x8E!"), (V{"\xE1\xA0\x8E!"}));
  // U+00A0 is White_Space for both.
  EXPECT_EQ(split(kLlama3Pattern, "\xC2\xA0!"), (V{"\xC2\xA0", "!"}));
}

TEST(TokenizerRegex, EmptyMatchesFollowOnigIteration) {
  using P = std::vector<std::pair<size_t, size_t>>;
  EXPECT_EQ(Regex::compile("a*", "test").find_all("baa"), (P{{0, 0}, {1, 3}}));
  EXPECT_EQ(Regex::compile("x*", "test").find_all("ab"), (P{{0, 0}, {1, 1}, {2, 2}}));
}

// ---- loading errors --------------------------------------------------------------------------

TEST(TokenizerErrors, Files) {
  EXPECT_NE(error_of([] {
              Tokenizer::from_file("/nonexistent/tokenizer.json");
            }).find("/nonexistent/tokenizer.json: tokenizer file not found"),
            std::string::npos);
  const std::string dir = std::filesystem::temp_directory_path().string();
  EXPECT_NE(error_of([&] { Tokenizer::from_file(dir); }).find("is a directory"), std::string::npos);
  const std::string bad = error_of([] { Tokenizer::from_json("{\"model\": ", "bad.json"); });
  EXPECT_EQ(bad.rfind("bad.json: invalid JSON", 0), 0u) << bad;
  EXPECT_NE(error_of([] { Tokenizer::from_json("[1]", "x.json"); }).find("expected a JSON object"), std::string::npos);
}

// Loads the byte-level file after `edit` and returns the error message.
std::string error_after(const std::function<void(Json&)>& edit) {
  Json file = byte_level_file();
  edit(file);
  return error_of([&] { load(file); });
}

TEST(TokenizerErrors, UnsupportedComponentsAreNamed) {
  const auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos
               ? testing::AssertionSuccess()
               : testing::AssertionFailure() << "'" << msg << "' lacks '" << part << "'";
  };
  EXPECT_TRUE(
      has(error_after([](Json& f) { f["model"]["type"] = "WordPiece"; }), "unsupported model type \"WordPiece\""));
  EXPECT_TRUE(has(error_after([](Json& f) {
                    f["normalizer"] = {{"type", "NFC"}};
                  }),
                  "unsupported normalizer '\"NFC\"'"));
  EXPECT_TRUE(has(error_after([](Json& f) {
                    f["pre_tokenizer"]["pretokenizers"][1] = {{"type", "Whitespace"}};
                  }),
                  "test.json: pre_tokenizer.pretokenizers[1].type: unsupported pre_tokenizer type 'Whitespace'"));
  EXPECT_TRUE(has(error_after([](Json& f) {
                    f["decoder"] = {{"type", "WordPiece"}};
                  }),
                  "unsupported decoder type 'WordPiece'"));
  EXPECT_TRUE(has(error_after([](Json& f) {
                    f["post_processor"] = {{"type", "BertProcessing"}};
                  }),
                  "unsupported post_processor type 'BertProcessing'"));
  EXPECT_TRUE(has(error_after([](Json& f) { f["truncation"] = {{"max_length", 8}}; }), "truncation"));
  EXPECT_TRUE(has(error_after([](Json& f) { f["model"]["dropout"] = 0.1; }), "dropout"));
}

TEST(TokenizerErrors, MalformedFieldsAreNamed) {
  const auto has = [](const std::string& msg, const std::string& part) { return msg.find(part) != std::string::npos; };
  EXPECT_TRUE(has(error_after([](Json& f) { f.erase("model"); }), "test.json: missing field 'model'"));
  EXPECT_TRUE(
      has(error_after([](Json& f) { f["model"]["vocab"] = Json::array(); }), "model.vocab: expected an object"));
  EXPECT_TRUE(has(error_after([](Json& f) { f["model"]["merges"][0] = "h e x"; }), "model.merges[0]"));
  EXPECT_TRUE(
      has(error_after([](Json& f) { f["model"]["merges"].push_back("q zz"); }), "token 'zz' is not in the vocabulary"));
  EXPECT_TRUE(has(error_after([](Json& f) { f["model"]["merges"].push_back(Json{1, 2}); }), "model.merges[5]"));
  EXPECT_TRUE(has(error_after([](Json& f) { f["model"]["vocab"]["x"] = "seven"; }), "expected an integer id"));
  EXPECT_TRUE(has(error_after([](Json& f) { f["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(ab"; }),
                  "bad regex '(ab'"));
  EXPECT_TRUE(has(error_after([](Json& f) { f["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways"; }),
                  "unknown split behavior 'Sideways'"));
  EXPECT_TRUE(has(error_after([](Json& f) {
                    f["post_processor"]["processors"][1]["single"][0]["SpecialToken"]["id"] = "<|nope|>";
                  }),
                  "special token '<|nope|>' is missing"));
  EXPECT_TRUE(has(error_after([](Json& f) { f["added_tokens"][0]["content"] = 5; }),
                  "added_tokens[0].content: expected a string"));
}

}  // namespace
