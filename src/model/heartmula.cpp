#include "model/heartmula.h"

#include <ATen/ATen.h>

#include "heartmula/error.h"
#include "io/checkpoint.h"
#include "io/weight_binder.h"

namespace heartmula::model {

c10::ScalarType parse_compute_dtype(const std::string& name) {
  if (name == "fp32" || name == "float32" || name == "float") return at::kFloat;
  if (name == "bf16" || name == "bfloat16") return at::kBFloat16;
  if (name == "fp16" || name == "float16" || name == "half") return at::kHalf;
  throw UsageError("unknown compute dtype '" + name + "' (use fp32, bf16 or fp16)");
}

namespace {
// LibTorch 1.13 has no float16 matmul on the CPU: say so before loading gigabytes.
void check_matmul_support(c10::ScalarType dtype, c10::Device device) {
  try {
    auto opts = at::TensorOptions().dtype(dtype).device(device);
    (void)at::linear(at::ones({1, 2}, opts), at::ones({2, 2}, opts));
  } catch (const c10::Error&) {
    throw Error(std::string("HeartMuLa cannot compute in ") + c10::toString(dtype) + " on " + device.str() +
                " with this LibTorch (its matmul is not implemented there); use fp32 or bf16");
  }
}
}  // namespace

HeartMuLaModel HeartMuLaModel::load(const std::string& dir, c10::ScalarType dtype, c10::Device device,
                                    LoadStats* stats) {
  if (dtype != at::kFloat && dtype != at::kBFloat16 && dtype != at::kHalf)
    throw Error(std::string("HeartMuLa compute dtype must be float32, bfloat16 or float16, got ") +
                c10::toString(dtype));
  check_matmul_support(dtype, device);
  HeartMuLaModel m;
  m.config = HeartMuLaConfig::from_file(dir + "/config.json");
  m.dtype = dtype;
  m.device = device;
  io::Checkpoint ckpt = io::Checkpoint::open(dir);
  io::WeightBinder binder(ckpt, dtype, device);
  m.declare(binder);
  binder.set_check_finite(true);  // NaN/Inf weights: one Error naming them (cost: docs/reliability.md)
  io::BindStats bs = binder.bind("");
  if (stats) *stats = {bs.tensors, bs.bytes_read, bs.bytes_loaded, bs.seconds, bs.unexpected};
  return m;
}

void HeartMuLaModel::declare(io::WeightBinder& binder) {
  const HeartMuLaConfig& c = config;
  backbone.cfg = c.backbone;
  decoder.cfg = c.decoder;
  const int64_t db = c.backbone.embed_dim, dd = c.decoder.embed_dim, v = c.audio_vocab_size;
  const int64_t n = c.audio_num_codebooks;
  backbone.declare(binder, "backbone", dtype, device);
  decoder.declare(binder, "decoder", dtype, device);
  binder.expect("text_embeddings.weight", {c.text_vocab_size, db}, &text_embeddings);
  binder.expect("audio_embeddings.weight", {v * n, db}, &audio_embeddings);
  binder.expect("unconditional_text_embedding.weight", {1, db}, &unconditional_text_embedding);
  binder.expect("projection.weight", {dd, db}, &projection);
  const int64_t vp = device.is_cuda() ? (v + 63) / 64 * 64 : v;  // see codebook0_head in heartmula.h
  binder.expect_with(
      "codebook0_head.weight", {v, db},
      [this, v, vp](at::Tensor t) {
        if (vp == v) {
          codebook0_head = t.contiguous();
          return;
        }
        codebook0_head = at::zeros({vp, t.size(1)}, t.options());
        codebook0_head.narrow(0, 0, v).copy_(t);
      },
      dtype);
  // Stored [N-1, Dd, V]; kept as [N-1, Vp, Dd] so that every head is a linear() over a
  // row-major weight (LibTorch 1.13's CPU bf16 mm accumulates poorly on the other layout).
  binder.expect_with(
      "audio_head", {n - 1, dd, v},
      [this, v, vp](at::Tensor t) {
        audio_head = at::zeros({t.size(0), vp, t.size(1)}, t.options());
        audio_head.narrow(1, 0, v).copy_(t.transpose(1, 2));
      },
      dtype);
  binder.expect("muq_linear.weight", {db, c.muq_dim}, &muq_linear_weight);
  binder.expect("muq_linear.bias", {db}, &muq_linear_bias);
}

at::Tensor HeartMuLaModel::embed_rows(const at::Tensor& tokens, const at::Tensor& mask,
                                      const at::Tensor& uncond_rows) const {
  const int64_t r = tokens.size(0), n = num_codebooks(), v = audio_vocab();
  const int64_t db = text_embeddings.size(1);
  at::Tensor text = at::embedding(text_embeddings, tokens.select(2, n));  // [R, S, Db]
  if (uncond_rows.defined())
    text = at::where(uncond_rows.view({r, 1, 1}), unconditional_text_embedding.view({1, 1, db}), text);
  at::Tensor offsets = at::arange(n, tokens.options()).mul(v);
  at::Tensor audio = at::embedding(audio_embeddings, tokens.narrow(2, 0, n).add(offsets));  // [R,S,N,Db]
  at::Tensor all = at::cat({audio, text.unsqueeze(2)}, 2);                                 // [R,S,N+1,Db]
  return all.mul(mask.unsqueeze(-1)).sum(2, /*keepdim=*/false, all.scalar_type());
}

at::Tensor HeartMuLaModel::muq_slot_embedding(int64_t rows, const at::Tensor& uncond_rows) const {
  const int64_t db = muq_linear_bias.size(0);
  at::Tensor zeros = at::zeros({rows, config.muq_dim}, muq_linear_weight.options());
  at::Tensor cond = at::linear(zeros, muq_linear_weight, muq_linear_bias);  // [R, Db]
  if (!uncond_rows.defined()) return cond;
  return at::where(uncond_rows.view({rows, 1}), unconditional_text_embedding.view({1, db}), cond);
}

at::Tensor HeartMuLaModel::embed_audio(int64_t codebook, const at::Tensor& tokens) const {
  return at::embedding(audio_embeddings, tokens.add(codebook * audio_vocab()));
}

at::Tensor HeartMuLaModel::project(const at::Tensor& x) const { return at::linear(x, projection); }

at::Tensor HeartMuLaModel::codebook0_logits_padded(const at::Tensor& h) const { return at::linear(h, codebook0_head); }

at::Tensor HeartMuLaModel::audio_logits_padded(int64_t codebook, const at::Tensor& h) const {
  return at::linear(h, audio_head.select(0, codebook - 1));
}

at::Tensor HeartMuLaModel::codebook0_logits(const at::Tensor& h) const {
  return codebook0_logits_padded(h).narrow(-1, 0, audio_vocab()).to(at::kFloat);
}

at::Tensor HeartMuLaModel::audio_logits(int64_t codebook, const at::Tensor& h) const {
  return audio_logits_padded(codebook, h).narrow(-1, 0, audio_vocab()).to(at::kFloat);
}

}  // namespace heartmula::model
