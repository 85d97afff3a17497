// run_frame_loop_batch with on_frames / on_song_end / song_max_frames: songs of different
// lengths in one batch end (and are reported) in the order of their lengths while the others go
// on; the chunks handed out join to exactly the song's frames; each song equals the song made
// alone with its own length (the finished rows change nothing for the others).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/heartmula.h"
#include "model/prompt.h"
#include "runtime/frame_loop.h"
#include "runtime/sampler.h"

namespace hm = heartmula::model;
namespace hr = heartmula::runtime;

namespace {

const std::string kData = HEARTMULA_TEST_DATA;

const hm::HeartMuLaModel& model() {
  static const hm::HeartMuLaModel m = hm::HeartMuLaModel::load(kData + "/ckpt/HeartMuLa-oss-3B", at::kFloat, at::kCPU);
  return m;
}

hm::GenConfig gen() {
  hm::GenConfig g = hm::GenConfig::from_file(kData + "/ckpt/gen_config.json");
  g.audio_eos_id = model().audio_vocab();  // never stops at an EOS: the lengths decide
  return g;
}

hm::Prompt prompt(int64_t rows, int64_t seed) {
  at::Tensor t = at::zeros({rows, model().num_codebooks() + 1}, at::kLong);
  t.select(1, model().num_codebooks()).copy_(at::arange(rows, at::kLong).mul(37).add(seed * 11).remainder(1000));
  return hm::prompt_from_tokens(t, 1);
}

hr::SamplingParams params() {
  hr::SamplingParams p;
  p.cfg_scale = 1.5;
  p.topk = 20;
  return p;
}

}  // namespace

TEST(FrameLoopStream, SongsEndInLengthOrderAndEqualTheirSingleRuns) {
  const std::vector<hm::Prompt> prompts = {prompt(9, 1), prompt(6, 2), prompt(12, 3)};
  const std::vector<uint64_t> seeds = {5, 6, 7};
  hr::FrameLoopOptions o;
  o.max_frames = 21;
  o.song_max_frames = {21, 4, 13};
  o.frames_chunk = 5;
  std::map<int64_t, std::vector<at::Tensor>> chunks;
  std::vector<int64_t> ended;
  std::vector<int64_t> frames_at_end;  // on_frame count when each song ended
  int64_t steps = 0;
  o.on_frame = [&](int64_t done, int64_t) {
    steps = done;
    return true;
  };
  o.on_frames = [&](int64_t s, const at::Tensor& f) {
    ASSERT_EQ(f.dim(), 2);
    ASSERT_GE(f.size(0), 1);
    chunks[s].push_back(f.clone());
  };
  o.on_song_end = [&](int64_t s, const hr::FrameLoopResult& r) {
    ended.push_back(s);
    frames_at_end.push_back(steps);
    EXPECT_EQ(r.frames.size(0), o.song_max_frames[static_cast<size_t>(s)]);
    EXPECT_FALSE(r.stopped_at_eos);
    EXPECT_FALSE(r.interrupted);
  };
  const auto res = hr::run_frame_loop_batch(model(), gen(), prompts, params(), seeds, o);
  EXPECT_EQ(ended, (std::vector<int64_t>{1, 2, 0}));
  // Songs 1 and 2 ended while song 0 went on (the loop had not reached its end).
  EXPECT_LT(frames_at_end[0], 21);
  EXPECT_LT(frames_at_end[1], 21);
  for (size_t s = 0; s < prompts.size(); ++s) {
    SCOPED_TRACE("song " + std::to_string(s));
    ASSERT_EQ(res[s].frames.size(0), o.song_max_frames[s]);
    EXPECT_TRUE(at::equal(at::cat(chunks[static_cast<int64_t>(s)], 0), res[s].frames));
    hr::FrameLoopOptions alone;
    alone.max_frames = o.song_max_frames[s];
    hr::SamplingParams p = params();
    p.seed = seeds[s];
    const auto single = hr::run_frame_loop(model(), gen(), prompts[s], p, alone);
    EXPECT_TRUE(at::equal(single.frames, res[s].frames));
  }
}

// frames_first: one hand-out as soon as the songs have that many frames (the codec's first
// window), besides the multiples of frames_chunk; the frames are the same.
TEST(FrameLoopStream, FirstHandOutAtFramesFirst) {
  hr::FrameLoopOptions o;
  o.max_frames = 12;
  o.frames_chunk = 5;
  o.frames_first = 7;
  std::vector<int64_t> sizes;
  std::vector<at::Tensor> chunks;
  o.on_frames = [&](int64_t, const at::Tensor& f) {
    sizes.push_back(f.size(0));
    chunks.push_back(f.clone());
  };
  hr::SamplingParams p = params();
  p.seed = 9;
  const auto res = hr::run_frame_loop_batch(model(), gen(), {prompt(6, 4)}, p, {9}, o);
  EXPECT_EQ(sizes, (std::vector<int64_t>{5, 2, 3, 2}));  // at 5, 7 (first), 10, 12 (end)
  EXPECT_TRUE(at::equal(at::cat(chunks, 0), res[0].frames));
}

TEST(FrameLoopStream, BadLengthsAreErrors) {
  hr::FrameLoopOptions o;
  o.max_frames = 4;
  o.song_max_frames = {4, 5};
  EXPECT_THROW(hr::run_frame_loop_batch(model(), gen(), {prompt(3, 1), prompt(3, 2)}, params(), {1, 2}, o),
               std::exception);
  o.song_max_frames = {4};
  EXPECT_THROW(hr::run_frame_loop_batch(model(), gen(), {prompt(3, 1), prompt(3, 2)}, params(), {1, 2}, o),
               std::exception);
}

// EOS is read one frame late (no host synchronisation per frame): a song whose frame k is an
// EOS ends with k frames as before, after at most k + 1 steps (one look-ahead, discarded), and
// no step ever runs for a frame >= max_frames.
TEST(FrameLoopStream, EosReadOneFrameLateCostsAtMostOneStep) {
  hm::GenConfig g = gen();
  g.audio_eos_id = 5;  // teacher codes 0 before frame k, 5 (EOS) at frame k
  const int64_t n = model().num_codebooks();
  struct Case {
    int64_t max_frames, k;                 // frames planned, the EOS frame (k < max_frames: none)
    std::vector<int64_t> song_max_frames;  // empty: one song
  };
  for (const Case& c : {Case{10, 4, {}}, Case{10, 9, {}}, Case{10, 1, {}}, Case{6, 99, {}}, Case{10, 6, {3, 10}}}) {
    SCOPED_TRACE("max_frames " + std::to_string(c.max_frames) + ", EOS at " + std::to_string(c.k));
    const int64_t teach = std::min(c.k + 1, c.max_frames);
    at::Tensor teacher = at::zeros({teach, n}, at::kLong);
    if (c.k < c.max_frames) teacher[c.k].fill_(g.audio_eos_id);
    hr::FrameLoopOptions o;
    o.max_frames = c.max_frames;
    o.song_max_frames = c.song_max_frames;
    o.teacher_frames = teacher;
    int64_t steps = 0, last_on_frame = 0;
    o.step_runner = [&](int64_t, const std::function<void()>& body) {
      ++steps;
      body();
    };
    o.on_frame = [&](int64_t done, int64_t) {
      last_on_frame = done;
      return true;
    };
    const size_t songs = c.song_max_frames.empty() ? 1 : c.song_max_frames.size();
    std::vector<hm::Prompt> prompts;
    std::vector<uint64_t> seeds;
    for (size_t s = 0; s < songs; ++s) {
      prompts.push_back(prompt(5, static_cast<int64_t>(s) + 1));
      seeds.push_back(s + 1);
    }
    const auto res = hr::run_frame_loop_batch(model(), g, prompts, params(), seeds, o);
    EXPECT_LE(steps, c.max_frames - 1);  // never past the frame budget (nor the KV cache)
    const hr::FrameLoopResult& last = res.back();
    if (c.k < c.max_frames) {
      EXPECT_TRUE(last.stopped_at_eos);
      EXPECT_EQ(last.frames.size(0), c.k);
      EXPECT_LE(steps, c.k + 1);
      EXPECT_GE(steps, c.k);
      if (songs == 1) {
        EXPECT_EQ(last_on_frame, c.k);  // as when the flags were read at once
      }
    } else {
      EXPECT_FALSE(last.stopped_at_eos);
      EXPECT_EQ(last.frames.size(0), c.max_frames);
      EXPECT_EQ(steps, c.max_frames - 1);
    }
    for (size_t s = 0; s + 1 < songs; ++s) {  // the others ended at their own lengths
      EXPECT_FALSE(res[s].stopped_at_eos);
      EXPECT_EQ(res[s].frames.size(0), c.song_max_frames[s]);
    }
  }
}
