// heartmula-tokenize: encode text to token ids (a JSON array on stdout) or decode ids to text,
// with a HF tokenizer.json. Exactly Tokenizer::encode / decode; --bench times the encoder.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_defaults.h"
#include "heartmula/error.h"
#include "text/tokenizer.h"

namespace {

using heartmula::Error;
using heartmula::UsageError;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string tokenizer;
  std::string text;
  std::string text_file;
  bool decode = false;
  bool no_special = false;
  int bench = 0;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open --text-file");
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Ids as a JSON array ("[1, 2]") or separated by commas and/or whitespace ("1, 2" / "1 2").
std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  const size_t first = s.find_first_not_of(" \t\r\n");
  std::vector<std::string> items;
  if (first != std::string::npos && s[first] == '[') {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(s);
    } catch (const nlohmann::json::exception& e) {
      throw UsageError(std::string("ids: invalid JSON array: ") + e.what());
    }
    if (!j.is_array()) throw UsageError("ids: expected a JSON array of integers");
    for (const auto& v : j) items.push_back(v.dump());
  } else {
    std::string cur;
    for (const char c : s + " ") {
      if (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        if (!cur.empty()) items.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
  }
  for (const std::string& item : items) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v < 0 || v > 0x7FFFFFFF) throw UsageError("ids: '" + item + "' is not a token id");
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Times encode(text): the first (cold-cache) call, then the mean over `runs` further calls.
void bench(const heartmula::text::Tokenizer& tok, const std::string& text, bool special, int runs) {
  const size_t lines =
      std::max<size_t>(1, std::count(text.begin(), text.end(), '\n') + (text.empty() || text.back() != '\n'));
  auto t0 = Clock::now();
  size_t n_ids = tok.encode(text, special).size();
  const double first = ms_since(t0);
  t0 = Clock::now();
  for (int i = 0; i < runs; ++i) n_ids = tok.encode(text, special).size();
  const double mean = ms_since(t0) / runs;
  std::fprintf(stderr,
               "encode: %zu bytes, %zu lines, %zu ids | first call %.3f ms (%.4f ms/line) | "
               "mean of %d calls %.3f ms (%.4f ms/line)\n",
               text.size(), lines, n_ids, first, first / lines, runs, mean, mean / lines);
}

int run(const Options& o) {
  const std::string input = o.text_file.empty() ? o.text : read_file(o.text_file);
  const auto t0 = Clock::now();
  const auto tok = heartmula::text::Tokenizer::from_file(o.tokenizer);
  if (o.bench > 0)
    std::fprintf(stderr, "load: %.1f ms (%s, %zu tokens)\n", ms_since(t0), o.tokenizer.c_str(), tok.vocab_size());
  if (o.decode) {
    const std::string text = tok.decode(parse_ids(input), o.no_special);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return heartmula::kExitOk;
  }
  if (o.bench > 0) bench(tok, input, !o.no_special, o.bench);
  std::cout << nlohmann::json(tok.encode(input, !o.no_special)).dump() << "\n";
  return heartmula::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Encode text to token ids (JSON array on stdout), or decode ids to text, with a HF tokenizer.json."};
  Options o;
  app.add_option("--tokenizer", o.tokenizer, "tokenizer.json (e.g. the Llama-3 one)")->required();
  auto* text = app.add_option("--text", o.text, "the text to encode (with --decode: the ids)");
  auto* file = app.add_option("--text-file", o.text_file, "read the text (or ids) from this file, byte for byte");
  text->excludes(file);
  app.add_flag("--decode", o.decode, "decode ids (JSON array, or comma/space separated) to text, printed as is");
  app.add_flag("--no-special", o.no_special,
               "encode: do not add the post-processor's special tokens; decode: skip special tokens");
  app.add_option("--bench", o.bench, "also time N further encodes of the text (printed on stderr)")
      ->default_val(0)
      ->check(CLI::NonNegativeNumber);
  if (const auto code = heartmula::tools::parse_command_line(app, argc, argv)) return *code;
  try {
    if (text->count() + file->count() != 1) throw UsageError("give exactly one of --text and --text-file");
    return run(o);
  } catch (const UsageError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return heartmula::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return heartmula::kExitRuntimeError;
  }
}
