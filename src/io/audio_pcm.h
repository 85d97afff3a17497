// Sample conversions shared by the audio writers. Internal to src/io.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace heartmula::io {

// Clamps to [-1, 1]; NaN becomes 0. HeartCodec output can exceed 1: clip, never wrap.
inline float clip_sample(float x) {
  if (!(x == x)) return 0.0f;  // NaN
  return x > 1.0f ? 1.0f : (x < -1.0f ? -1.0f : x);
}

// out[i] = clip_sample(in[i]) for i < count.
void clip_samples(const float* in, size_t count, float* out);

// Interleaves two planes [frames] into out [frames, 2] (L R L R ...).
void interleave_stereo(const float* left, const float* right, size_t frames, float* out);

// Clipped samples as little-endian signed PCM of `bits` (16 or 24) bits, scaled like
// libsndfile (x * (2^(bits-1) - 1), rounded). Appends count * bits / 8 bytes to `out`.
void append_pcm_le(const float* in, size_t count, int bits, std::vector<uint8_t>& out);

}  // namespace heartmula::io
