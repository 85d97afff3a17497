// The GPT-2 byte-level alphabet: every byte maps to one printable character (printable ASCII and
// Latin-1 bytes map to themselves, the others to U+0100 + n), so any byte string becomes a
// string over 256 characters that a BPE vocabulary can cover.
#pragma once

#include <string>
#include <string_view>

namespace heartmula::text::byte_level {

// Appends the byte-level form of `bytes` (each byte -> its character, UTF-8 encoded) to `out`.
void encode(std::string_view bytes, std::string& out);

// Appends the bytes a token stands for. If some character of `token` is not in the alphabet,
// appends the token's own bytes unchanged (as HF's ByteLevel decoder does) and returns false.
bool decode(std::string_view token, std::string& out);

}  // namespace heartmula::text::byte_level
