// Token sampling for the frame loop (upstream sample_topk), entirely on the logits' device:
// logits / temperature -> keep the top-k (ties at the k-th value kept) -> softmax ->
// exponential race argmax(p / Exp(1)), which draws from p without a host synchronisation.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <cstdint>
#include <optional>

#include "heartmula/generation.h"  // TemperatureShape

namespace heartmula::runtime {

// The temperature of frame `frame` of a song whose frame limit is `max_frames`: progress
// p = frame / (max_frames - 1) clamped to [0, 1] (0 for a one-frame song); linear:
// start + (end - start) * p; cosine: end + (start - end) * (1 + cos(pi * p)) / 2.
double scheduled_temperature(double start, double end, TemperatureShape shape, int64_t frame, int64_t max_frames);

struct SamplingParams {
  double temperature = 1.0;               // 0.01..100 (limits: runtime/song_params.h); START of a schedule
  std::optional<double> temperature_end;  // END of a schedule (SongRequest::temperature_end)
  TemperatureShape temperature_shape = TemperatureShape::linear;
  int64_t topk = 50;       // 1..1000000; larger than the vocabulary = the whole vocabulary
  double cfg_scale = 1.5;  // 0..100; classifier-free guidance; 1 = off (batch of 1)
  uint64_t seed = 0;

  void validate() const;  // SongParam::check of each: UsageError naming the flag (--temperature, --topk, --cfg-scale)
  // Upstream guides only when cfg_scale > 1 (its batch is 2 whenever cfg_scale != 1, but a
  // scale below 1 leaves the logits unguided); we run batch 1 in both non-guided cases.
  bool uses_cfg() const { return cfg_scale > 1.0; }
  // The temperature changes from frame to frame (END given and not START). Otherwise every
  // frame samples with `temperature`, exactly as without a schedule.
  bool temperature_varies() const { return temperature_end && *temperature_end != temperature; }
  double temperature_at(int64_t frame, int64_t max_frames) const {
    return temperature_varies()
               ? scheduled_temperature(temperature, *temperature_end, temperature_shape, frame, max_frames)
               : temperature;
  }
};

// A generator for `device` seeded with `seed`: CPUGeneratorImpl on CPU, otherwise a clone of
// the device's default generator type, reseeded. The one place that picks a generator type.
at::Generator make_generator(c10::Device device, uint64_t seed);

// CFG mixing of a batch whose first half holds the conditional rows and second half the
// unconditional ones: logits [2n, V] -> uncond + (cond - uncond) * scale, [n, V].
at::Tensor cfg_mix(const at::Tensor& logits, double cfg_scale);

// logits [n, V] -> same with every entry below the k-th largest of its row set to -inf
// (entries equal to the k-th value are kept, so ties can keep more than k).
at::Tensor topk_filter(const at::Tensor& logits, int64_t topk);

// probs [n, V] -> [n, 1] int64: argmax(probs / q), q ~ Exp(1) drawn from `gen`.
at::Tensor sample_exponential_race(const at::Tensor& probs, at::Generator& gen);

// The full chain: logits [n, V] (any float dtype) -> tokens [n, 1] int64, on the same device.
at::Tensor sample_topk(const at::Tensor& logits, int64_t topk, double temperature, at::Generator& gen);

// The probabilities sample_topk draws from (float32): softmax(topk_filter(logits / t, k)).
at::Tensor sampling_probs(const at::Tensor& logits, int64_t topk, double temperature);

// The same with the temperature in a float32 tensor of one element on the logits' device (read
// when the work runs: a captured graph replays with its current value).
at::Tensor sample_topk(const at::Tensor& logits, int64_t topk, const at::Tensor& temperature, at::Generator& gen);
at::Tensor sampling_probs(const at::Tensor& logits, int64_t topk, const at::Tensor& temperature);

}  // namespace heartmula::runtime
