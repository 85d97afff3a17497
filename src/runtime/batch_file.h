// Batch files (`heartmula-gen --batch FILE.jsonl`): one JSON object per line, one song per
// object. Parses one line of text into the song's settings, with typed, range-checked reads of
// every key, or throws UsageError naming the place ("FILE:LINE") and the key.
#pragma once

#include <functional>
#include <string>

#include "heartmula/generation.h"
#include "heartmula/generator.h"  // read_text_arg

namespace heartmula::runtime {

// Turns the value of "lyrics" / "tags" into the text (read_text_arg: the file's contents if it
// names a file, else the value itself; throws if a file is missing or the text is not UTF-8).
using TextArgReader = std::function<std::string(const std::string& value, const std::string& key)>;

// True for a line with nothing but spaces, tabs and '\r': skipped, not an error.
bool is_blank_batch_line(const std::string& line);

// One line (JSON text; `//` and `/* */` comments allowed) -> `base` with the line's keys applied.
// The seed is reset (random unless the line gives one). Keys: lyrics, tags (text or a file),
// seed, save_path (also save-path, output), max_audio_length_ms, duration (seconds),
// temperature (a number, or a string "START:END[:linear|cosine]" as --temperature), topk, cfg_scale, ignore_eos,
// codec_steps, codec_guidance, codes_out, mp3_bitrate, overwrite. Numbers are checked against runtime/song_params.h
// (the same limits and message as the command line and SongRequest::validate(), naming the key: "'topk' must be an
// integer in [1, 1000000]. Given: 0"). Throws UsageError "<where>: ..." for invalid JSON, a line that is not an object,
// an unknown key, a value of the wrong type or out of range (never converts out of range); errors of `read_text` are
// rethrown as the same type with "<where>: " in front. Every message names the place once: callers print it as it is.
// Does not call SongRequest::validate().
SongRequest parse_batch_line(const std::string& line, const SongRequest& base, const std::string& where,
                             const TextArgReader& read_text = read_text_arg);

}  // namespace heartmula::runtime
