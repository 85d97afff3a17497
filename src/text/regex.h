// Regular expressions for the tokenizer, on PCRE2 (UTF + UCP, JIT when available), made to
// behave like the Oniguruma engine HF `tokenizers` uses by default: `\s`/`\S` mean Unicode
// White_Space (PCRE2's own `\s` adds U+180E), `\w`/`\W` mean Unicode word characters, `\h` is a
// hex digit, and matches are enumerated the way onig's `find_iter` does.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace heartmula::text {

class Regex {
 public:
  // Compiles `pattern`. Throws Error("<where>: bad regex ...") when PCRE2 rejects it.
  static Regex compile(std::string_view pattern, const std::string& where);
  // A pattern that matches `text` literally.
  static Regex literal(std::string_view text, const std::string& where);

  // Every match in `text` (valid UTF-8), as [begin, end) byte ranges, in order. Empty matches
  // directly after the previous match are skipped, as onig's iterator does.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  // Length of the match that starts exactly at text[pos], or npos when there is none.
  size_t match_at(std::string_view text, size_t pos) const;

  static constexpr size_t npos = static_cast<size_t>(-1);

  struct Impl;  // the compiled PCRE2 code (defined in regex.cpp)

 private:
  std::shared_ptr<const Impl> impl_;
};

// Rewrites the Oniguruma escapes whose meaning differs in PCRE2 (see the file comment).
std::string onig_to_pcre2(std::string_view pattern);

}  // namespace heartmula::text
