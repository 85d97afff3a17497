// Window arithmetic of HeartCodec.detokenize (heartcodec/modeling_heartcodec.py), free of
// tensors so that it can be checked by hand:
//   29.76 s windows of 372 codes (12.5 Hz), hop 320 codes (372 // 93 * 80), overlap 52;
//   input shorter than a window is repeated up to 372 codes; longer input is repeated up to
//   a whole number of hops plus the overlap; window k starts at code k * 320 and (k > 0) takes
//   the previous window's last 104 latent frames (25 Hz) as its in-context prefix; the audio
//   of consecutive windows is joined by a linear crossfade over the overlap and trimmed to
//   int(T / 12.5 * sample_rate) samples.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace heartmula::codec {

constexpr double kWindowSeconds = 29.76;
constexpr double kCodeRate = 12.5;  // codes (LM frames) per second
// One frame of codes: 80 ms. The one place the frame duration is written; all else derives it.
constexpr double kFrameSeconds = 1.0 / kCodeRate;
constexpr int64_t kFrameMs = static_cast<int64_t>(1000 / kCodeRate);
static_assert(kFrameMs * kCodeRate == 1000, "a frame is a whole number of milliseconds");
constexpr double kLatentRate = 25;  // latent frames per second

struct WindowPlan {
  int64_t codes_len = 0;        // T given
  int64_t padded_len = 0;       // codes after repetition
  std::vector<int64_t> starts;  // first code of each window
  int64_t window_codes = 0;     // 372
  int64_t hop_codes = 0;        // 320
  int64_t overlap_codes = 0;    // 52
  int64_t window_latents = 0;   // 744
  int64_t overlap_latents = 0;  // 104: in-context prefix of windows after the first
  int64_t window_samples = 0;   // int(29.76 * sample_rate)
  int64_t hop_samples = 0;      // window_samples // 93 * 80
  int64_t overlap_samples = 0;  // window_samples - hop_samples
  int64_t target_samples = 0;   // int(T / 12.5 * sample_rate): the output length

  size_t windows() const { return starts.size(); }
  // Index into the original codes of padded position i (the repetition), 0 <= i < padded_len.
  int64_t source_index(int64_t i) const;
  // The Gaussian draws detokenize makes, in upstream's order: a first latent [1, 744, C]
  // (unused: the first window has no prefix), then per window k: for k > 0 the masked filler
  // beside the prefix [1, 640, C], and the window's initial noise [1, 744, C].
  std::vector<std::vector<int64_t>> noise_shapes(int64_t latent_dim) const;
};

// Plans the windows for T >= 1 codes. Error for T < 1.
//
// One deliberate deviation from upstream: upstream decides whether to pad with
// `(T - 104) % 320 > 0` (overlap in latent frames) but pads to a length computed with the
// overlap in codes (52). For T > 372 with (T - 104) % 320 == 0 (424, 744, 1064, ...) it skips
// the padding and its last window ends 52 codes short, so its output is 4.16 s shorter than
// T / 12.5 s. Here the test uses 52 as well, so every length gets its full duration; all other
// lengths plan exactly as upstream.
WindowPlan plan_windows(int64_t codes_len, int64_t sample_rate);

// Weights of the incoming window over the overlap: numpy.linspace(0, 1, n) (i / (n - 1), the
// last exactly 1). The outgoing window is weighted by 1 - w.
std::vector<double> crossfade_weights(int64_t n);

// One crossfaded sample: the outgoing window's `out` weighted 1 - w, the incoming `in` w, in
// double (upstream's float64 window promotes it), rounded to float.
inline float crossfade(float out, float in, double w) {
  return static_cast<float>(static_cast<double>(out) * (1.0 - w) + static_cast<double>(in) * w);
}

}  // namespace heartmula::codec
