// The language-model frame loop (upstream HeartMuLaGenPipeline._forward + generate_frame).
//
// One frame = N audio codes (8): the backbone reads the prompt (first frame) or the previous
// frame, codebook 0 is sampled from its last hidden state, then the depth decoder (fresh cache
// each frame, positions 0..N-1) yields codebooks 1..N-1. With CFG the batch has 2 rows per song
// (conditional first, unconditional second; the unconditional row's text lanes and MuQ slot use
// unconditional_text_embedding) and the logits are mixed as uncond + (cond - uncond) * scale.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <cstdint>
#include <functional>
#include <vector>

#include "model/attention.h"
#include "model/heartmula.h"
#include "model/prompt.h"
#include "model/rope.h"
#include "runtime/sampler.h"

namespace heartmula::runtime {

struct FrameLoopOptions {
  // Frames to generate at most, the first included (see frames_for_duration).
  int64_t max_frames = 0;
  // Keep going after an EOS frame (such frames are kept as generated: codes >= audio_eos_id,
  // and codes in [codebook size, audio_eos_id) at any time, are the codec side's to guard).
  bool ignore_eos = false;
  // Called after each kept frame with (frames kept, max_frames); returning false stops now.
  std::function<bool(int64_t done, int64_t planned)> on_frame;

  // --- test hooks (they cost a host synchronisation per codebook when set) ---
  // The logits handed to the sampler (after CFG mixing): [1, V] float32, per frame and codebook.
  std::function<void(int64_t frame, int64_t codebook, const at::Tensor& logits)> on_logits;
  // Teacher forcing: [T, N] int64; frame t < T feeds these codes instead of the samples.
  at::Tensor teacher_frames;
  // Attend over the whole preallocated cache through a mask (fixed shapes, as a CUDA graph
  // needs) instead of over the filled part only. Same results up to rounding.
  bool full_cache_attention = false;
};

struct FrameLoopResult {
  at::Tensor frames;            // [T, N] int64 on the CPU: the frames kept
  bool stopped_at_eos = false;  // a frame with a code >= audio_eos_id ended the song (not kept)
  bool interrupted = false;     // on_frame returned false
  int64_t prompt_len = 0;
  double prefill_seconds = 0;   // prompt + first frame
  double frame_seconds = 0;     // every later frame
};

// Upstream's frame limit: the first frame plus max_audio_length_ms / 80 more.
int64_t frames_for_duration(int64_t max_audio_length_ms);
// Backbone positions needed for `frames` frames after a prompt of `prompt_len` rows
// (the last frame is never fed back): prompt_len + frames - 1.
int64_t positions_needed(int64_t prompt_len, int64_t frames);
// Throws Error saying by how much the request does not fit the backbone's max_seq_len.
void check_context(const model::HeartMuLaModel& model, int64_t prompt_len, int64_t frames);

// Runs the whole loop for one prompt. Same seed + settings + device = same frames.
FrameLoopResult run_frame_loop(const model::HeartMuLaModel& model, const model::GenConfig& gen,
                               const model::Prompt& prompt, const SamplingParams& params,
                               const FrameLoopOptions& options);

// The per-frame work with static buffers, so that step() has fixed-shape inputs and outputs
// (a CUDA graph can capture it when full_cache_attention is on). Rows R = songs * (cfg ? 2 : 1).
class FrameStepper {
 public:
  // Caches are preallocated for `max_positions` backbone positions.
  FrameStepper(const model::HeartMuLaModel& model, const model::GenConfig& gen, const SamplingParams& params,
               int64_t max_positions, bool full_cache_attention);

  // Runs the prompt and samples the first frame into frame().
  void prefill(const model::Prompt& prompt);
  // Feeds frame() back at the next position and samples the next frame into frame().
  void step();
  // [R, N] int64 on the model's device; row 0 is the (conditional) song.
  const at::Tensor& frame() const { return frame_; }
  int64_t next_position() const { return filled_; }

  std::function<void(int64_t, int64_t, const at::Tensor&)> logits_hook;
  at::Tensor teacher_frames;  // [T, N] int64 on the model's device, or undefined

 private:
  at::Tensor sample(const at::Tensor& logits, int64_t codebook);
  void decode_frame(const at::Tensor& last_h);
  model::StepContext backbone_step_context();

  const model::HeartMuLaModel& m_;
  SamplingParams params_;
  bool cfg_;
  bool full_;
  int64_t rows_, songs_, n_;
  at::Generator gen_;
  at::Tensor uncond_;      // [R] bool (true on unconditional rows) or undefined
  model::KVCache bb_cache_, dec_cache_;
  model::RopeTable bb_rope_, dec_rope_;
  std::vector<model::StepContext> dec_ctx_;  // decoder call i (1..N-1) -> dec_ctx_[i - 1]
  at::Tensor row_tokens_;  // [R, 1, N+1] int64: the frame fed back, lane N = empty_id
  at::Tensor row_mask_;    // [R, 1, N+1] bool: audio lanes only
  at::Tensor pos_;         // [R, 1] int64: position of the row fed next
  at::Tensor slot_;        // [1] int64: its cache slot
  at::Tensor frame_;       // [R, N] int64
  int64_t filled_ = 0;     // backbone positions written (host copy, for the filled-part path)
  int64_t frame_index_ = 0;
};

}  // namespace heartmula::runtime
