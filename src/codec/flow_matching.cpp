#include "codec/flow_matching.h"

#include <ATen/ATen.h>
#include <utility>
#include <vector>

#include "codec/noise.h"
#include "io/weight_binder.h"

namespace heartmula::codec {

void FlowMatching::declare(io::WeightBinder& b, const std::string& prefix, const HeartCodecConfig& c,
                           c10::ScalarType dtype) {
  latent_dim = c.out_channels;
  vq_embed.declare(b, prefix + ".vq_embed", c.num_quantizers, c.codebook_size, c.codebook_dim, c.dim);
  cond_feature_emb.declare(b, prefix + ".cond_feature_emb", c.dim, c.dim, true, at::kFloat);
  estimator.declare(b, prefix + ".estimator", c, dtype);
}

void FlowMatching::list_weights(const std::string& prefix, NamedWeights& out) const {
  vq_embed.list_weights(prefix + ".vq_embed", out);
  cond_feature_emb.list_weights(prefix + ".cond_feature_emb", out);
  estimator.list_weights(prefix + ".estimator", out);
}

at::Tensor FlowMatching::condition(const at::Tensor& codes) const {
  at::Tensor q = cond_feature_emb(vq_embed.lookup(codes));  // [1, W, dim]
  return q.repeat_interleave(2, 1);                         // F.interpolate(nearest, x2)
}

namespace {

// A window's solver inputs: the noise latents [1, 2W, C] and the in-context latents (zeros
// past the prefix) on mu's device.
std::pair<at::Tensor, at::Tensor> window_inputs(const at::Tensor& mu, const at::Tensor& prefix, NoiseSource& noise,
                                                int64_t latent_dim) {
  at::Tensor latents = noise.next({1, mu.size(1), latent_dim}).to(mu.device(), mu.scalar_type(), /*non_blocking=*/true);
  at::Tensor incontext = at::zeros_like(latents);
  if (prefix.defined() && prefix.size(1) > 0) incontext.narrow(1, 0, prefix.size(1)).copy_(prefix);
  return {latents, incontext};
}

}  // namespace

at::Tensor FlowMatching::inference_codes(const at::Tensor& codes, const at::Tensor& prefix, NoiseSource& noise,
                                         int steps, double guidance, SolverGraphs* graphs) const {
  at::Tensor mu = condition(codes);
  const auto [latents, incontext] = window_inputs(mu, prefix, noise, latent_dim);
  const int64_t ic = prefix.defined() ? prefix.size(1) : 0;
  at::Tensor out = graphs ? graphs->solve(estimator, latents, incontext, ic, steps, mu, guidance)
                          : solve_euler(estimator, latents, incontext, ic, steps, mu, guidance);
  if (ic > 0) out.narrow(1, 0, ic).copy_(incontext.narrow(1, 0, ic));
  return out;
}

void FlowMatching::prepare_graph(const at::Tensor& codes, const at::Tensor& prefix, NoiseSource& noise, int steps,
                                 double guidance, SolverGraphs& graphs) const {
  at::Tensor mu = condition(codes);
  const auto [latents, incontext] = window_inputs(mu, prefix, noise, latent_dim);
  graphs.prepare(estimator, latents, incontext, prefix.defined() ? prefix.size(1) : 0, steps, mu, guidance);
}

at::Tensor solve_euler(const Estimator& est, at::Tensor x, const at::Tensor& incontext_x, int64_t incontext_length,
                       int steps, const at::Tensor& mu, double guidance, const at::Tensor& incontext_mask) {
  const at::Tensor t_span = at::linspace(0, 1, steps + 1, at::TensorOptions().dtype(at::kFloat).device(x.device()));
  at::Tensor t = t_span[0];
  at::Tensor dt = t_span[1] - t_span[0];
  x = x.to(at::kFloat);  // the ODE state (and the in-context prefix) stays float32
  const at::Tensor noise = x.clone();
  const bool cfg = guidance > 1.0;
  const int64_t rows = cfg ? 2 : 1, len = x.size(1), c = x.size(2), d = mu.size(2);
  // The estimator's input [rows, T, C + C + dim] in its compute dtype: x (rewritten every step),
  // the in-context latents and the condition (zeroed in the unconditional first row), filled once.
  at::Tensor in = at::empty({rows, len, 2 * c + d}, x.options().dtype(est.compute));
  in.narrow(2, c, c).copy_(incontext_x.expand({rows, len, c}));
  if (cfg) {
    in.narrow(2, 2 * c, d).narrow(0, 0, 1).zero_();
    in.narrow(2, 2 * c, d).narrow(0, 1, 1).copy_(mu);
  } else {
    in.narrow(2, 2 * c, d).copy_(mu);
  }
  const EstimatorRope rope = est.rope_tables(len, x.device());
  // Every step's time, by the loop's own float32 recurrence (t += dt; dt = t_span[k + 1] - t),
  // and the AdaLN modulations of all steps at once.
  std::vector<at::Tensor> times{t};
  {
    at::Tensor tt = t, dd = dt;
    for (int step = 1; step < steps; ++step) {
      tt = tt + dd;
      dd = t_span[step + 1] - tt;
      times.push_back(tt);
    }
  }
  const Estimator::Modulations mods = est.modulations(at::stack(times));
  for (int step = 1; step <= steps; ++step) {
    if (incontext_mask.defined()) {
      at::Tensor coef = 1 - (t * (1 - 1e-6));
      x = at::where(incontext_mask, coef * noise + t * incontext_x, x);
    } else if (incontext_length > 0) {
      at::Tensor coef = 1 - (t * (1 - 1e-6));
      x.narrow(1, 0, incontext_length)
          .copy_(coef * noise.narrow(1, 0, incontext_length) + t * incontext_x.narrow(1, 0, incontext_length));
    }
    in.narrow(2, 0, c).copy_(x.expand({rows, len, c}));
    const at::Tensor out = est.forward_step(in, mods, step - 1, rope);  // float32
    at::Tensor dphi;
    if (cfg) {
      at::Tensor uncond = out.narrow(0, 0, 1), cond = out.narrow(0, 1, 1);
      dphi = uncond + guidance * (cond - uncond);
    } else {
      dphi = out;
    }
    x = x + dt * dphi;
    t = t + dt;
    if (step < steps) dt = t_span[step + 1] - t;
  }
  return x;
}

SolverGraphs::Slot& SolverGraphs::fill(const Estimator& est, const at::Tensor& x, const at::Tensor& incontext_x,
                                       int64_t incontext_length, int steps, const at::Tensor& mu, double guidance) {
  const SlotKey key{&est, x.size(1), x.size(2), mu.size(2), steps, guidance};
  auto it = slots_.find(key);
  if (it == slots_.end()) {
    Slot s;
    s.key = static_cast<int64_t>(slots_.size());
    s.x = at::empty_like(x, at::MemoryFormat::Contiguous);
    s.incontext = at::empty_like(incontext_x, at::MemoryFormat::Contiguous);
    s.mu = at::empty_like(mu, at::MemoryFormat::Contiguous);
    s.mask = at::empty({1, x.size(1), 1}, x.options().dtype(at::kBool));
    it = slots_.emplace(key, std::move(s)).first;
  }
  Slot& s = it->second;
  s.x.copy_(x);
  s.incontext.copy_(incontext_x);
  s.mu.copy_(mu);
  s.mask.copy_(at::arange(x.size(1), x.options().dtype(at::kLong)).lt(incontext_length).view({1, -1, 1}));
  return s;
}

at::Tensor SolverGraphs::solve(const Estimator& est, const at::Tensor& x, const at::Tensor& incontext_x,
                               int64_t incontext_length, int steps, const at::Tensor& mu, double guidance) {
  if (!warmed_) {  // eager once: nothing may load or allocate lazily inside a capture
    warmed_ = true;
    return solve_euler(est, x, incontext_x, incontext_length, steps, mu, guidance);
  }
  Slot& s = fill(est, x, incontext_x, incontext_length, steps, mu, guidance);
  run_(
      s.key, [&] { s.out = solve_euler(est, s.x, s.incontext, 0, steps, s.mu, guidance, s.mask); }, true);
  return s.out.clone();
}

void SolverGraphs::prepare(const Estimator& est, const at::Tensor& x, const at::Tensor& incontext_x,
                           int64_t incontext_length, int steps, const at::Tensor& mu, double guidance) {
  if (!warmed_) return;  // the first solve must be eager
  Slot& s = fill(est, x, incontext_x, incontext_length, steps, mu, guidance);
  run_(
      s.key, [&] { s.out = solve_euler(est, s.x, s.incontext, 0, steps, s.mu, guidance, s.mask); }, false);
}

}  // namespace heartmula::codec
