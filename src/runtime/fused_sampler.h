// Sampling in one device kernel where the device has it (CUDA): CFG mixing, temperature, the
// top-k cut (ties kept) and the exponential race of sampler.h, for every song of a batch at
// once. Draws the race's Exp(1) noise from each song's generator exactly as the composite
// sampler does ([1, V] float32 per song), so the two paths consume the same random numbers;
// the chosen tokens agree up to float rounding of near-ties (the probabilities are computed
// as exp(x - max) instead of softmax(log_softmax(x))).
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <cstdint>
#include <vector>

namespace heartmula::runtime {

struct FusedSampleArgs {
  int64_t vocab = 0;  // V: the first V columns of each logits row are the vocabulary
  int64_t songs = 0;  // S
  bool cfg = false;   // rows are [S conditional, S unconditional]
  double cfg_scale = 1.0;
  int64_t topk = 50;
  double temperature = 1.0;
  // [songs] float32 on the logits' device: 1 / temperature of each song, read by the kernel
  // through a pointer, so that a captured graph replays with the values of the moment (a
  // temperature schedule refills it before each frame). Undefined: 1 / temperature for all.
  at::Tensor inv_temperature;
};

// logits [R, >= V] (float32/bf16/fp16, unit column stride) on the device; q [S, V] float32 scratch;
// tokens [R, 1] int64 (written: each song's token on all its rows); frame [R, N] int64 gets the
// token in column `codebook`. Returns false (nothing drawn, nothing written) where the fused
// kernel does not apply: not CUDA, HEARTMULA_NO_FUSED=1, V > 16384, other shapes.
bool fused_sample_topk(const at::Tensor& logits, const FusedSampleArgs& args, std::vector<at::Generator>& gens,
                       at::Tensor& q, at::Tensor& tokens, at::Tensor& frame, int64_t codebook);

}  // namespace heartmula::runtime
