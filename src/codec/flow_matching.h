// FlowMatching.inference_codes (heartcodec/models/flow_matching.py): codes of one window ->
// condition (RVQ lookup, cond_feature_emb, nearest x2 in time) -> Euler ODE from Gaussian noise
// with the estimator, classifier-free guidance as a batch of 2 (condition zeroed in the first
// half), the in-context prefix pinned to the given latents.
#pragma once

#include <ATen/core/Tensor.h>
#include <string>

#include "codec/config.h"
#include "codec/estimator.h"
#include "codec/layers.h"
#include "codec/rvq.h"

namespace heartmula::codec {

class NoiseSource;

struct FlowMatching {
  ResidualVQ vq_embed;
  Linear cond_feature_emb;
  Estimator estimator;
  int64_t latent_dim = 0;

  // prefix: "flow_matching". The RVQ lookup and cond_feature_emb are float32; `dtype` is the
  // estimator's compute dtype.
  void declare(io::WeightBinder& b, const std::string& prefix, const HeartCodecConfig& cfg, c10::ScalarType dtype);

  // codes int64 [num_quantizers, W] -> condition mu [1, 2W, dim].
  at::Tensor condition(const at::Tensor& codes) const;

  // One window: codes [num_quantizers, W]; prefix [1, P, latent_dim] (P may be 0) -> latents
  // [1, 2W, latent_dim] whose first P frames equal `prefix`. Draws one noise tensor
  // [1, 2W, latent_dim]. guidance > 1 runs the CFG batch of 2, else a single pass.
  at::Tensor inference_codes(const at::Tensor& codes, const at::Tensor& prefix, NoiseSource& noise,
                             int steps, double guidance) const;
  void list_weights(const std::string& prefix, NamedWeights& out) const;
};

// The fixed-step Euler solver over t in linspace(0, 1, steps + 1) (float32, as upstream):
// x [1, T, C] noise, incontext_x [1, T, C] (zeros past the prefix), mu [1, T, dim]. The state x,
// the time and the update x += dt * dphi are float32 whatever the estimator's compute dtype.
at::Tensor solve_euler(const Estimator& est, at::Tensor x, const at::Tensor& incontext_x,
                       int64_t incontext_length, int steps, const at::Tensor& mu, double guidance);

}  // namespace heartmula::codec
