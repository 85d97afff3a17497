#include "codec/windows.h"

#include <string>

#include "heartmula/error.h"

namespace heartmula::codec {

int64_t WindowPlan::source_index(int64_t i) const {
  // Stage 1 repeats short input up to one window; stage 2 repeats that to padded_len.
  const int64_t stage1_len = codes_len < window_codes ? window_codes : codes_len;
  return (i % stage1_len) % codes_len;
}

std::vector<std::vector<int64_t>> WindowPlan::noise_shapes(int64_t c) const {
  std::vector<std::vector<int64_t>> shapes{{1, window_latents, c}};
  for (size_t k = 0; k < starts.size(); ++k) {
    if (k > 0) shapes.push_back({1, window_latents - overlap_latents, c});
    shapes.push_back({1, window_latents, c});
  }
  return shapes;
}

WindowPlan plan_windows(int64_t codes_len, int64_t sample_rate) {
  if (codes_len < 1) throw Error("codec: need at least one frame of codes, got " + std::to_string(codes_len));
  WindowPlan p;
  p.codes_len = codes_len;
  p.window_codes = static_cast<int64_t>(kWindowSeconds * kCodeRate);      // 372
  p.hop_codes = p.window_codes / 93 * 80;                                 // 320
  p.overlap_codes = p.window_codes - p.hop_codes;                         // 52
  p.window_latents = static_cast<int64_t>(kWindowSeconds * kLatentRate);  // 744
  p.overlap_latents = p.overlap_codes * 2;                                // 104
  p.window_samples = static_cast<int64_t>(kWindowSeconds * static_cast<double>(sample_rate));
  p.hop_samples = p.window_samples / 93 * 80;
  p.overlap_samples = p.window_samples - p.hop_samples;
  p.target_samples =
      static_cast<int64_t>(static_cast<double>(codes_len) / kCodeRate * static_cast<double>(sample_rate));

  int64_t len = codes_len < p.window_codes ? p.window_codes : codes_len;
  if ((len - p.overlap_codes) % p.hop_codes > 0) {
    const int64_t hops = (len - p.overlap_codes + p.hop_codes - 1) / p.hop_codes;  // ceil
    len = hops * p.hop_codes + p.overlap_codes;
  }
  p.padded_len = len;
  for (int64_t s = 0; s + p.hop_codes <= len; s += p.hop_codes) p.starts.push_back(s);
  return p;
}

std::vector<double> crossfade_weights(int64_t n) {
  std::vector<double> w(n > 0 ? n : 0);
  if (n == 1) w[0] = 0.0;  // numpy.linspace(0, 1, 1) == [0]
  if (n <= 1) return w;
  const double step = 1.0 / static_cast<double>(n - 1);
  for (int64_t i = 0; i < n; ++i) w[i] = static_cast<double>(i) * step;
  w[n - 1] = 1.0;
  return w;
}

}  // namespace heartmula::codec
