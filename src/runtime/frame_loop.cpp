#include "runtime/frame_loop.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <chrono>

#include "heartmula/error.h"
#include "runtime/device.h"

namespace heartmula::runtime {

using model::HeartMuLaModel;
using model::StepContext;

int64_t frames_for_duration(int64_t max_audio_length_ms) {
  return max_audio_length_ms < 0 ? 1 : max_audio_length_ms / 80 + 1;
}

int64_t positions_needed(int64_t prompt_len, int64_t frames) { return prompt_len + frames - 1; }

void check_context(const HeartMuLaModel& model, int64_t prompt_len, int64_t frames) {
  const int64_t max_seq = model.config.backbone.max_seq_len;
  if (prompt_len > max_seq)
    throw Error("the prompt has " + std::to_string(prompt_len) + " positions but the model's context (max_seq_len) is " +
                std::to_string(max_seq) + ": shorten the lyrics/tags by at least " +
                std::to_string(prompt_len - max_seq) + " tokens");
  const int64_t need = positions_needed(prompt_len, frames);
  if (need > max_seq) {
    const int64_t fit = max_seq - prompt_len + 1;  // frames that fit, the first included
    throw Error("the request does not fit the model's context: a prompt of " + std::to_string(prompt_len) +
                " positions plus " + std::to_string(frames) + " frames needs " + std::to_string(need) +
                " positions, " + std::to_string(need - max_seq) + " more than max_seq_len " + std::to_string(max_seq) +
                "; at most " + std::to_string(fit) + " frames fit (--max_audio_length_ms " +
                std::to_string((fit - 1) * 80) + "), or shorten the lyrics/tags");
  }
}

FrameStepper::FrameStepper(const HeartMuLaModel& model, const model::GenConfig& gen, const SamplingParams& params,
                           int64_t max_positions, bool full_cache_attention)
    : m_(model), params_(params), cfg_(params.uses_cfg()), full_(full_cache_attention) {
  c10::InferenceMode guard;
  songs_ = 1;
  rows_ = cfg_ ? 2 * songs_ : songs_;
  n_ = model.num_codebooks();
  const c10::Device dev = model.device;
  const auto i64 = at::TensorOptions().dtype(at::kLong).device(dev);
  gen_ = make_generator(dev, params.seed);
  if (cfg_) uncond_ = at::arange(rows_, i64).ge(songs_);
  bb_cache_ = model::KVCache::allocate(model.config.backbone, rows_, max_positions, model.dtype, dev);
  dec_cache_ = model::KVCache::allocate(model.config.decoder, rows_, n_, model.dtype, dev);
  bb_rope_ = model::RopeTable::build(model.config.backbone, max_positions, dev);
  dec_rope_ = model::RopeTable::build(model.config.decoder, n_, dev);
  // Decoder call 1 reads positions [0, 1] (backbone state, codebook 0); call i reads [i].
  for (int64_t i = 1; i < n_; ++i) {
    at::Tensor pos = i == 1 ? at::arange(2, i64) : at::full({1}, i, i64);
    const int64_t s = pos.size(0);
    at::Tensor rows_pos = pos.view({1, s}).expand({rows_, s}).contiguous();
    StepContext c;
    c.rope = model::gather_rope(dec_rope_, rows_pos);
    c.slots = pos;
    c.kv_len = full_ ? n_ : i + 1;
    if (full_ || s > 1) c.mask = model::causal_mask(rows_pos, c.kv_len);
    dec_ctx_.push_back(c);
  }
  row_tokens_ = at::full({rows_, 1, n_ + 1}, gen.empty_id, i64);
  row_mask_ = at::ones({rows_, 1, n_ + 1}, i64.dtype(at::kBool));
  row_mask_.select(2, n_).fill_(false);
  pos_ = at::zeros({rows_, 1}, i64);
  slot_ = at::zeros({1}, i64);
  frame_ = at::zeros({rows_, n_}, i64);
}

at::Tensor FrameStepper::sample(const at::Tensor& logits, int64_t codebook) {
  at::Tensor guided = cfg_ ? cfg_mix(logits, params_.cfg_scale) : logits;  // [songs, V]
  if (logits_hook) logits_hook(frame_index_, codebook, guided);
  at::Tensor tok;
  if (teacher_frames.defined() && frame_index_ < teacher_frames.size(0)) {
    tok = teacher_frames.select(0, frame_index_).narrow(0, codebook, 1).view({1, 1}).expand({songs_, 1});
  } else {
    tok = sample_topk(guided, params_.topk, params_.temperature, gen_);
  }
  return cfg_ ? tok.repeat({2, 1}) : tok;  // the same token for both halves
}

void FrameStepper::decode_frame(const at::Tensor& last_h) {
  at::Tensor tok = sample(m_.codebook0_logits(last_h), 0);  // [R, 1]
  frame_.narrow(1, 0, 1).copy_(tok);
  at::Tensor x = at::cat({last_h.unsqueeze(1), m_.embed_audio(0, tok)}, 1);  // [R, 2, Db]
  for (int64_t i = 1; i < n_; ++i) {
    at::Tensor h = m_.decoder.forward(m_.project(x), dec_ctx_[static_cast<size_t>(i - 1)], dec_cache_);
    tok = sample(m_.audio_logits(i, h.select(1, h.size(1) - 1)), i);
    frame_.narrow(1, i, 1).copy_(tok);
    x = m_.embed_audio(i, tok);  // [R, 1, Db]
  }
  ++frame_index_;
}

void FrameStepper::prefill(const model::Prompt& prompt) {
  c10::InferenceMode guard;
  const int64_t len = prompt.length(), lanes = n_ + 1;
  if (prompt.lanes() != lanes)
    throw Error("prompt has " + std::to_string(prompt.lanes()) + " lanes, the model needs " + std::to_string(lanes));
  if (len > bb_cache_.max_len())
    throw Error("prompt of " + std::to_string(len) + " positions exceeds the preallocated cache of " +
                std::to_string(bb_cache_.max_len()));
  const c10::Device dev = m_.device;
  at::Tensor tokens = prompt.tokens.to(dev).unsqueeze(0).expand({rows_, len, lanes});
  at::Tensor mask = prompt.mask.to(dev).unsqueeze(0).expand({rows_, len, lanes});
  at::Tensor h = m_.embed_rows(tokens, mask, uncond_);  // [R, L, Db]
  if (prompt.muq_index >= 0) h.select(1, prompt.muq_index).copy_(m_.muq_slot_embedding(rows_, uncond_));
  at::Tensor positions = at::arange(len, pos_.options()).view({1, len}).expand({rows_, len}).contiguous();
  StepContext c;
  c.rope = model::gather_rope(bb_rope_, positions);
  c.slots = positions.select(0, 0);
  c.kv_len = full_ ? bb_cache_.max_len() : len;
  c.mask = model::causal_mask(positions, c.kv_len);
  at::Tensor out = m_.backbone.forward(h, c, bb_cache_);
  decode_frame(out.select(1, len - 1));
  pos_.fill_(len);
  slot_.fill_(len);
  filled_ = len;
}

StepContext FrameStepper::backbone_step_context() {
  StepContext c;
  c.rope = model::gather_rope(bb_rope_, pos_);
  c.slots = slot_;
  if (full_) {
    c.kv_len = bb_cache_.max_len();
    c.mask = model::causal_mask(pos_, c.kv_len);
  } else {
    c.kv_len = filled_ + 1;  // everything written so far plus this row: no mask needed
  }
  return c;
}

void FrameStepper::step() {
  c10::InferenceMode guard;
  if (filled_ >= bb_cache_.max_len())
    throw Error("frame loop ran past its preallocated cache of " + std::to_string(bb_cache_.max_len()) + " positions");
  row_tokens_.narrow(2, 0, n_).copy_(frame_.unsqueeze(1));
  at::Tensor h = m_.embed_rows(row_tokens_, row_mask_, uncond_);  // [R, 1, Db]
  at::Tensor out = m_.backbone.forward(h, backbone_step_context(), bb_cache_);
  decode_frame(out.select(1, 0));
  pos_.add_(1);
  slot_.add_(1);
  ++filled_;
}

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

FrameLoopResult run_frame_loop(const HeartMuLaModel& model, const model::GenConfig& gen, const model::Prompt& prompt,
                               const SamplingParams& params, const FrameLoopOptions& options) {
  c10::InferenceMode guard;
  params.validate();
  if (options.max_frames < 1)
    throw UsageError("the frame limit must be at least 1 frame. Given: " + std::to_string(options.max_frames));
  const int64_t len = prompt.length(), frames = options.max_frames;
  check_context(model, len, frames);
  FrameStepper stepper(model, gen, params, positions_needed(len, frames), options.full_cache_attention);
  stepper.logits_hook = options.on_logits;
  if (options.teacher_frames.defined()) stepper.teacher_frames = options.teacher_frames.to(model.device, at::kLong);

  FrameLoopResult r;
  r.prompt_len = len;
  at::Tensor kept = at::empty({frames, model.num_codebooks()}, stepper.frame().options());
  int64_t n = 0;
  auto t0 = std::chrono::steady_clock::now();
  stepper.prefill(prompt);
  kept.select(0, n++).copy_(stepper.frame().select(0, 0));  // the first frame is kept unchecked
  synchronize(model.device);
  r.prefill_seconds = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  bool go_on = !options.on_frame || options.on_frame(n, frames);
  r.interrupted = !go_on;
  while (go_on && n < frames) {
    stepper.step();
    at::Tensor f = stepper.frame().select(0, 0);
    // The one host synchronisation per frame: the stopping rule.
    if (!options.ignore_eos && f.ge(gen.audio_eos_id).any().item<bool>()) {
      r.stopped_at_eos = true;
      break;
    }
    kept.select(0, n++).copy_(f);
    if (options.on_frame && !options.on_frame(n, frames)) r.interrupted = true, go_on = false;
  }
  r.frames = kept.narrow(0, 0, n).to(at::kCPU);
  r.frame_seconds = seconds_since(t0);
  return r;
}

}  // namespace heartmula::runtime
