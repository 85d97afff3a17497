#include "model/rope.h"

#include <ATen/ATen.h>
#include <cmath>

namespace heartmula::model {

at::Tensor llama3_rope_theta(int64_t head_dim, double base, double scale_factor) {
  // Same float32 operations, in the same order, as torchtune's rope_init/apply_scaling.
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Tensor exps = at::arange(0, head_dim, 2, at::TensorOptions().dtype(at::kLong))
                        .narrow(0, 0, head_dim / 2)
                        .to(at::kFloat)
                        .div(static_cast<double>(head_dim));
  at::Tensor freqs = at::reciprocal(at::pow(at::Scalar(base), exps));
  const double low_freq_factor = 1.0, high_freq_factor = 4.0, old_context_len = 8192.0;
  const double low_freq_wavelen = old_context_len / low_freq_factor;
  const double high_freq_wavelen = old_context_len / high_freq_factor;
  at::Tensor out = at::empty({head_dim / 2}, f32);
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    at::Tensor freq = freqs[i];
    at::Tensor wavelen = at::reciprocal(freq).mul(2.0 * M_PI);
    const float w = wavelen.item<float>();
    at::Tensor v;
    if (w < static_cast<float>(high_freq_wavelen)) {
      v = freq;
    } else if (w > static_cast<float>(low_freq_wavelen)) {
      v = freq.div(scale_factor);
    } else {
      at::Tensor smooth =
          at::reciprocal(wavelen).mul(old_context_len).sub(low_freq_factor).div(high_freq_factor - low_freq_factor);
      at::Tensor one_minus = at::rsub(smooth, 1.0);
      v = one_minus.mul(freq).div(scale_factor).add(smooth.mul(freq));
    }
    out[i] = v;
  }
  return out;
}

RopeTable RopeTable::build(const TransformerConfig& cfg, int64_t max_len, c10::Device device) {
  at::Tensor theta = llama3_rope_theta(cfg.head_dim(), cfg.rope_base, cfg.scale_factor);
  at::Tensor seq = at::arange(max_len, at::TensorOptions().dtype(at::kFloat));
  at::Tensor idx_theta = seq.unsqueeze(1).mul(theta.unsqueeze(0));  // [max_len, head_dim/2]
  RopeTable t;
  t.cos = at::cos(idx_theta).to(device);
  t.sin = at::sin(idx_theta).to(device);
  return t;
}

int64_t RopeTable::max_len() const { return cos.defined() ? cos.size(0) : 0; }

RopeRows gather_rope(const RopeTable& table, const at::Tensor& positions) {
  const int64_t b = positions.size(0), s = positions.size(1);
  at::Tensor flat = positions.reshape({-1});
  RopeRows r;
  r.cos = table.cos.index_select(0, flat).view({b, s, 1, -1});
  r.sin = table.sin.index_select(0, flat).view({b, s, 1, -1});
  return r;
}

at::Tensor apply_rope(const at::Tensor& x, const RopeRows& rows) {
  auto sizes = x.sizes().vec();
  sizes.back() /= 2;
  sizes.push_back(2);
  at::Tensor xs = x.to(at::kFloat).reshape(sizes);  // [B, S, H, hd/2, 2]
  at::Tensor x0 = xs.select(-1, 0), x1 = xs.select(-1, 1);
  at::Tensor o0 = x0.mul(rows.cos).sub(x1.mul(rows.sin));
  at::Tensor o1 = x1.mul(rows.cos).add(x0.mul(rows.sin));
  return at::stack({o0, o1}, -1).flatten(3).to(x.scalar_type());
}

}  // namespace heartmula::model
