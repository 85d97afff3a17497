// The numeric song parameters in one table: for each one its batch-file key, its flag spellings,
// integer or real, its limits and its help text (the default is SongRequest's own). The command
// line (heartmula-gen), batch files (runtime/batch_file.h) and SongRequest::validate() all check
// values through the table, so a bad value gets the same message whichever way it came:
//   "<name> must be a number in [0.01, 100]. Given: 0.001"
// where <name> is the flag (--temperature) on the command line and for library callers, and the
// key ('temperature') in a batch file. The seed is not here: any 64-bit value is a seed.
#pragma once

#include <string>
#include <vector>

#include "heartmula/generation.h"

namespace heartmula::runtime {

struct SongParam {
  const char* key;    // batch-file key: "cfg_scale"
  const char* flags;  // CLI11 spellings, the first one names the value in messages: "--cfg-scale,--cfg_scale"
  bool integer;       // an integer value (else any real number)
  double lo, hi;      // inclusive limits
  const char* help;   // --help text
  // The SongRequest field the value goes to. `get` is null where the value has no field of its
  // own (duration: seconds, stored as max_audio_length_ms, which is checked instead).
  double (*get)(const SongRequest&);
  void (*set)(SongRequest&, double);
  // Where the value may also be text other than one number (temperature: START:END[:SHAPE]):
  // sets it from `text`, or throws UsageError naming `name` and the text. Null elsewhere.
  void (*set_text)(SongRequest&, const std::string& text, const std::string& name) = nullptr;

  std::string flag() const;          // the first spelling: "--cfg-scale"
  std::string default_text() const;  // SongRequest{}'s value as people write it ("" without `get`)
  bool accepts(double v) const;      // within the limits (and integral for an integer)
  // The one message for a bad value: "<name> must be an integer in [1, 1000000]. Given: <given>".
  std::string error(const std::string& name, const std::string& given) const;
  // Command-line text -> the value; throws UsageError(error(flag(), text)) for text that is not
  // such a number (the whole of it) or out of the limits.
  double parse(const std::string& text) const;
  // Throws UsageError(error(flag(), format_number(v))) unless accepts(v).
  void check(double v) const;
};

// Every numeric song parameter, max_audio_length_ms before duration (which overrides it).
const std::vector<SongParam>& song_params();
// The entry of a batch-file key, or nullptr.
const SongParam* find_song_param(const std::string& key);
// The entry of a key that must exist (a typo in the program: std::logic_error).
const SongParam& song_param(const std::string& key);

// The shortest text that reads back as `v`: 0.01, 100, 3600000, 1e+20 (never 0.010000).
std::string format_number(double v);

// check() of every parameter with a field in `s` (SongRequest::validate() calls it), and of
// the temperature's END when it has one.
void check_song_params(const SongRequest& s);

// --temperature START[:END[:linear|cosine]] (also a batch file's "temperature" string) -> `s`:
// START and END checked against the table's temperature limits; END absent: constant; the shape
// linear unless given. A bad text throws UsageError naming `name` and the text:
//   "--temperature must be START[:END[:linear|cosine]] with START and END numbers in [0.01, 100]. Given: 1:2:cubic"
// (a text without ':' gets the plain number message of SongParam::error).
void set_temperature_text(SongRequest& s, const std::string& text, const std::string& name);
// The temperature as people write it: "1" for a constant one, "1.2:0.8:cosine" for a schedule.
std::string temperature_text(const SongRequest& s);

}  // namespace heartmula::runtime
