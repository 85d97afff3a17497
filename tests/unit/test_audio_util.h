// Helpers for the audio writer tests: a temp folder, a test signal, reading back with libsndfile
// (which decodes MP3 too, through mpg123, since 1.1.0) and lag-searched correlation.
#pragma once

#include <sndfile.h>

#include <string>
#include <vector>

namespace heartmula::test {

// A fresh folder under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Names of the entries in the folder (dot-files included), sorted.
  std::vector<std::string> entries() const;

 private:
  std::string path_;
};

// Planar stereo test signal [2, frames]: left 440 Hz, right 660 Hz, with a fade-in so that a
// lag search has one best answer. `amplitude` may exceed 1 to test clipping.
std::vector<float> test_signal(int sample_rate, size_t frames, float amplitude = 0.5f);

struct DecodedAudio {
  int sample_rate = 0;
  int channels = 0;
  int format = 0;                          // SF_INFO.format
  std::vector<std::vector<float>> planes;  // [channels][frames]
  std::string title, comment;
  size_t frames() const { return planes.empty() ? 0 : planes[0].size(); }
};

// Reads a whole file with libsndfile; throws std::runtime_error on failure.
DecodedAudio read_audio(const std::string& path);

// Best Pearson correlation of out[i + lag] with in[i] over lag in [-max_lag, max_lag];
// `best_lag` receives the lag.
double best_correlation(const std::vector<float>& in, const std::vector<float>& out, int max_lag, int* best_lag);

}  // namespace heartmula::test
