#include "text/byte_level.h"

#include <array>
#include <cstdint>

#include "text/utf8.h"

namespace heartmula::text::byte_level {
namespace {

struct Tables {
  std::array<std::string, 256> byte_to_char;  // UTF-8 of the character for each byte
  std::array<int16_t, 512> char_to_byte{};    // code point -> byte, -1 if not in the alphabet

  Tables() {
    char_to_byte.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      utf8::append(byte_to_char[b], cp);
      char_to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

void encode(std::string_view bytes, std::string& out) {
  const Tables& t = tables();
  for (const char c : bytes) out += t.byte_to_char[static_cast<unsigned char>(c)];
}

bool decode(std::string_view token, std::string& out) {
  const Tables& t = tables();
  const size_t mark = out.size();
  size_t i = 0;
  while (i < token.size()) {
    const size_t n = utf8::char_len(static_cast<unsigned char>(token[i]));
    const char32_t cp = utf8::decode_at(token, i);
    if (cp >= t.char_to_byte.size() || t.char_to_byte[cp] < 0) {
      out.resize(mark);
      out.append(token);
      return false;
    }
    out += static_cast<char>(t.char_to_byte[cp]);
    i += n;
  }
  return true;
}

}  // namespace heartmula::text::byte_level
