// POST /v1/songs bodies (song_request_json.h).
#include "server/song_request_json.h"

#include <nlohmann/json.hpp>
#include <set>

#include "heartmula/error.h"
#include "runtime/batch_file.h"
#include "runtime/song_params.h"

namespace heartmula::server {
namespace {

using Json = nlohmann::json;

// The keys parse_batch_line() reads that a request may give (its path keys stay out).
const std::set<std::string> kNumberKeys = {"seed",        "duration",  "max_audio_length_ms", "temperature",
                                           "topk",        "cfg_scale", "codec_steps",         "codec_guidance",
                                           "mp3_bitrate", "ignore_eos"};

// parse_batch_line() prefixes its messages with the place; a request has one place, the body.
constexpr const char* kWhere = "body";

std::string strip_where(const std::string& message) {
  const std::string prefix = std::string(kWhere) + ": ";
  return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

}  // namespace

bool parse_song_json(const std::string& body, const std::string& default_lyrics, const std::string& default_tags,
                     SongSubmission& out, BadField& bad) {
  auto fail = [&bad](const std::string& field, const std::string& message) {
    bad = {field, message};
    return false;
  };
  if (body.size() > kMaxBodyBytes)
    return fail("", "the body is larger than " + std::to_string(kMaxBodyBytes) + " bytes");
  Json j;
  try {
    j = Json::parse(body);
  } catch (const Json::exception& e) {
    return fail("", std::string("invalid JSON: ") + e.what());
  }
  if (!j.is_object()) return fail("", "the body must be a JSON object");

  SongSubmission s;
  s.song.lyrics = default_lyrics;
  s.song.tags = default_tags;
  if (j.contains("duration") && j.contains("max_audio_length_ms"))
    return fail("duration", "give 'duration' (seconds) or 'max_audio_length_ms', not both");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const Json& v = it.value();
    if (k == "lyrics" || k == "tags") {
      if (!v.is_string()) return fail(k, "'" + k + "' must be a string");
      const std::string& text = v.get_ref<const std::string&>();
      const size_t limit = k == "lyrics" ? kMaxLyricsBytes : kMaxTagsBytes;
      if (text.size() > limit)
        return fail(
            k, "'" + k + "' is longer than " + std::to_string(limit) + " bytes (" + std::to_string(text.size()) + ")");
      (k == "lyrics" ? s.song.lyrics : s.song.tags) = text;
    } else if (k == "format") {
      if (!v.is_string() || (v != "mp3" && v != "wav")) return fail(k, "'format' must be \"mp3\" or \"wav\"");
      s.format = v.get<std::string>();
    } else if (kNumberKeys.count(k)) {
      // One key at a time through the batch-file parser, so the error names this key. A nested
      // value is passed as an empty one of its type: the message says "an array" / "an object"
      // either way, and nothing deep is copied or printed.
      Json one = Json::object();
      one[k] = v.is_array() ? Json::array() : v.is_object() ? Json::object() : v;
      try {
        const std::optional<uint64_t> seed = s.song.seed;
        s.song = runtime::parse_batch_line(one.dump(), s.song, kWhere);
        if (k != "seed") s.song.seed = seed;  // parse_batch_line starts each line without a seed
      } catch (const Error& e) {
        return fail(k, strip_where(e.what()));
      }
    } else {
      return fail(k, "unknown field '" + k + "'");
    }
  }
  try {
    runtime::check_song_params(s.song);  // every number once more, with the table's message
  } catch (const Error& e) {
    return fail("", e.what());
  }
  out = std::move(s);
  return true;
}

}  // namespace heartmula::server
