#include "model/heartmula.h"

#include <ATen/ATen.h>

#include "heartmula/error.h"
#include "io/checkpoint.h"
#include "io/weight_binder.h"

namespace heartmula::model {

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
  return load(dir, LmPrecision{dtype, WeightQuant::None}, device, stats);
}

HeartMuLaModel HeartMuLaModel::load(const std::string& dir, LmPrecision precision, c10::Device device,
                                    LoadStats* stats) {
  const c10::ScalarType dtype = precision.compute;
  if (dtype != at::kFloat && dtype != at::kBFloat16 && dtype != at::kHalf)
    throw Error(std::string("HeartMuLa compute dtype must be float32, bfloat16 or float16, got ") +
                c10::toString(dtype));
  check_matmul_support(dtype, device);
  HeartMuLaModel m;
  m.config = HeartMuLaConfig::from_file(dir + "/config.json");
  const bool stored_int8 = !m.config.quantization.empty();
  if (stored_int8 && precision.weights != WeightQuant::Int8)
    throw UsageError("checkpoint '" + dir + "' holds " + m.config.quantization +
                     " weights (heartmula-quantize): load it with --mula-dtype int8");
  m.dtype = dtype;
  m.weights = precision.weights;
  m.device = device;
  io::Checkpoint ckpt = io::Checkpoint::open(dir);
  io::WeightBinder binder(ckpt, dtype, device);
  m.declare(binder, stored_int8);
  binder.set_check_finite(true);  // NaN/Inf weights: one Error naming them (cost: docs/reliability.md)
  io::BindStats bs = binder.bind("");
  if (stats) *stats = {bs.tensors, bs.bytes_read, bs.bytes_loaded, bs.seconds, bs.unexpected};
  return m;
}

void HeartMuLaModel::declare(io::WeightBinder& binder, bool stored_int8) {
  const HeartMuLaConfig& c = config;
  backbone.cfg = c.backbone;
  decoder.cfg = c.decoder;
  const int64_t db = c.backbone.embed_dim, dd = c.decoder.embed_dim, v = c.audio_vocab_size;
  const int64_t n = c.audio_num_codebooks;
  const LinearLoad how{precision(), stored_int8, device};
  backbone.declare(binder, "backbone", how);
  decoder.declare(binder, "decoder", how);
  // Only the prompt's rows read the text table (the frames mask their text lane out): it stays in
  // host memory, 0.8 GB (bf16) that the device does not need to hold.
  binder.expect_on("text_embeddings.weight", {c.text_vocab_size, db}, &text_embeddings, dtype, c10::Device(c10::kCPU));
  binder.expect("audio_embeddings.weight", {v * n, db}, &audio_embeddings, dtype);
  binder.expect("unconditional_text_embedding.weight", {1, db}, &unconditional_text_embedding, dtype);
  declare_linear(binder, "projection.weight", dd, db, &projection, how);
  const int64_t vp = device.is_cuda() ? (v + 63) / 64 * 64 : v;  // see codebook0_head in heartmula.h
  declare_linear(binder, {{"codebook0_head.weight", v}}, db, vp, &codebook0_head, how);
  // Stored [N-1, Dd, V]; kept as [N-1, Vp, Dd] so that every head is a linear over a row-major
  // weight (LibTorch 1.13's CPU bf16 mm accumulates poorly on the other layout); int8: one scale
  // per vocabulary row, stored [N-1, V].
  const bool int8 = weights == WeightQuant::Int8;
  auto place = [this, v, vp](const at::Tensor& values, const at::Tensor& scale) {  // values [N-1, V, Dd]
    if (!audio_head.weight.defined())
      audio_head.weight = at::zeros({values.size(0), vp, values.size(2)}, values.options());
    audio_head.weight.narrow(1, 0, v).copy_(values);
    if (scale.defined()) {
      if (!audio_head.scale.defined()) audio_head.scale = at::zeros({scale.size(0), vp}, scale.options());
      audio_head.scale.narrow(1, 0, v).copy_(scale);
    }
  };
  if (!int8) {
    binder.expect_with(
        "audio_head", {n - 1, dd, v}, [place](at::Tensor t) { place(t.transpose(1, 2), at::Tensor()); }, dtype);
  } else if (!stored_int8) {
    binder.expect_with(
        "audio_head", {n - 1, dd, v},
        [this, v, vp](at::Tensor t) {
          // One codebook at a time: the float temporaries of a head, not of all seven.
          for (int64_t i = 0; i < t.size(0); ++i) {
            const Linear q = quantize_int8(t.select(0, i).transpose(0, 1));
            if (!audio_head.weight.defined()) {
              audio_head.weight = at::zeros({t.size(0), vp, t.size(1)}, q.weight.options());
              audio_head.scale = at::zeros({t.size(0), vp}, q.scale.options());
            }
            audio_head.weight.select(0, i).narrow(0, 0, v).copy_(q.weight);
            audio_head.scale.select(0, i).narrow(0, 0, v).copy_(q.scale);
          }
        },
        at::kFloat);
  } else {
    binder.expect_with(
        "audio_head", {n - 1, dd, v}, [place](at::Tensor t) { place(t.transpose(1, 2), at::Tensor()); }, at::kChar);
    binder.expect_with(
        std::string("audio_head") + QuantScheme::kScaleSuffix, {n - 1, v},
        [this, v, vp](at::Tensor t) {
          if (!audio_head.scale.defined()) audio_head.scale = at::zeros({t.size(0), vp}, t.options());
          audio_head.scale.narrow(1, 0, v).copy_(t);
        },
        at::kFloat);
  }
  binder.expect("muq_linear.weight", {db, c.muq_dim}, &muq_linear_weight, dtype);
  binder.expect("muq_linear.bias", {db}, &muq_linear_bias, dtype);
}

at::Tensor HeartMuLaModel::embed_rows(const at::Tensor& tokens, const at::Tensor& mask, const at::Tensor& uncond_rows,
                                      bool text_lane) const {
  const int64_t r = tokens.size(0), n = num_codebooks(), v = audio_vocab();
  const int64_t db = text_embeddings.size(1);
  at::Tensor offsets = at::arange(n, tokens.options()).mul(v);
  at::Tensor audio = at::embedding(audio_embeddings, tokens.narrow(2, 0, n).add(offsets));  // [R,S,N,Db]
  at::Tensor text;                                                                          // [R, S, Db]
  if (text_lane) {
    text = at::embedding(text_embeddings, tokens.select(2, n).to(text_embeddings.device())).to(audio.device());
    if (uncond_rows.defined())
      text = at::where(uncond_rows.view({r, 1, 1}), unconditional_text_embedding.view({1, 1, db}), text);
  } else {  // masked out: zeros, as text * false would give
    text = at::zeros({r, tokens.size(1), db}, audio.options());
  }
  at::Tensor all = at::cat({audio, text.unsqueeze(2)}, 2);  // [R,S,N+1,Db]
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

at::Tensor HeartMuLaModel::project(const at::Tensor& x) const { return projection(x); }

at::Tensor HeartMuLaModel::codebook0_logits_padded(const at::Tensor& h) const { return codebook0_head(h); }

at::Tensor HeartMuLaModel::audio_logits_padded(int64_t codebook, const at::Tensor& h) const {
  return audio_head.select(codebook - 1)(h);
}

at::Tensor HeartMuLaModel::codebook0_logits(const at::Tensor& h) const {
  return codebook0_logits_padded(h).narrow(-1, 0, audio_vocab()).to(at::kFloat);
}

at::Tensor HeartMuLaModel::audio_logits(int64_t codebook, const at::Tensor& h) const {
  return audio_logits_padded(codebook, h).narrow(-1, 0, audio_vocab()).to(at::kFloat);
}

}  // namespace heartmula::model
