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
#include <utility>
#include <vector>

#include "codec/config.h"
#include "codec/flow_matching.h"
#include "codec/noise.h"
#include "codec/windows.h"
#include "io/weight_binder.h"

namespace heartmula::codec {

struct DetokenizeOptions {
  int steps = 10;          // Euler steps per window
  double guidance = 1.25;  // classifier-free guidance scale; <= 1 runs without the CFG batch
  // Gaussian noise: null -> a SeededNoise(seed) made for this call.
  NoiseSource* noise = nullptr;
  uint64_t seed = 0;
  // Called after each window with (windows done, windows in total).
  std::function<void(size_t, size_t)> progress;
  // Runs each window's Euler solve from a device graph (runtime::make_codec_graphs; null: eager).
  // Same output. Used by one thread at a time.
  std::shared_ptr<SolverGraphs> graphs;

  // Throws UsageError naming the option and its value.
  void validate() const;
};

// How the codec is loaded: the device and the precision of its two halves (docs/codec.md
// "Precision"). The estimator's dtype is that of its projections and attention; its timestep
// MLPs, residual streams, norms, the Euler state and the RVQ lookup stay float32 regardless.
struct CodecLoad {
  c10::Device device{c10::DeviceType::CPU};
  c10::ScalarType estimator_dtype = c10::ScalarType::Float;
  c10::ScalarType decoder_dtype = c10::ScalarType::Float;  // the scalar (convolution) decoder
  // CUDA only: float32 matrix products / convolutions may run in TF32 (else IEEE float32).
  bool estimator_tf32 = false, decoder_tf32 = false;

  // `precision` as --codec-dtype takes it: "auto", or ESTIMATOR[/DECODER] with each of fp32,
  // tf32, bf16, fp16 (float32, bfloat16, float16 too). A lone name sets both halves, except that
  // bf16/fp16 keep the decoder at tf32 on CUDA (fp32 elsewhere). auto: bf16/tf32 on CUDA,
  // bf16/fp32 on XPU, fp32 on the CPU. On the CPU the decoder always runs fp32 (LibTorch 1.13's
  // CPU conv_transpose1d fails in bf16) and tf32 means fp32. Throws UsageError naming `flag`.
  static CodecLoad parse(const std::string& precision, c10::Device device, const std::string& flag = "--codec-dtype");
  // "fp32", "bf16/tf32", ... (ESTIMATOR/DECODER, one name when they agree).
  std::string label() const;
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
  // `dir`: a folder with config.json and model.safetensors (or a sharded index). Dtypes:
  // float32, bfloat16 or float16 (weights are converted while loading; weight norm is folded
  // in float32 first). Errors name the folder, the key or tensor.
  static HeartCodec load(const std::string& dir, const CodecLoad& options);
  // The whole codec in `dtype` on `device` (the decoder in float32 on the CPU); no TF32.
  static HeartCodec load(const std::string& dir, c10::ScalarType dtype = c10::ScalarType::Float,
                         c10::Device device = c10::Device(c10::DeviceType::CPU));
  // The codec of `config` with random weights made on the device (normal(0, 0.02), norm
  // weights 1; weight norm folded as usual), no file: for measuring the real architecture
  // (heartmula-bench --song-seconds).
  static HeartCodec random(const HeartCodecConfig& config, const CodecLoad& options, uint64_t seed);
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

  // Window k of detokenize: window_codes int64 [num_quantizers, 372] (already repeated/padded,
  // checked), `prefix` the previous window's last latents (undefined for k == 0; replaced by
  // this window's). Draws the window's noise (the masked filler for k > 0, then its initial
  // noise) and returns its audio, float32 [2, >= window_samples] on the CPU. detokenize() and
  // the StreamDecoder both decode through it. Call with options validated.
  at::Tensor decode_window(const at::Tensor& window_codes, size_t k, at::Tensor& prefix, NoiseSource& noise,
                           const DetokenizeOptions& options) const;
  // Runs a first window (silent codes, its own noise, one Euler step) and waits for it, so that
  // the first real window on this thread finds its kernels loaded, its cuBLAS / cuDNN handles
  // made and its allocator cache filled (on the H100 the first window took 0.9 s, later ones
  // 0.33 s). With options.graphs it then captures, without running it, the graph of a second
  // window with options.steps, which the song's windows replay; without, it runs a second
  // one-step window (the prefix path). Returns the seconds it took. Changes nothing else.
  double warm_up(const DetokenizeOptions& options) const;

  const HeartCodecConfig& config() const;
  const CodecLoadInfo& load_info() const;
  c10::ScalarType dtype() const;  // the estimator's compute dtype
  const CodecLoad& load_options() const;
  c10::Device device() const;
  // Every weight the codec holds, as held (q/k/v and gate/up fused, weight norm folded, each in
  // its dtype on the device), named by module path: what its weights cost on the device.
  std::vector<std::pair<std::string, at::Tensor>> weights() const;
  int64_t sample_rate() const { return config().sample_rate; }

 private:
  struct Model;
  struct QueuedAudio;
  // decode_window's device work queued and its audio on its way to the host (on CUDA without
  // waiting), so that detokenize() queues window k + 1 before it waits for window k's audio.
  QueuedAudio queue_window(const at::Tensor& window_codes, size_t k, at::Tensor& prefix, NoiseSource& noise,
                           const DetokenizeOptions& options) const;
  at::Tensor decode_latents_on_device(const at::Tensor& latents) const;  // float32 [2, N] on the device
  explicit HeartCodec(std::shared_ptr<const Model> model);
  std::shared_ptr<const Model> model_;
};

}  // namespace heartmula::codec
