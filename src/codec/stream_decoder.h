// Incremental HeartCodec decoding: codes arrive frame by frame (while the language model is
// still running), windows are decoded as soon as their codes are complete, and the audio that
// no later window can change is handed out. The concatenated output of push()... finish() is
// bit for bit detokenize() of all the codes (same noise, same settings).
//
// Which windows can be decoded early (see windows.h): window k covers codes
// [320k, 320k + 372). Once n >= 320k + 372 codes exist, the final length T >= n, so
//   - window k exists in every plan for T (padded_len >= T > 320k + 320),
//   - its codes are the codes themselves (repetition only reads past T, or below 372),
//   - its noise draws come in the same order (they depend on k only),
//   - its prefix is window k-1's latents, decoded the same way.
// Short songs (T < 372) and the last windows (padded with repeated codes) depend on T and
// are decoded by finish(). Samples before (k + 1) * hop_samples are final once window k is
// placed (window k+1 crossfades from there on); nothing is handed out beyond the output length
// of the codes known so far (int(n / 12.5 * sample_rate) only grows with n).
//
//   StreamDecoder dec(codec, options);
//   for (chunk : chunks) write(dec.push(chunk));   // [Q, n] codes -> [2, m] final audio
//   write(dec.finish());
#pragma once

#include <ATen/core/Tensor.h>
#include <cstdint>
#include <memory>
#include <vector>

#include "codec/heartcodec.h"
#include "codec/noise.h"
#include "codec/windows.h"

namespace heartmula::codec {

class StreamDecoder {
 public:
  // `codec` must outlive the decoder. options.noise (if set) must too; without it a
  // SeededNoise(options.seed) is used, as detokenize does. options.progress sees (windows
  // done, 0) while the length is unknown, then (done, total) from finish().
  StreamDecoder(const HeartCodec& codec, DetokenizeOptions options);
  ~StreamDecoder();

  // Appends codes [num_quantizers, n] (integer, n >= 0, each in [0, codebook_size): else Error
  // naming the value and frame, nothing appended). Decodes every window that is complete and
  // independent of the final length; returns the audio that became final: float32 [2, m] on
  // the CPU (m may be 0).
  at::Tensor push(const at::Tensor& codes);
  // No more codes: decodes the remaining windows as detokenize() does for all codes pushed and
  // returns the rest of the audio. Error when no codes were pushed or finish() ran already.
  at::Tensor finish();

  int64_t codes() const { return have_; }           // frames pushed
  int64_t samples_out() const { return emitted_; }  // per channel, handed out so far
  size_t windows_decoded() const { return decoded_; }
  bool finished() const { return finished_; }

 private:
  void decode(size_t k, const at::Tensor& window_codes);
  at::Tensor take(int64_t upto);  // hands out pending samples [emitted_, upto)

  const HeartCodec& codec_;
  DetokenizeOptions opts_;
  std::unique_ptr<SeededNoise> own_noise_;
  NoiseSource* noise_ = nullptr;
  WindowPlan consts_;  // plan_windows(1): the window constants
  std::vector<double> fade_in_;
  std::vector<at::Tensor> chunks_;  // codes pushed, [Q, n_i] int64 CPU
  at::Tensor all_;                  // cat of chunks_ (lazily)
  int64_t have_ = 0;
  size_t decoded_ = 0;
  at::Tensor prefix_;
  std::vector<float> pending_[2];  // samples [emitted_, emitted_ + size) per channel
  int64_t emitted_ = 0;
  bool finished_ = false;
};

}  // namespace heartmula::codec
