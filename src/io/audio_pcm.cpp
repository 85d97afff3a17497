#include "io/audio_pcm.h"

namespace heartmula::io {

void clip_samples(const float* in, size_t count, float* out) {
  for (size_t i = 0; i < count; ++i) out[i] = clip_sample(in[i]);
}

void interleave_stereo(const float* left, const float* right, size_t frames, float* out) {
  for (size_t i = 0; i < frames; ++i) {
    out[2 * i] = left[i];
    out[2 * i + 1] = right[i];
  }
}

void append_pcm_le(const float* in, size_t count, int bits, std::vector<uint8_t>& out) {
  const size_t bytes = static_cast<size_t>(bits / 8);
  const float scale = static_cast<float>((1L << (bits - 1)) - 1);
  size_t at = out.size();
  out.resize(at + count * bytes);
  for (size_t i = 0; i < count; ++i) {
    auto v = static_cast<uint32_t>(static_cast<int32_t>(std::lrintf(clip_sample(in[i]) * scale)));
    for (size_t b = 0; b < bytes; ++b) out[at++] = static_cast<uint8_t>(v >> (8 * b));
  }
}

}  // namespace heartmula::io
