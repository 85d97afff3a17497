// The table of numeric song parameters and the one message for a bad value (song_params.h).
#include "runtime/song_params.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "heartmula/error.h"

namespace heartmula::runtime {
namespace {

// `text` as a whole as a number of `p`'s kind (within range of a double / long long); no limits.
bool read_number(const SongParam& p, const std::string& text, double& v) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  if (p.integer) {
    const long long i = std::strtoll(begin, &end, 10);
    v = static_cast<double>(i);
  } else {
    v = std::strtod(begin, &end);
  }
  return !text.empty() && end == begin + text.size() && errno != ERANGE;
}

// A song is 80 ms (one frame) to one hour long; --duration is the same in seconds.
constexpr double kMinMs = 80, kMaxMs = 3600000;

const std::vector<SongParam> kParams = {
    {"max_audio_length_ms", "--max-audio-length-ms,--max_audio_length_ms", true, kMinMs, kMaxMs,
     "longest song in milliseconds (80 = one frame)",
     [](const SongRequest& s) { return static_cast<double>(s.max_audio_length_ms); },
     [](SongRequest& s, double v) { s.max_audio_length_ms = static_cast<int64_t>(v); }},
    {"duration", "--duration", false, kMinMs / 1000, kMaxMs / 1000,
     "longest song in seconds (instead of --max-audio-length-ms)", nullptr,
     [](SongRequest& s, double v) { s.max_audio_length_ms = static_cast<int64_t>(v * 1000.0); }},
    {"temperature", "--temperature", false, 0.01, 100,
     "sampling temperature; START:END[:linear|cosine] goes from START to END over the song's frame limit",
     [](const SongRequest& s) { return s.temperature; },
     [](SongRequest& s, double v) {  // one number: constant
       s.temperature = v;
       s.temperature_end.reset();
       s.temperature_shape = TemperatureShape::linear;
     },
     set_temperature_text},
    {"topk", "--topk", true, 1, 1000000, "top-k cut", [](const SongRequest& s) { return static_cast<double>(s.topk); },
     [](SongRequest& s, double v) { s.topk = static_cast<int>(v); }},
    {"cfg_scale", "--cfg-scale,--cfg_scale", false, 0, 100, "classifier-free guidance scale (1 = off)",
     [](const SongRequest& s) { return s.cfg_scale; }, [](SongRequest& s, double v) { s.cfg_scale = v; }},
    {"codec_steps", "--codec-steps,--codec_steps", true, 1, 1000, "Euler steps of the flow-matching decoder",
     [](const SongRequest& s) { return static_cast<double>(s.codec_steps); },
     [](SongRequest& s, double v) { s.codec_steps = static_cast<int>(v); }},
    {"codec_guidance", "--codec-guidance,--codec_guidance", false, 0, 100, "codec guidance scale",
     [](const SongRequest& s) { return s.codec_guidance; }, [](SongRequest& s, double v) { s.codec_guidance = v; }},
    {"mp3_bitrate", "--mp3-bitrate,--mp3_bitrate", true, 8, 320, "MP3 bitrate in kbit/s",
     [](const SongRequest& s) { return static_cast<double>(s.mp3_bitrate_kbps); },
     [](SongRequest& s, double v) { s.mp3_bitrate_kbps = static_cast<int>(v); }},
};

}  // namespace

std::string format_number(double v) {
  char buf[40];
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);  // 3600000, not 3.6e+06
    return buf;
  }
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;  // nan and inf as printf writes them
}

std::string SongParam::flag() const {
  const std::string all = flags;
  return all.substr(0, all.find(','));
}

std::string SongParam::default_text() const { return get ? format_number(get(SongRequest{})) : std::string(); }

bool SongParam::accepts(double v) const { return v >= lo && v <= hi && (!integer || v == std::trunc(v)); }

std::string SongParam::error(const std::string& name, const std::string& given) const {
  return name + " must be " + (integer ? "an integer" : "a number") + " in [" + format_number(lo) + ", " +
         format_number(hi) + "]. Given: " + given;
}

double SongParam::parse(const std::string& text) const {
  double v = 0;
  if (!read_number(*this, text, v) || !accepts(v)) throw UsageError(error(flag(), text));
  return v;
}

void SongParam::check(double v) const {
  if (!accepts(v)) throw UsageError(error(flag(), format_number(v)));
}

const std::vector<SongParam>& song_params() { return kParams; }

const SongParam* find_song_param(const std::string& key) {
  for (const SongParam& p : kParams)
    if (key == p.key) return &p;
  return nullptr;
}

const SongParam& song_param(const std::string& key) {
  if (const SongParam* p = find_song_param(key)) return *p;
  throw std::logic_error("no song parameter '" + key + "'");
}

void check_song_params(const SongRequest& s) {
  for (const SongParam& p : kParams)
    if (p.get) p.check(p.get(s));
  if (s.temperature_end) song_param("temperature").check(*s.temperature_end);
}

void set_temperature_text(SongRequest& s, const std::string& text, const std::string& name) {
  const SongParam& p = song_param("temperature");
  std::vector<std::string> parts;
  for (size_t from = 0;;) {
    const size_t colon = text.find(':', from);
    parts.push_back(text.substr(from, colon == std::string::npos ? std::string::npos : colon - from));
    if (colon == std::string::npos) break;
    from = colon + 1;
  }
  double start = 0, end = 0;
  if (parts.size() == 1) {  // one number: the message of every other parameter
    if (!read_number(p, text, start) || !p.accepts(start)) throw UsageError(p.error(name, text));
    p.set(s, start);
    return;
  }
  const bool ok = parts.size() <= 3 && read_number(p, parts[0], start) && p.accepts(start) &&
                  read_number(p, parts[1], end) && p.accepts(end) &&
                  (parts.size() == 2 || parts[2] == "linear" || parts[2] == "cosine");
  if (!ok)
    throw UsageError(name + " must be START[:END[:linear|cosine]] with START and END numbers in [" +
                     format_number(p.lo) + ", " + format_number(p.hi) + "]. Given: " + text);
  s.temperature = start;
  s.temperature_end = end;
  s.temperature_shape = parts.size() == 3 && parts[2] == "cosine" ? TemperatureShape::cosine : TemperatureShape::linear;
}

std::string temperature_text(const SongRequest& s) {
  if (!s.temperature_end) return format_number(s.temperature);
  return format_number(s.temperature) + ":" + format_number(*s.temperature_end) + ":" +
         (s.temperature_shape == TemperatureShape::cosine ? "cosine" : "linear");
}

}  // namespace heartmula::runtime
