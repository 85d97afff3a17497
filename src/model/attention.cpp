#include "model/attention.h"

#include <ATen/ATen.h>
#include <cmath>
#include <limits>
#include <torch/version.h>

namespace heartmula::model {

#define HEARTMULA_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

KVCache KVCache::allocate(const TransformerConfig& cfg, int64_t batch, int64_t max_len, c10::ScalarType dtype,
                          c10::Device device) {
  // Zeros, not garbage: masked slots still meet a 0 weight in probs @ v (0 * NaN = NaN).
  auto opts = at::TensorOptions().dtype(dtype).device(device);
  KVCache c;
  c.k = at::zeros({cfg.num_layers, batch, cfg.num_kv_heads, max_len, cfg.head_dim()}, opts);
  c.v = at::zeros_like(c.k);
  return c;
}

at::Tensor attention_mask(const at::Tensor& slots, int64_t kv_len, const at::Tensor& pad) {
  const int64_t s = slots.size(0);
  at::Tensor j = at::arange(kv_len, slots.options()).view({1, 1, 1, kv_len});
  at::Tensor i = slots.view({1, 1, s, 1});
  at::Tensor visible = j.le(i);  // [1, 1, S, T]
  if (!pad.defined()) return visible;
  at::Tensor after_pad = j.ge(pad.view({-1, 1, 1, 1}));  // [B, 1, 1, T]
  return visible.logical_and(after_pad.logical_or(j.eq(i)));
}

at::Tensor grouped_attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                       const at::Tensor& mask) {
  const int64_t b = q.size(0), h = q.size(1), s = q.size(2), hd = q.size(3);
  const int64_t hkv = k.size(1), t = k.size(2), g = h / hkv;
  at::Tensor qg = q.reshape({b, hkv, g * s, hd});
  at::Tensor scores = at::matmul(qg, k.transpose(-2, -1)).mul(1.0 / std::sqrt(static_cast<double>(hd)));
  if (mask.defined()) {
    scores =
        scores.view({b, hkv, g, s, t})
            .masked_fill(mask.logical_not().view({mask.size(0), 1, 1, s, t}), -std::numeric_limits<double>::infinity())
            .view({b, hkv, g * s, t});
  }
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(probs, v).view({b, h, s, hd});
}

at::Tensor grouped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask) {
#if HEARTMULA_TORCH_AT_LEAST(2, 5)
  c10::optional<at::Tensor> m;
  if (mask.defined()) m = mask;
  return at::scaled_dot_product_attention(q, k, v, m, 0.0, false, c10::nullopt,
                                          /*enable_gqa=*/k.size(1) != q.size(1));
#elif HEARTMULA_TORCH_AT_LEAST(2, 0)
  const int64_t g = q.size(1) / k.size(1);
  auto expand = [g](const at::Tensor& x) {
    if (g == 1) return x;
    auto sz = x.sizes();
    return x.unsqueeze(2).expand({sz[0], sz[1], g, sz[2], sz[3]}).reshape({sz[0], sz[1] * g, sz[2], sz[3]});
  };
  c10::optional<at::Tensor> m;
  if (mask.defined()) m = mask;
  return at::scaled_dot_product_attention(q, expand(k), expand(v), m, 0.0, false);
#else
  return grouped_attention_reference(q, k, v, mask);
#endif
}

}  // namespace heartmula::model
