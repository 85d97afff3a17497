// libFuzzer target: a --batch file's lines (runtime::parse_batch_line). The input is split at
// '\n' like heartmula-gen does; each non-blank line is parsed on top of a base request. Lyrics
// and tags go through a reader that only checks UTF-8 (the real one also reads files, which a
// fuzzer should not). A heartmula::Error is a correct refusal; an accepted line must give values
// inside the documented ranges, else the target aborts (a crash input for libFuzzer).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "heartmula/error.h"
#include "runtime/batch_file.h"
#include "runtime/song_params.h"
#include "text/utf8.h"

namespace {

std::string utf8_only(const std::string& value, const std::string& key) {
  if (heartmula::text::utf8::find_invalid(value) != heartmula::text::utf8::kValid)
    throw heartmula::Error(key + ": text is not valid UTF-8");
  return value;
}

// The limits parse_batch_line promises for what it accepts: those of runtime/song_params.h.
void check(const heartmula::SongRequest& s) {
  bool ok = heartmula::text::utf8::find_invalid(s.lyrics) == heartmula::text::utf8::kValid &&
            heartmula::text::utf8::find_invalid(s.tags) == heartmula::text::utf8::kValid;
  for (const heartmula::runtime::SongParam& p : heartmula::runtime::song_params())
    if (p.get && !p.accepts(p.get(s))) ok = false;
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  heartmula::SongRequest base;
  base.lyrics = "base";
  base.tags = "base";
  size_t start = 0;
  int line_no = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (heartmula::runtime::is_blank_batch_line(line)) continue;
    try {
      check(heartmula::runtime::parse_batch_line(line, base, "fuzz.jsonl:" + std::to_string(line_no), utf8_only));
    } catch (const heartmula::Error&) {
    }
  }
  return 0;
}
