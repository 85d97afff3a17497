// UTF-8 helpers for the tokenizer: strict validation (the rules Rust's `str` enforces), code point
// decoding/encoding, and the lossy byte -> text conversion HF's ByteLevel decoder relies on.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace heartmula::text::utf8 {

constexpr size_t kValid = static_cast<size_t>(-1);

// Byte offset of the first byte of the first ill-formed sequence (overlong forms, surrogates,
// code points above U+10FFFF and truncated sequences are ill-formed), or kValid.
size_t find_invalid(std::string_view s);

// Length in bytes of the character that starts with `lead` (1 for a stray byte).
inline size_t char_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// Code point of the character at s[i]; `s` must be valid UTF-8 and i the start of a character.
char32_t decode_at(std::string_view s, size_t i);

// Start of the character that ends at s[end - 1]; `s` must be valid UTF-8 and end > 0.
size_t prev_char_start(std::string_view s, size_t end);

void append(std::string& out, char32_t cp);

// Like Rust's String::from_utf8_lossy: each maximal ill-formed subpart becomes U+FFFD.
std::string to_lossy(std::string_view bytes);

}  // namespace heartmula::text::utf8
