#include "runtime/frame_loop.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "codec/windows.h"
#include "heartmula/error.h"
#include "io/kernel_paths.h"
#include "model/fused_ops.h"
#include "runtime/device.h"
#include "runtime/fused_sampler.h"
#include "runtime/step_graphs.h"

namespace heartmula::runtime {

using model::HeartMuLaModel;
using model::StepContext;

int64_t frames_for_duration(int64_t max_audio_length_ms) {
  return max_audio_length_ms < 0 ? 1 : max_audio_length_ms / codec::kFrameMs + 1;
}

int64_t positions_needed(int64_t prompt_len, int64_t frames) { return prompt_len + frames - 1; }

void check_context(const HeartMuLaModel& model, int64_t prompt_len, int64_t frames) {
  check_context(model.config.backbone.max_seq_len, prompt_len, frames);
}

void check_context(int64_t max_seq, int64_t prompt_len, int64_t frames) {
  if (prompt_len > max_seq)
    throw UsageError("the prompt has " + std::to_string(prompt_len) +
                     " positions but the model's context (max_seq_len) is " + std::to_string(max_seq) +
                     ": shorten the lyrics/tags by at least " + std::to_string(prompt_len - max_seq) + " tokens");
  const int64_t need = positions_needed(prompt_len, frames);
  if (need > max_seq) {
    const int64_t fit = max_seq - prompt_len + 1;  // frames that fit, the first included
    throw UsageError("the request does not fit the model's context: a prompt of " + std::to_string(prompt_len) +
                     " positions plus " + std::to_string(frames) + " frames needs " + std::to_string(need) +
                     " positions, " + std::to_string(need - max_seq) + " more than max_seq_len " +
                     std::to_string(max_seq) + "; at most " + std::to_string(fit) +
                     " frames fit (--max-audio-length-ms " + std::to_string((fit - 1) * codec::kFrameMs) +
                     " or less), or shorten the lyrics/tags");
  }
}

FrameStepper::FrameStepper(const HeartMuLaModel& model, const model::GenConfig& gen, const SamplingParams& params,
                           const std::vector<uint64_t>& seeds, int64_t max_positions, int64_t attention_bucket)
    : m_(model), params_(params), cfg_(params.uses_cfg()), bucket_(attention_bucket) {
  c10::InferenceMode guard;
  if (seeds.empty()) throw Error("frame loop: no songs (no seeds given)");
  songs_ = static_cast<int64_t>(seeds.size());
  rows_ = cfg_ ? 2 * songs_ : songs_;
  n_ = model.num_codebooks();
  const c10::Device dev = model.device;
  const auto i64 = at::TensorOptions().dtype(at::kLong).device(dev);
  for (uint64_t seed : seeds) gens_.push_back(make_generator(dev, seed));
  // With buckets, the cache ends on a bucket edge so that the last bucket is full size too.
  if (bucket_ > 0 && bucket_ < max_positions) max_positions = (max_positions + bucket_ - 1) / bucket_ * bucket_;
  if (cfg_) uncond_ = at::arange(rows_, i64).ge(songs_);
  bb_cache_ = model::KVCache::allocate(model.config.backbone, rows_, max_positions, model.dtype, dev);
  dec_cache_ = model::KVCache::allocate(model.config.decoder, rows_, n_, model.dtype, dev);
  bb_rope_ = model::RopeTable::build(model.config.backbone, max_positions, dev);
  dec_rope_ = model::RopeTable::build(model.config.decoder, n_, dev);
  // Decoder call 1 reads positions [0, 1] (backbone state, codebook 0); call i reads [i].
  // Every row is at the same positions and the decoder's attention length is tiny: no buckets.
  for (int64_t i = 1; i < n_; ++i) {
    at::Tensor pos = i == 1 ? at::arange(2, i64) : at::full({1}, i, i64);
    const int64_t s = pos.size(0);
    StepContext c;
    c.rope = model::gather_rope(dec_rope_, pos.view({1, s}).expand({rows_, s}));
    c.slots = pos;
    c.kv_len = i + 1;
    if (s > 1) c.mask = model::attention_mask(pos, c.kv_len, at::Tensor());
    dec_ctx_.push_back(c);
  }
  row_tokens_ = at::full({rows_, 1, n_ + 1}, gen.empty_id, i64);
  row_mask_ = at::ones({rows_, 1, n_ + 1}, i64.dtype(at::kBool));
  row_mask_.select(2, n_).fill_(false);
  pos_ = at::zeros({rows_, 1}, i64);
  slot_ = at::zeros({1}, i64);
  frame_ = at::zeros({rows_, n_}, i64);
  if (dev.is_cuda()) {  // scratch of the fused sampler (runtime/fused_sampler.h)
    race_noise_ = at::empty({songs_, model.audio_vocab()}, i64.dtype(at::kFloat));
    tokens_ = at::zeros({rows_, 1}, i64);
    // The kernel's 1 / temperature: the same float as 1.0f / float(temperature) by value.
    inv_temperature_ =
        at::full({songs_}, static_cast<double>(1.0f / static_cast<float>(params.temperature)), i64.dtype(at::kFloat));
  }
  if (params.temperature_varies()) temperature_ = at::full({songs_}, params.temperature, i64.dtype(at::kFloat));
}

void FrameStepper::set_frame_temperature() {
  if (!params_.temperature_varies()) return;  // constant: the values set at construction
  if (static_cast<int64_t>(frame_limits.size()) != songs_)
    throw Error("frame loop: a temperature schedule needs each song's frame limit (" +
                std::to_string(frame_limits.size()) + " given for " + std::to_string(songs_) + " songs)");
  // Songs of one limit (the usual case) get one fill; otherwise one per song. A fill is a
  // device kernel with the value as its argument: no host synchronisation, stream-ordered
  // before the step (or its graph's replay) that reads it.
  const bool one =
      std::all_of(frame_limits.begin(), frame_limits.end(), [&](int64_t l) { return l == frame_limits.front(); });
  for (int64_t s = 0; s < (one ? 1 : songs_); ++s) {
    const double t = params_.temperature_at(frame_index_, frame_limits[static_cast<size_t>(s)]);
    at::Tensor temp = one ? temperature_ : temperature_.narrow(0, s, 1);
    temp.fill_(t);
    if (inv_temperature_.defined())
      (one ? inv_temperature_ : inv_temperature_.narrow(0, s, 1))
          .fill_(static_cast<double>(1.0f / static_cast<float>(t)));
  }
}

int64_t FrameStepper::attention_length(int64_t filled) const {
  if (bucket_ <= 0) return filled;
  return std::min(bb_cache_.max_len(), (filled + bucket_ - 1) / bucket_ * bucket_);
}

at::Tensor FrameStepper::sample(const at::Tensor& padded_logits, int64_t codebook) {
  if (!logits_hook && !teacher_frames.defined()) {
    FusedSampleArgs a;
    a.vocab = m_.audio_vocab(), a.songs = songs_, a.cfg = cfg_, a.cfg_scale = params_.cfg_scale;
    a.topk = params_.topk, a.temperature = params_.temperature, a.inv_temperature = inv_temperature_;
    if (io::record_path(io::KernelPath::kSampler,
                        fused_sample_topk(padded_logits, a, gens_, race_noise_, tokens_, frame_, codebook)))
      return tokens_;
  }
  const at::Tensor logits = padded_logits.narrow(-1, 0, m_.audio_vocab()).to(at::kFloat);
  at::Tensor guided = cfg_ ? cfg_mix(logits, params_.cfg_scale) : logits;  // [songs, V]
  if (logits_hook) logits_hook(frame_index_, codebook, guided);
  at::Tensor tok;
  if (teacher_frames.defined() && frame_index_ < teacher_frames.size(0)) {
    tok = teacher_frames.select(0, frame_index_).narrow(0, codebook, 1).view({1, 1}).expand({songs_, 1});
  } else if (temperature_.defined()) {  // a schedule: this frame's temperature, per song
    std::vector<at::Tensor> per_song;
    for (int64_t s = 0; s < songs_; ++s)
      per_song.push_back(sample_topk(guided.narrow(0, s, 1), params_.topk, temperature_.narrow(0, s, 1),
                                     gens_[static_cast<size_t>(s)]));
    tok = songs_ == 1 ? per_song.front() : at::cat(per_song, 0);
  } else if (songs_ == 1) {
    tok = sample_topk(guided, params_.topk, params_.temperature, gens_[0]);
  } else {
    std::vector<at::Tensor> per_song;
    for (int64_t s = 0; s < songs_; ++s)
      per_song.push_back(
          sample_topk(guided.narrow(0, s, 1), params_.topk, params_.temperature, gens_[static_cast<size_t>(s)]));
    tok = at::cat(per_song, 0);
  }
  tok = cfg_ ? tok.repeat({2, 1}) : tok;  // the same token for both halves
  frame_.narrow(1, codebook, 1).copy_(tok);
  return tok;
}

void FrameStepper::decode_frame(const at::Tensor& last_h) {
  at::Tensor tok = sample(m_.codebook0_logits_padded(last_h), 0);            // [R, 1]
  at::Tensor x = at::cat({last_h.unsqueeze(1), m_.embed_audio(0, tok)}, 1);  // [R, 2, Db]
  for (int64_t i = 1; i < n_; ++i) {
    at::Tensor h = m_.decoder.forward(m_.project(x), dec_ctx_[static_cast<size_t>(i - 1)], dec_cache_);
    tok = sample(m_.audio_logits_padded(i, h.select(1, h.size(1) - 1)), i);
    x = m_.embed_audio(i, tok);  // [R, 1, Db]
  }
}

void FrameStepper::prefill(const std::vector<model::Prompt>& prompts) {
  c10::InferenceMode guard;
  const int64_t lanes = n_ + 1;
  if (static_cast<int64_t>(prompts.size()) != songs_)
    throw Error("frame loop: " + std::to_string(prompts.size()) + " prompts for " + std::to_string(songs_) + " songs");
  int64_t len = 0;
  for (const auto& p : prompts) {
    if (p.lanes() != lanes)
      throw Error("prompt has " + std::to_string(p.lanes()) + " lanes, the model needs " + std::to_string(lanes));
    len = std::max(len, p.length());
  }
  if (len > bb_cache_.max_len())
    throw Error("prompt of " + std::to_string(len) + " positions exceeds the preallocated cache of " +
                std::to_string(bb_cache_.max_len()));
  // Left-pad every song to the longest prompt; padded lanes are masked (zero embedding).
  at::Tensor tokens = at::zeros({rows_, len, lanes}, at::TensorOptions().dtype(at::kLong));
  at::Tensor mask = at::zeros({rows_, len, lanes}, at::TensorOptions().dtype(at::kBool));
  std::vector<int64_t> pads(static_cast<size_t>(rows_));
  bool padded = false;
  for (int64_t r = 0; r < rows_; ++r) {
    const model::Prompt& p = prompts[static_cast<size_t>(r % songs_)];
    const int64_t pad = len - p.length();
    pads[static_cast<size_t>(r)] = pad;
    padded = padded || pad > 0;
    tokens[r].narrow(0, pad, p.length()).copy_(p.tokens);
    mask[r].narrow(0, pad, p.length()).copy_(p.mask);
  }
  const c10::Device dev = m_.device;
  at::Tensor pad_host = at::tensor(pads, at::TensorOptions().dtype(at::kLong));
  if (padded) pad_ = pad_host.to(dev);
  at::Tensor h = m_.embed_rows(tokens.to(dev), mask.to(dev), uncond_);  // [R, L, Db]
  at::Tensor muq = m_.muq_slot_embedding(rows_, uncond_);               // [R, Db]
  for (int64_t r = 0; r < rows_; ++r) {
    const model::Prompt& p = prompts[static_cast<size_t>(r % songs_)];
    if (p.muq_index >= 0) h[r][pads[static_cast<size_t>(r)] + p.muq_index].copy_(muq[r]);
  }
  set_frame_temperature();  // frame 0
  at::Tensor slots = at::arange(len, pos_.options());
  at::Tensor positions = slots.view({1, len}).sub(pad_host.to(dev).view({rows_, 1})).clamp_min(0);
  StepContext c;
  c.rope = model::gather_rope(bb_rope_, positions);
  c.slots = slots;
  c.kv_len = attention_length(len);
  c.mask = model::attention_mask(slots, c.kv_len, pad_);
  at::Tensor out = m_.backbone.forward(h, c, bb_cache_);
  decode_frame(out.select(1, len - 1));
  ++frame_index_;
  pos_.copy_(positions.narrow(1, len - 1, 1).add(1));
  slot_.fill_(len);
  filled_ = len;
}

int64_t FrameStepper::step_key() const { return attention_length(filled_ + 1); }

void FrameStepper::step_body(int64_t kv_len) {
  row_tokens_.narrow(2, 0, n_).copy_(frame_.unsqueeze(1));
  StepContext c;
  c.rope = model::gather_rope(bb_rope_, pos_);
  c.slots = slot_;
  c.kv_len = kv_len;
  // Without padding and over exactly the filled part, every slot is visible: no mask.
  if (pad_.defined() || bucket_ > 0) c.mask = model::attention_mask(slot_, kv_len, pad_);
  at::Tensor h = m_.embed_rows(row_tokens_, row_mask_, uncond_, /*text_lane=*/false);  // [R, 1, Db]
  at::Tensor out = m_.backbone.forward(h, c, bb_cache_);
  decode_frame(out.select(1, 0));
  pos_.add_(1);
  slot_.add_(1);
}

void FrameStepper::step() {
  c10::InferenceMode guard;
  if (filled_ >= bb_cache_.max_len())
    throw Error("frame loop ran past its preallocated cache of " + std::to_string(bb_cache_.max_len()) + " positions");
  const int64_t key = step_key();
  set_frame_temperature();  // outside the step's graph: its replay reads the new values
  if (step_runner) {
    step_runner(key, [this, key] { step_body(key); });
  } else {
    step_body(key);
  }
  ++filled_;
  ++frame_index_;
}

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

std::vector<FrameLoopResult> run_frame_loop_batch(const HeartMuLaModel& model, const model::GenConfig& gen,
                                                  const std::vector<model::Prompt>& prompts,
                                                  const SamplingParams& params, const std::vector<uint64_t>& seeds,
                                                  const FrameLoopOptions& options) {
  c10::InferenceMode guard;
  params.validate();
  if (prompts.empty() || prompts.size() != seeds.size())
    throw Error("frame loop: " + std::to_string(prompts.size()) + " prompts and " + std::to_string(seeds.size()) +
                " seeds (need one seed per prompt, at least one)");
  if (options.max_frames < 1)
    throw UsageError("the frame limit must be at least 1 frame. Given: " + std::to_string(options.max_frames));
  const int64_t songs = static_cast<int64_t>(prompts.size()), frames = options.max_frames;
  std::vector<int64_t> limit(static_cast<size_t>(songs), frames);
  if (!options.song_max_frames.empty()) {
    if (options.song_max_frames.size() != prompts.size())
      throw Error("frame loop: " + std::to_string(options.song_max_frames.size()) + " frame limits for " +
                  std::to_string(songs) + " songs");
    for (size_t i = 0; i < limit.size(); ++i) {
      limit[i] = options.song_max_frames[i];
      if (limit[i] < 1 || limit[i] > frames)
        throw Error("frame loop: song " + std::to_string(i) + "'s frame limit " + std::to_string(limit[i]) +
                    " is outside [1, " + std::to_string(frames) + "]");
    }
  }
  int64_t len = 0;
  for (const auto& p : prompts) len = std::max(len, p.length());
  check_context(model, len, frames);
  const bool graphs_wanted = options.use_graphs && !options.step_runner && !options.on_logits &&
                             !options.teacher_frames.defined() && graphs_supported(model.device);
  // With the fused single-query attention (masked positions cost nothing) the step attends over
  // the whole cache: one graph per song. Otherwise one graph per kGraphAttentionBucket positions.
  // The eager loop attends the same way, so that graphs change nothing, bit for bit.
  const int64_t whole_cache = positions_needed(len, frames);
  const int64_t bucket = options.attention_bucket > 0                                         ? options.attention_bucket
                         : model::fused_decode_attention_available(model.dtype, model.device) ? whole_cache
                         : graphs_wanted                                                      ? kGraphAttentionBucket
                                                                                              : 0;
  FrameStepper stepper(model, gen, params, seeds, positions_needed(len, frames), bucket);
  stepper.step_runner = options.step_runner;
  stepper.frame_limits = limit;
  std::unique_ptr<StepGraphs> graphs;
  double capture_s = 0;  // host time of the steps that captured a graph
  if (graphs_wanted) {
    graphs = make_step_graphs(model.device, stepper.generators());
    if (graphs) {
      StepGraphs* g = graphs.get();
      stepper.step_runner = [g, &capture_s](int64_t key, const std::function<void()>& body) {
        const size_t before = g->graphs();
        const auto t = std::chrono::steady_clock::now();
        g->run(key, body);
        if (g->graphs() > before)
          capture_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
      };
    }
  }
  stepper.logits_hook = options.on_logits;
  if (options.teacher_frames.defined()) stepper.teacher_frames = options.teacher_frames.to(model.device, at::kLong);

  std::vector<FrameLoopResult> res(static_cast<size_t>(songs));
  at::Tensor kept = at::empty({songs, frames, model.num_codebooks()}, stepper.frame().options());
  std::vector<int64_t> count(static_cast<size_t>(songs), 0), handed(static_cast<size_t>(songs), 0);
  std::vector<bool> done(static_cast<size_t>(songs), false), reported(static_cast<size_t>(songs), false);
  auto t0 = std::chrono::steady_clock::now();
  double prefill_s = 0;
  // Hands out the kept frames of `which` songs not handed out yet (one host copy for all).
  auto hand_out = [&](const std::vector<int64_t>& which) {
    if (!options.on_frames || which.empty()) return;
    int64_t lo = frames, hi = 0;
    for (int64_t s : which) {
      lo = std::min(lo, handed[static_cast<size_t>(s)]);
      hi = std::max(hi, count[static_cast<size_t>(s)]);
    }
    if (hi <= lo) return;
    const at::Tensor host = kept.narrow(1, lo, hi - lo).to(at::kCPU);
    for (int64_t s : which) {
      const auto i = static_cast<size_t>(s);
      if (count[i] > handed[i]) options.on_frames(s, host[s].narrow(0, handed[i] - lo, count[i] - handed[i]));
      handed[i] = count[i];
    }
  };
  // Song s has ended (EOS, or the loop stops): its result, reported once.
  auto end_song = [&](int64_t s, double frame_s) {
    const auto i = static_cast<size_t>(s);
    if (reported[i]) return;
    reported[i] = true;
    hand_out({s});
    FrameLoopResult& r = res[i];
    r.frames = kept[s].narrow(0, 0, count[i]).to(at::kCPU).clone();
    r.prompt_len = prompts[i].length();
    r.prefill_seconds = prefill_s;
    r.frame_seconds = frame_s;
    r.capture_seconds = capture_s;
    if (options.on_song_end) options.on_song_end(s, r);
  };
  stepper.prefill(prompts);
  kept.select(1, 0).copy_(stepper.frame().narrow(0, 0, songs));  // the first frame is kept unchecked
  std::fill(count.begin(), count.end(), 1);
  synchronize(model.device);
  prefill_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  bool interrupted = options.on_frame && !options.on_frame(1, frames);
  int64_t live = songs, ended_at_eos = 0;
  for (int64_t s = 0; s < songs; ++s)
    if (limit[static_cast<size_t>(s)] == 1) {  // done with the first frame
      done[static_cast<size_t>(s)] = true;
      --live;
      end_song(s, 0.0);
    }
  const int64_t chunk = std::max<int64_t>(1, options.frames_chunk);
  // No host synchronisation per frame (on_frames still copies every frames_chunk frames): frame
  // t's EOS flags are copied into a small host buffer without waiting (pinned + an event on
  // CUDA; two buffers, frames alternate) and read only once step t + 1 has been queued, so the
  // device does not idle while the host decides. A song that ends at frame t has cost one more
  // step, whose frame is dropped: the frames kept, callbacks and results are those of a loop
  // that read each frame's flags at once. The look-ahead runs only when some song could keep
  // frame t + 1 (never past max_frames, so never past the KV cache).
  // The flags are waited for with ignore_eos too: the host never runs more than one frame ahead
  // of the device. A host that queued frames as fast as it could kept the device's launch queue
  // full, and work queued from other threads (the codec worker's windows) waited until the loop
  // ended (docs/performance.md, "Streaming").
  std::unique_ptr<AsyncFlags> eos_flags[2];
  for (auto& e : eos_flags) e = make_async_flags(model.device, songs);
  auto launch = [&](int64_t t) {  // step to frame t, keep it, queue its flags
    stepper.step();
    at::Tensor f = stepper.frame().narrow(0, 0, songs);  // [S, N]
    kept.select(1, t).copy_(f);
    eos_flags[t % 2]->record(f.ge(gen.audio_eos_id).any(1).to(at::kByte));
  };
  if (frames > 1 && live > 0 && !interrupted) launch(1);
  for (int64_t t = 1; t < frames && live > 0 && !interrupted; ++t) {
    // Frame t is queued. Queue t + 1 when a running song may keep it (a song running after
    // frame t has limit > t + 1, so the next iteration always finds its frame queued).
    bool ahead = false;
    for (size_t i = 0; i < done.size() && t + 1 < frames; ++i) ahead = ahead || (!done[i] && limit[i] > t + 1);
    if (ahead) launch(t + 1);
    std::vector<uint8_t> eos(static_cast<size_t>(songs), 0);
    const uint8_t* flags = eos_flags[t % 2]->wait();  // frame t is done: its stopping rule
    if (!options.ignore_eos) std::copy(flags, flags + songs, eos.begin());
    std::vector<int64_t> running;
    for (int64_t s = 0; s < songs; ++s) {
      const auto i = static_cast<size_t>(s);
      if (done[i]) continue;
      if (eos[i]) {
        done[i] = true;
        res[i].stopped_at_eos = true;
        --live;
        ++ended_at_eos;
        end_song(s, seconds_since(t0));  // saved while the others go on
      } else if (t + 1 == limit[i] || (options.song_stop && options.song_stop(s))) {
        // its own length, or stopped alone (interrupted): ends here, the others go on
        res[i].interrupted = t + 1 < limit[i];
        count[i] = t + 1;
        done[i] = true;
        --live;
        end_song(s, seconds_since(t0));
      } else {
        count[i] = t + 1;
        running.push_back(s);
      }
    }
    if ((t + 1) % chunk == 0 || t + 1 == options.frames_first) hand_out(running);
    // on_frame after every step, unless every song has ended at an EOS (as before lengths).
    if (ended_at_eos < songs && options.on_frame && !options.on_frame(t + 1, frames)) interrupted = true;
  }
  const double frame_s = seconds_since(t0);
  for (int64_t s = 0; s < songs; ++s) {
    FrameLoopResult& r = res[static_cast<size_t>(s)];
    r.interrupted = r.interrupted || (interrupted && !done[static_cast<size_t>(s)]);
    end_song(s, frame_s);
    r.frame_seconds = frame_s;  // every result: the whole batch's loop time
    r.capture_seconds = capture_s;
  }
  return res;
}

FrameLoopResult run_frame_loop(const HeartMuLaModel& model, const model::GenConfig& gen, const model::Prompt& prompt,
                               const SamplingParams& params, const FrameLoopOptions& options) {
  return run_frame_loop_batch(model, gen, {prompt}, params, {params.seed}, options).front();
}

}  // namespace heartmula::runtime
