#include "codec/estimator.h"

#include <ATen/ATen.h>
#include <cmath>
#include <utility>
#include <vector>

#include "io/weight_binder.h"

namespace heartmula::codec {

namespace {

constexpr int64_t kTimestepChannels = 512;  // PixArtAlphaCombinedFlowEmbeddings.flow_t_size

// [B] float32 -> [B, 512]: cat(cos(t*1000*f), sin(t*1000*f)), f = exp(-ln(10000) * i / 256).
at::Tensor timestep_embedding(const at::Tensor& t) {
  const int64_t half = kTimestepChannels / 2;
  at::Tensor freqs = at::exp(at::arange(0, half, t.options()) * (-std::log(10000.0)) / static_cast<double>(half));
  at::Tensor args = t.unsqueeze(1) * freqs.unsqueeze(0) * 1000;
  return at::cat({at::cos(args), at::sin(args)}, -1);
}

// LayerNorm without affine parameters, eps 1e-6, then (1 + scale) and shift from table + emb.
at::Tensor norm_out(const at::Tensor& x, const at::Tensor& table, const at::Tensor& embedded) {
  at::Tensor mod = table.unsqueeze(0) + embedded.unsqueeze(1);  // [B, 2, D]
  at::Tensor shift = mod.narrow(1, 0, 1), scale = mod.narrow(1, 1, 1);
  at::Tensor n = at::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6);
  return n * (1 + scale) + shift;
}

}  // namespace

void ProjectLayer::declare(io::WeightBinder& b, const std::string& prefix, int64_t in, int64_t out, int64_t k,
                           c10::ScalarType dtype) {
  kernel = k;
  b.expect_with(
      prefix + ".ffn_1.weight", {out, in, k},
      [this, in, out, k](at::Tensor w) {
        if (!w.is_cuda() && !channels_last_on_any_device()) {
          ffn_1.set_weight(std::move(w));
          return;
        }
        // [out, in, k] -> [out, k, in]: row o holds tap 0's input weights, then tap 1's, ...
        wmat = w.permute({0, 2, 1}).contiguous().view({out, k * in});
        ffn_1.weight = wmat.view({out, k, in}).permute({0, 2, 1});  // for weights() / comparisons
      },
      dtype);
  b.expect(prefix + ".ffn_1.bias", {out}, &ffn_1.bias, dtype);
  ffn_1.set_centred(k);
  ffn_2.declare(b, prefix + ".ffn_2", out, out, true, dtype);
}

at::Tensor ProjectLayer::operator()(const at::Tensor& x) const {
  const at::Tensor xc = x.to(ffn_1.weight.scalar_type());
  at::Tensor y;
  if (wmat.defined()) {
    const int64_t t = xc.size(1), pad = kernel / 2;
    const at::Tensor xp = at::constant_pad_nd(xc, {0, 0, pad, kernel - 1 - pad});  // [B, T + k - 1, in]
    std::vector<at::Tensor> taps;
    for (int64_t j = 0; j < kernel; ++j) taps.push_back(xp.narrow(1, j, t));
    y = at::linear(at::cat(taps, -1), wmat, ffn_1.bias);  // [B, T, out]
  } else {
    y = ffn_1(xc.transpose(1, 2)).transpose(1, 2);
  }
  y = y * std::pow(static_cast<double>(kernel), -0.5);
  return ffn_2(y);
}

void ProjectLayer::list_weights(const std::string& prefix, NamedWeights& out) const {
  ffn_1.list_weights(prefix + ".ffn_1", out);
  ffn_2.list_weights(prefix + ".ffn_2", out);
}

void AdaLNSingle::list_weights(const std::string& prefix, NamedWeights& out) const {
  linear_1.list_weights(prefix + ".emb.timestep_embedder.linear_1", out);
  linear_2.list_weights(prefix + ".emb.timestep_embedder.linear_2", out);
  linear.list_weights(prefix + ".linear", out);
}

void Estimator::list_weights(const std::string& prefix, NamedWeights& out) const {
  proj_in.list_weights(prefix + ".proj_in", out);
  for (size_t i = 0; i < transformer_blocks.size(); ++i)
    transformer_blocks[i].list_weights(prefix + ".transformer_blocks." + std::to_string(i), out);
  connection_proj.list_weights(prefix + ".connection_proj", out);
  for (size_t i = 0; i < transformer_blocks_2.size(); ++i)
    transformer_blocks_2[i].list_weights(prefix + ".transformer_blocks_2." + std::to_string(i), out);
  proj_out.list_weights(prefix + ".proj_out", out);
  adaln_single.list_weights(prefix + ".adaln_single", out);
  adaln_single_2.list_weights(prefix + ".adaln_single_2", out);
  add_weight(out, prefix + ".scale_shift_table", scale_shift_table);
  add_weight(out, prefix + ".scale_shift_table_2", scale_shift_table_2);
}

void AdaLNSingle::declare(io::WeightBinder& b, const std::string& prefix, int64_t dim) {
  linear_1.declare(b, prefix + ".emb.timestep_embedder.linear_1", kTimestepChannels, dim, true, at::kFloat);
  linear_2.declare(b, prefix + ".emb.timestep_embedder.linear_2", dim, dim, true, at::kFloat);
  linear.declare(b, prefix + ".linear", dim, 6 * dim, true, at::kFloat);
}

std::pair<at::Tensor, at::Tensor> AdaLNSingle::operator()(const at::Tensor& timestep) const {
  at::Tensor proj = timestep_embedding(timestep.to(at::kFloat)).to(linear_1.weight.scalar_type());
  at::Tensor embedded = linear_2(at::silu(linear_1(proj)));
  return {linear(at::silu(embedded)), embedded};
}

std::pair<at::Tensor, at::Tensor> AdaLNSingle::step_rows(const std::pair<at::Tensor, at::Tensor>& all, int64_t s,
                                                         int64_t rows) {
  return {all.first.narrow(0, s, 1).expand({rows, all.first.size(1)}),
          all.second.narrow(0, s, 1).expand({rows, all.second.size(1)})};
}

void Estimator::declare(io::WeightBinder& b, const std::string& prefix, const HeartCodecConfig& c,
                        c10::ScalarType dtype) {
  cfg = c;
  compute = dtype;
  const int64_t inner = c.inner_dim(), inner2 = 2 * inner;
  proj_in.declare(b, prefix + ".proj_in", c.in_channels, inner, 3, dtype);
  connection_proj.declare(b, prefix + ".connection_proj", c.in_channels + inner, inner2, 3, dtype);
  proj_out.declare(b, prefix + ".proj_out", inner2, c.out_channels, 3, dtype);
  transformer_blocks.resize(c.num_layers);
  for (int64_t i = 0; i < c.num_layers; ++i)
    transformer_blocks[i].declare(b, prefix + ".transformer_blocks." + std::to_string(i), inner, c.num_attention_heads,
                                  c.attention_head_dim, dit_mlp_hidden(inner), dtype);
  transformer_blocks_2.resize(c.num_layers_2);
  for (int64_t i = 0; i < c.num_layers_2; ++i)
    transformer_blocks_2[i].declare(b, prefix + ".transformer_blocks_2." + std::to_string(i), inner2,
                                    c.num_attention_heads, 2 * c.attention_head_dim, dit_mlp_hidden(inner2), dtype);
  adaln_single.declare(b, prefix + ".adaln_single", inner);
  adaln_single_2.declare(b, prefix + ".adaln_single_2", inner2);
  b.expect(prefix + ".scale_shift_table", {2, inner}, &scale_shift_table, at::kFloat);
  b.expect(prefix + ".scale_shift_table_2", {2, inner2}, &scale_shift_table_2, at::kFloat);
}

EstimatorRope Estimator::rope_tables(int64_t seq_len, c10::Device device) const {
  return {make_rope(cfg.attention_head_dim, seq_len, compute, device),
          make_rope(2 * cfg.attention_head_dim, seq_len, compute, device)};
}

at::Tensor Estimator::forward(const at::Tensor& hidden, const at::Tensor& timestep) const {
  return forward(hidden, timestep, rope_tables(hidden.size(1), hidden.device()));
}

namespace {

// The estimator's body given each stack's {modulation, embedded} for the rows of `hidden`.
at::Tensor estimator_body(const Estimator& e, const at::Tensor& hidden, const std::pair<at::Tensor, at::Tensor>& m1,
                          const std::pair<at::Tensor, at::Tensor>& m2, const EstimatorRope& rope) {
  at::Tensor s = e.proj_in(hidden).to(at::kFloat);  // the residual streams are float32
  s = run_dit_stack(e.transformer_blocks, std::move(s), m1.first, rope.rope);
  s = norm_out(s, e.scale_shift_table, m1.second);

  at::Tensor x = e.connection_proj(at::cat({hidden.to(e.compute), s.to(e.compute)}, -1)).to(at::kFloat);
  x = run_dit_stack(e.transformer_blocks_2, std::move(x), m2.first, rope.rope2);
  x = norm_out(x, e.scale_shift_table_2, m2.second);
  return e.proj_out(x).to(at::kFloat);
}

}  // namespace

at::Tensor Estimator::forward(const at::Tensor& hidden, const at::Tensor& timestep, const EstimatorRope& rope) const {
  return estimator_body(*this, hidden, adaln_single(timestep), adaln_single_2(timestep), rope);
}

Estimator::Modulations Estimator::modulations(const at::Tensor& t) const {
  return {adaln_single(t), adaln_single_2(t)};
}

at::Tensor Estimator::forward_step(const at::Tensor& hidden, const Modulations& all, int64_t s,
                                   const EstimatorRope& rope) const {
  const int64_t rows = hidden.size(0);
  return estimator_body(*this, hidden, AdaLNSingle::step_rows(all.first, s, rows),
                        AdaLNSingle::step_rows(all.second, s, rows), rope);
}

}  // namespace heartmula::codec
