// Token sampling for the frame loop (upstream sample_topk), entirely on the logits' device:
// logits / temperature -> keep the top-k (ties at the k-th value kept) -> softmax ->
// exponential race argmax(p / Exp(1)), which draws from p without a host synchronisation.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <cstdint>

namespace heartmula::runtime {

struct SamplingParams {
  double temperature = 1.0;  // 0.01..100 (limits: runtime/song_params.h)
  int64_t topk = 50;         // 1..1000000; larger than the vocabulary = the whole vocabulary
  double cfg_scale = 1.5;    // 0..100; classifier-free guidance; 1 = off (batch of 1)
  uint64_t seed = 0;

  void validate() const;  // SongParam::check of each: UsageError naming the flag (--temperature, --topk, --cfg-scale)
  // Upstream guides only when cfg_scale > 1 (its batch is 2 whenever cfg_scale != 1, but a
  // scale below 1 leaves the logits unguided); we run batch 1 in both non-guided cases.
  bool uses_cfg() const { return cfg_scale > 1.0; }
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

}  // namespace heartmula::runtime
