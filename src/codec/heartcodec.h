// HeartCodec: audio codes [8, T] (12.5 Hz) -> 48 kHz stereo waveform, as upstream
// HeartCodec.detokenize computes it (heartlib heartcodec/modeling_heartcodec.py). See
// docs/codec.md.
//
//   auto codec = heartmula::codec::HeartCodec::load("ckpt/HeartCodec-oss", at::kFloat, at::kCPU);
//   at::Tensor wav = codec.detokenize(codes);   // [2, T * 3840] float32 on the CPU
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "codec/config.h"
#include "codec/noise.h"
#include "codec/windows.h"
#include "io/weight_binder.h"

namespace heartmula::codec {

struct DetokenizeOptions {
  int steps = 10;           // Euler steps per window
  double guidance = 1.25;   // classifier-free guidance scale; <= 1 runs without the CFG batch
  // Gaussian noise: null -> a SeededNoise(seed) made for this call.
  NoiseSource* noise = nullptr;
  uint64_t seed = 0;
  // Called after each window with (windows done, windows in total).
  std::function<void(size_t, size_t)> progress;

  // Throws UsageError naming the option and its value.
  void validate() const;
};

struct CodecLoadInfo {
  size_t tensors = 0;
  size_t bytes_read = 0;
  double seconds = 0.0;
  // Checkpoint keys the decoder does not use (the encoder half, RVQ training state, ...).
  std::vector<std::string> unused;
};

class HeartCodec {
 public:
  // `dir`: a folder with config.json and model.safetensors (or a sharded index). `dtype`:
  // float32, bfloat16 or float16 (weights are converted while loading; weight norm is folded
  // in float32 first). Errors name the folder, the key or tensor.
  static HeartCodec load(const std::string& dir, c10::ScalarType dtype = c10::ScalarType::Float,
                         c10::Device device = c10::Device(c10::DeviceType::CPU));
  // The checkpoint keys and shapes load() asks for with `config` (weight-normed convolutions as
  // their parametrizations.weight.original0/original1 pair), in declaration order. Allocates
  // nothing; used to write random checkpoints of the released layout.
  static std::vector<io::WeightBinder::Declaration> declarations(const HeartCodecConfig& config);

  // codes: integer [num_quantizers, T], T >= 1, every code in [0, codebook_size) (else Error
  // naming the value, codebook and frame; nothing is decoded). Returns float32 [2, N] on the
  // CPU, N = int(T / 12.5 * sample_rate). Windows are decoded one after another into the
  // output buffer; peak memory beyond it does not grow with T.
  at::Tensor detokenize(const at::Tensor& codes, const DetokenizeOptions& options = {}) const;

  // One window's latents -> audio: latents [1, 744, out_channels] -> float32 [2, 1428480] CPU.
  at::Tensor decode_latents(const at::Tensor& latents) const;

  const HeartCodecConfig& config() const;
  const CodecLoadInfo& load_info() const;
  c10::ScalarType dtype() const;
  c10::Device device() const;
  int64_t sample_rate() const { return config().sample_rate; }

 private:
  struct Model;
  explicit HeartCodec(std::shared_ptr<const Model> model);
  std::shared_ptr<const Model> model_;
};

}  // namespace heartmula::codec
