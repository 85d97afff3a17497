// FlowMatching.inference_codes (heartcodec/models/flow_matching.py): codes of one window ->
// condition (RVQ lookup, cond_feature_emb, nearest x2 in time) -> Euler ODE from Gaussian noise
// with the estimator, classifier-free guidance as a batch of 2 (condition zeroed in the first
// half), the in-context prefix pinned to the given latents.
#pragma once

#include <ATen/core/Tensor.h>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>

#include "codec/config.h"
#include "codec/estimator.h"
#include "codec/layers.h"
#include "codec/rvq.h"

namespace heartmula::codec {

class NoiseSource;
class SolverGraphs;

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
  // `graphs` (may be null): run the Euler solve from a device graph (same result).
  at::Tensor inference_codes(const at::Tensor& codes, const at::Tensor& prefix, NoiseSource& noise, int steps,
                             double guidance, SolverGraphs* graphs = nullptr) const;
  // What inference_codes with `graphs` does up to the solve, which is only captured (a graph
  // for this window's key, made without running it; see SolverGraphs::prepare). Draws the
  // same noise. For a warm-up beside other device work: the capture costs no device time.
  void prepare_graph(const at::Tensor& codes, const at::Tensor& prefix, NoiseSource& noise, int steps, double guidance,
                     SolverGraphs& graphs) const;
  void list_weights(const std::string& prefix, NamedWeights& out) const;
};

// The fixed-step Euler solver over t in linspace(0, 1, steps + 1) (float32, as upstream):
// x [1, T, C] noise, incontext_x [1, T, C] (zeros past the prefix), mu [1, T, dim]. The state x,
// the time and the update x += dt * dphi are float32 whatever the estimator's compute dtype.
// incontext_mask (bool [1, T, 1], true on the prefix frames; may be undefined): the prefix is
// pinned with at::where over the whole length instead of a copy into its first frames, so that
// the work does not depend on the prefix length (one device graph for every window). Each
// element gets the same value either way.
at::Tensor solve_euler(const Estimator& est, at::Tensor x, const at::Tensor& incontext_x, int64_t incontext_length,
                       int steps, const at::Tensor& mu, double guidance,
                       const at::Tensor& incontext_mask = at::Tensor());

// How the runtime layer runs a fixed-shape body from a device graph (runtime::StepGraphs::run
// with capture at first sight): run(key, body, true) captures body for a new key and replays
// it; run(key, body, false) only captures it when the key is new (nothing runs on the device).
using GraphRunFn = std::function<void(int64_t key, const std::function<void()>& body, bool replay)>;

// The Euler solve of a window as a device graph (issue #7: 30 DiT blocks x 10 steps are
// ~26 000 kernel launches per window, which the host cannot issue as fast as the GPU runs
// them). One graph per (estimator, length, steps, guidance), fed through fixed input tensors
// and read back from its output tensor; every window of a song replays the same graph. The
// first solve on an object runs eagerly (kernels load, library handles are made before any
// capture). Not thread-safe: one object per thread that decodes.
class SolverGraphs {
 public:
  explicit SolverGraphs(GraphRunFn run) : run_(std::move(run)) {}
  // solve_euler's result for these arguments (x, incontext_x, mu [1, T, *] float32 on the device).
  at::Tensor solve(const Estimator& est, const at::Tensor& x, const at::Tensor& incontext_x, int64_t incontext_length,
                   int steps, const at::Tensor& mu, double guidance);
  // Captures the graph solve() would replay for these arguments without running it (after
  // the first, eager, solve; before it nothing is captured).
  void prepare(const Estimator& est, const at::Tensor& x, const at::Tensor& incontext_x, int64_t incontext_length,
               int steps, const at::Tensor& mu, double guidance);
  size_t graphs() const { return slots_.size(); }

 private:
  struct Slot {
    int64_t key = 0;
    at::Tensor x, incontext, mask, mu, out;
  };
  using SlotKey = std::tuple<const Estimator*, int64_t, int64_t, int64_t, int, double>;
  // The slot of these arguments' key (made at first sight), its inputs filled in.
  Slot& fill(const Estimator& est, const at::Tensor& x, const at::Tensor& incontext_x, int64_t incontext_length,
             int steps, const at::Tensor& mu, double guidance);
  GraphRunFn run_;
  bool warmed_ = false;
  std::map<SlotKey, Slot> slots_;
};

}  // namespace heartmula::codec
