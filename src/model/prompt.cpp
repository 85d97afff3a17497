#include "model/prompt.h"

#include <ATen/ATen.h>
#include <locale.h>
#include <wctype.h>

#include "heartmula/error.h"

namespace heartmula::model {

namespace {

// Decodes UTF-8 leniently: a byte that does not start a well-formed sequence is kept as is
// (returned as a negative value so that it is re-emitted unchanged).
std::vector<long> decode(const std::string& s) {
  std::vector<long> out;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && i + len <= n;
    long cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (!ok) {
      out.push_back(-static_cast<long>(c) - 1);
      i += 1;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void encode(std::string& out, long cp) {
  if (cp < 0) {
    out.push_back(static_cast<char>(-(cp + 1)));
  } else if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

locale_t utf8_locale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return loc;
}

bool is_cased(long cp, locale_t loc) {
  if (cp < 0) return false;
  if (!loc) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  const auto w = static_cast<wint_t>(cp);
  return iswupper_l(w, loc) || iswlower_l(w, loc);
}

// Unicode Case_Ignorable, approximated: combining marks, apostrophes, dots, soft hyphen, ZW*.
bool is_case_ignorable(long cp) {
  return (cp >= 0x300 && cp <= 0x36F) || cp == 0x27 || cp == 0x2E || cp == 0x3A || cp == 0xB7 || cp == 0x2019 ||
         cp == 0x2018 || cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) || cp == 0x5E || cp == 0x60 || cp == 0xA8 ||
         cp == 0xAF || cp == 0xB4 || cp == 0xB8;
}

// Python's Final_Sigma: a cased letter before (skipping case-ignorables), none after.
bool final_sigma(const std::vector<long>& cps, size_t i, locale_t loc) {
  size_t j = i;
  bool before = false;
  while (j > 0) {
    --j;
    if (is_case_ignorable(cps[j])) continue;
    before = is_cased(cps[j], loc);
    break;
  }
  if (!before) return false;
  for (size_t k = i + 1; k < cps.size(); ++k) {
    if (is_case_ignorable(cps[k])) continue;
    return !is_cased(cps[k], loc);
  }
  return true;
}

std::vector<int64_t> with_bos_eos(std::vector<int64_t> ids, const GenConfig& gen) {
  if (ids.empty() || ids.front() != gen.text_bos_id) ids.insert(ids.begin(), gen.text_bos_id);
  if (ids.back() != gen.text_eos_id) ids.push_back(gen.text_eos_id);
  return ids;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

}  // namespace

std::string lowercase_like_python(const std::string& text) {
  const std::vector<long> cps = decode(text);
  locale_t loc = utf8_locale();
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < cps.size(); ++i) {
    const long cp = cps[i];
    if (cp < 0) {
      encode(out, cp);
    } else if (cp < 0x80) {
      out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
    } else if (cp == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE -> "i" + COMBINING DOT ABOVE
      encode(out, 0x69);
      encode(out, 0x307);
    } else if (cp == 0x3A3) {  // GREEK CAPITAL SIGMA: final form at the end of a word
      encode(out, final_sigma(cps, i, loc) ? 0x3C2 : 0x3C3);
    } else {
      encode(out, loc ? static_cast<long>(towlower_l(static_cast<wint_t>(cp), loc)) : cp);
    }
  }
  return out;
}

std::vector<int64_t> tags_ids(const std::string& tags, const EncodeFn& encode_fn, const GenConfig& gen) {
  std::string t = lowercase_like_python(tags);
  if (!starts_with(t, "<tag>")) t = "<tag>" + t;
  if (!ends_with(t, "</tag>")) t += "</tag>";
  return with_bos_eos(encode_fn(t), gen);
}

std::vector<int64_t> lyrics_ids(const std::string& lyrics, const EncodeFn& encode_fn, const GenConfig& gen) {
  return with_bos_eos(encode_fn(lowercase_like_python(lyrics)), gen);
}

Prompt build_prompt(const std::string& tags, const std::string& lyrics, const EncodeFn& encode_fn, const GenConfig& gen,
                    int64_t num_codebooks) {
  const std::vector<int64_t> t = tags_ids(tags, encode_fn, gen);
  const std::vector<int64_t> l = lyrics_ids(lyrics, encode_fn, gen);
  const int64_t len = static_cast<int64_t>(t.size() + 1 + l.size());
  at::Tensor tokens = at::zeros({len, num_codebooks + 1}, at::TensorOptions().dtype(at::kLong));
  auto acc = tokens.accessor<int64_t, 2>();
  for (size_t i = 0; i < t.size(); ++i) acc[static_cast<int64_t>(i)][num_codebooks] = t[i];
  for (size_t i = 0; i < l.size(); ++i) acc[static_cast<int64_t>(t.size() + 1 + i)][num_codebooks] = l[i];
  return prompt_from_tokens(tokens, static_cast<int64_t>(t.size()));
}

Prompt prompt_from_tokens(const at::Tensor& tokens, int64_t muq_index) {
  if (tokens.dim() != 2 || tokens.size(1) < 2 || tokens.size(0) < 1)
    throw Error("prompt tokens must be [L, N+1] with L >= 1, got " + std::to_string(tokens.dim()) + " dims");
  if (muq_index < -1 || muq_index >= tokens.size(0))
    throw Error("MuQ slot index " + std::to_string(muq_index) + " is outside the prompt of " +
                std::to_string(tokens.size(0)) + " rows");
  Prompt p;
  p.tokens = tokens.to(at::kCPU, at::kLong).contiguous();
  p.mask = at::zeros(p.tokens.sizes(), at::TensorOptions().dtype(at::kBool));
  p.mask.select(1, p.tokens.size(1) - 1).fill_(true);
  p.muq_index = muq_index;
  return p;
}

}  // namespace heartmula::model
