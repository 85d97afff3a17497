// POST /v1/songs bodies -> SongRequest. Numbers go through the one table of song parameters
// (runtime/song_params.h) via the batch-file parser (runtime/batch_file.h), so a bad value gets
// the message the CLI and batch files give. Nothing in a request reaches the file system: the
// text fields are the text itself (never a file name) and path keys are unknown fields.
#pragma once

#include <cstddef>
#include <string>

#include "heartmula/generation.h"

namespace heartmula::server {

// A field of the body that is not valid: `field` names it ("" for the body as a whole).
struct BadField {
  std::string field;
  std::string message;
};

struct SongSubmission {
  SongRequest song;            // lyrics, tags, numbers, seed (absent: none given)
  std::string format = "mp3";  // mp3 | wav
};

inline constexpr size_t kMaxLyricsBytes = 32 * 1024;
inline constexpr size_t kMaxTagsBytes = 4 * 1024;
// The largest request body the server reads (413 beyond).
inline constexpr size_t kMaxBodyBytes = 256 * 1024;

// The body's keys: lyrics, tags (text; absent: heartmula-gen's defaults `default_lyrics` /
// `default_tags`), seed, duration (seconds) or max_audio_length_ms (not both), temperature,
// topk, cfg_scale, codec_steps, codec_guidance, mp3_bitrate, ignore_eos, format (mp3|wav).
// Returns false and fills `bad` for invalid JSON, a body that is not an object, an unknown key,
// a value of the wrong type or out of range ("'topk' must be an integer in [1, 1000000].
// Given: 0", the batch files' message), text longer than the limits. The caller sets the
// output path and runs SongRequest::validate().
bool parse_song_json(const std::string& body, const std::string& default_lyrics, const std::string& default_tags,
                     SongSubmission& out, BadField& bad);

}  // namespace heartmula::server
