#include "test_audio_util.h"

#include <dirent.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>

namespace heartmula::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/heartmula-audio-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + tmpl);
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<std::string> TempDir::entries() const {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(path_)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<float> test_signal(int sample_rate, size_t frames, float amplitude) {
  std::vector<float> out(2 * frames);
  const double kPi = 3.14159265358979323846;
  for (size_t i = 0; i < frames; ++i) {
    const double t = static_cast<double>(i) / sample_rate;
    const double fade = std::min(1.0, 0.1 + t / 0.75);
    out[i] = static_cast<float>(amplitude * fade * std::sin(2 * kPi * 440.0 * t));
    out[frames + i] = static_cast<float>(amplitude * fade * std::sin(2 * kPi * 660.0 * t + 0.3));
  }
  return out;
}

DecodedAudio read_audio(const std::string& path) {
  SF_INFO info{};
  SNDFILE* sf = sf_open(path.c_str(), SFM_READ, &info);
  if (sf == nullptr) throw std::runtime_error("sf_open(" + path + "): " + sf_strerror(nullptr));
  DecodedAudio a;
  a.sample_rate = info.samplerate;
  a.channels = info.channels;
  a.format = info.format;
  if (const char* s = sf_get_string(sf, SF_STR_TITLE)) a.title = s;
  if (const char* s = sf_get_string(sf, SF_STR_COMMENT)) a.comment = s;
  std::vector<float> interleaved;
  std::vector<float> chunk(4096 * static_cast<size_t>(info.channels));
  sf_count_t n;
  while ((n = sf_readf_float(sf, chunk.data(), 4096)) > 0)
    interleaved.insert(interleaved.end(), chunk.begin(), chunk.begin() + n * info.channels);
  sf_close(sf);
  const size_t frames = interleaved.size() / static_cast<size_t>(info.channels);
  a.planes.assign(static_cast<size_t>(info.channels), std::vector<float>(frames));
  for (size_t i = 0; i < frames; ++i)
    for (int c = 0; c < info.channels; ++c) a.planes[static_cast<size_t>(c)][i] = interleaved[i * info.channels + c];
  return a;
}

double best_correlation(const std::vector<float>& in, const std::vector<float>& out, int max_lag, int* best_lag) {
  double best = -2.0;
  for (int lag = -max_lag; lag <= max_lag; ++lag) {
    const long lo = std::max(0L, -static_cast<long>(lag));
    const long hi = std::min(static_cast<long>(in.size()), static_cast<long>(out.size()) - lag);
    if (hi - lo < 1000) continue;
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (long i = lo; i < hi; ++i) {
      const double x = in[static_cast<size_t>(i)], y = out[static_cast<size_t>(i + lag)];
      sx += x;
      sy += y;
      sxx += x * x;
      syy += y * y;
      sxy += x * y;
    }
    const double n = static_cast<double>(hi - lo);
    const double cov = sxy - sx * sy / n;
    const double den = std::sqrt((sxx - sx * sx / n) * (syy - sy * sy / n));
    const double r = den > 0 ? cov / den : 0.0;
    if (r > best) {
      best = r;
      if (best_lag) *best_lag = lag;
    }
  }
  return best;
}

}  // namespace heartmula::test
