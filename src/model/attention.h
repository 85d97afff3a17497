// Attention over a preallocated KV cache, and what one forward step needs.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "model/config.h"
#include "model/rope.h"

namespace heartmula::model {

// Keys and values of every layer of one transformer stack, preallocated (zeros) for
// `max_len` positions:  k, v [num_layers, B, num_kv_heads, max_len, head_dim].
// Heads are stored unexpanded (GQA); attention expands or groups them.
struct KVCache {
  at::Tensor k;
  at::Tensor v;

  static KVCache allocate(const TransformerConfig& cfg, int64_t batch, int64_t max_len, c10::ScalarType dtype,
                          c10::Device device);
  int64_t batch() const { return k.size(1); }
  int64_t max_len() const { return k.size(3); }
};

// What a forward pass over S new positions needs; built once and shared by all layers.
struct StepContext {
  RopeRows rope;       // cos, sin [B, S, 1, head_dim/2] for the new positions
  at::Tensor slots;    // [S] int64: cache slots the new keys/values go to (same for every row)
  int64_t kv_len = 0;  // attend over cache slots [0, kv_len)
  at::Tensor mask;     // [B or 1, 1, S, kv_len] bool, true = may attend; undefined = attend to all
};

// Mask for queries in cache slots `slots` [S] over cache slots [0, kv_len): slot j is visible
// from slot i when j <= i and, for row b, j >= pad[b] (rows left-padded by pad[b] slots; a
// padded query still sees itself so that no softmax row is empty). pad [B] int64 or undefined
// (no padding: B = 1, broadcast over rows). Returns [B, 1, S, kv_len] bool.
at::Tensor attention_mask(const at::Tensor& slots, int64_t kv_len, const at::Tensor& pad);

// Scaled dot-product attention with grouped KV heads.
// q [B, H, S, hd], k/v [B, Hkv, T, hd] (H % Hkv == 0; query head h reads kv head h / (H/Hkv)),
// mask [B or 1, 1, S, T] bool or undefined. Returns [B, H, S, hd] in q's dtype.
// LibTorch >= 2.0 uses at::scaled_dot_product_attention, older ones matmul + softmax.
at::Tensor grouped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask);
// The same computed with matmul + softmax (softmax in float32); what LibTorch < 2.0 runs.
at::Tensor grouped_attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                       const at::Tensor& mask);

}  // namespace heartmula::model
