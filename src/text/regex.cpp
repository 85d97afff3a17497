#include "text/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "heartmula/error.h"
#include "text/utf8.h"

namespace heartmula::text {
namespace {

// Unicode classes as Oniguruma (and Rust's regex crate) define them.
constexpr const char* kSpace = "\\p{White_Space}";
constexpr const char* kNotSpace = "\\P{White_Space}";
constexpr const char* kWordItems = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}";
constexpr const char* kHexItems = "0-9a-fA-F";

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  if (pcre2_get_error_message(code, buf, sizeof(buf)) < 0) return "PCRE2 error " + std::to_string(code);
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

std::string onig_to_pcre2(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 32);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[++i];
      const std::string items = e == 'w' || e == 'W' ? kWordItems : kHexItems;
      switch (e) {
        case 's':
          out += kSpace;
          break;
        case 'S':
          out += kNotSpace;
          break;
        case 'w':
        case 'h':
          out += in_class ? items : "[" + items + "]";
          break;
        case 'W':
        case 'H':
          if (in_class) throw Error(std::string("regex: \\") + e + " inside a character class is not supported");
          out += "[^" + items + "]";
          break;
        default:
          out += c;
          out += e;
          break;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' (or '^]') right after the opening bracket is a literal member.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {  // [:alpha:]
      const size_t end = p.find(":]", i + 2);
      if (end != std::string_view::npos) {
        out.append(p.substr(i, end + 2 - i));
        i = end + 1;
        continue;
      }
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

struct Regex::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Impl() { pcre2_code_free(code); }
};

namespace {

std::shared_ptr<Regex::Impl> build(std::string_view pattern, uint32_t extra, const std::string& where,
                                   std::string_view shown) {
  int err = 0;
  PCRE2_SIZE off = 0;
  // PCRE2_LITERAL admits only a few other options.
  const uint32_t opts = (extra & PCRE2_LITERAL) ? PCRE2_UTF | extra : PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE | extra;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), opts, &err, &off, nullptr);
  if (code == nullptr) {
    throw Error(where + ": bad regex '" + std::string(shown) + "': " + pcre2_message(err) + " (at offset " +
                std::to_string(off) + " of the PCRE2 form)");
  }
  auto impl = std::make_shared<Regex::Impl>();
  impl->code = code;
  impl->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return impl;
}

// One pcre2_match call; falls back to the interpreter if the JIT stack runs out.
// Returns the PCRE2 result code (> 0 on a match).
int run_match(const Regex::Impl& re, std::string_view text, size_t start, uint32_t opts, pcre2_match_data* md) {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  int rc = pcre2_match(re.code, subject, text.size(), start, opts | PCRE2_NO_UTF_CHECK, md, nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    rc = pcre2_match(re.code, subject, text.size(), start, opts | PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, nullptr);
  }
  if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
    throw Error("regex match failed at byte " + std::to_string(start) + ": " + pcre2_message(rc));
  }
  return rc;
}

struct MatchData {
  explicit MatchData(const pcre2_code* code) : md(pcre2_match_data_create_from_pattern(code, nullptr)) {
    if (md == nullptr) throw Error("regex: out of memory");
  }
  ~MatchData() { pcre2_match_data_free(md); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
  pcre2_match_data* md;
};

}  // namespace

Regex Regex::compile(std::string_view pattern, const std::string& where) {
  Regex r;
  r.impl_ = build(onig_to_pcre2(pattern), 0, where, pattern);
  return r;
}

Regex Regex::literal(std::string_view text, const std::string& where) {
  Regex r;
  r.impl_ = build(text, PCRE2_LITERAL, where, text);
  return r;
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  MatchData data(impl_->code);
  size_t last_end = 0;
  size_t last_match_end = npos;
  while (last_end <= text.size()) {
    if (run_match(*impl_, text, last_end, 0, data.md) <= 0) break;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.md);
    const size_t s = ov[0], e = ov[1];
    if (s == e && e == last_match_end) {
      last_end += last_end < text.size() ? utf8::char_len(static_cast<unsigned char>(text[last_end])) : 1;
      continue;
    }
    out.emplace_back(s, e);
    last_end = e;
    last_match_end = e;
  }
  return out;
}

size_t Regex::match_at(std::string_view text, size_t pos) const {
  MatchData data(impl_->code);
  if (run_match(*impl_, text, pos, PCRE2_ANCHORED, data.md) <= 0) return npos;
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.md);
  return ov[1] - ov[0];
}

}  // namespace heartmula::text
