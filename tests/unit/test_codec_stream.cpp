// StreamDecoder: codes pushed in chunks (while the LM would still run) must give, bit for bit,
// what detokenize() gives for all the codes at once, with seeded and with recorded noise, for
// lengths of several windows and lengths around the window edges; windows that do not depend
// on the final length are decoded (and their audio handed out) before finish().
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "codec/heartcodec.h"
#include "codec/stream_decoder.h"
#include "codec/windows.h"
#include "heartmula/error.h"

namespace hc = heartmula::codec;

namespace {

const std::string kCodecDir = std::string(HEARTMULA_TEST_DATA) + "/ckpt/HeartCodec-oss";

const hc::HeartCodec& codec() {
  static const hc::HeartCodec c = hc::HeartCodec::load(kCodecDir);
  return c;
}

at::Tensor random_codes(int64_t t, uint64_t seed) {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(0, codec().config().codebook_size, {8, t}, g, at::kLong);
}

struct Streamed {
  at::Tensor audio;              // [2, N]
  std::vector<int64_t> emitted;  // samples handed out after each push
  size_t windows_before_finish = 0;
};

// Pushes `codes` in chunks of the given sizes (cycled), then finish().
Streamed stream(const at::Tensor& codes, const hc::DetokenizeOptions& o, const std::vector<int64_t>& chunks) {
  hc::StreamDecoder dec(codec(), o);
  std::vector<at::Tensor> parts;
  Streamed s;
  int64_t at = 0;
  for (size_t i = 0; at < codes.size(1); ++i) {
    const int64_t n = std::min(chunks[i % chunks.size()], codes.size(1) - at);
    at::Tensor a = dec.push(codes.narrow(1, at, n));
    EXPECT_EQ(a.size(0), 2);
    parts.push_back(a);
    at += n;
    s.emitted.push_back(dec.samples_out());
  }
  s.windows_before_finish = dec.windows_decoded();
  parts.push_back(dec.finish());
  s.audio = at::cat(parts, 1);
  return s;
}

hc::DetokenizeOptions opts(uint64_t seed) {
  hc::DetokenizeOptions o;
  o.steps = 1;
  o.seed = seed;
  return o;
}

// Windows that the stream may decode before finish(): k with 320k + 372 <= T.
size_t early_windows(int64_t t) { return t < 372 ? 0 : static_cast<size_t>((t - 372) / 320 + 1); }

}  // namespace

TEST(CodecStream, SeveralWindowsBitIdenticalToDetokenize) {
  const int64_t t = 1100;  // 4 windows, 3 of them decodable early
  const at::Tensor codes = random_codes(t, 1);
  const at::Tensor whole = codec().detokenize(codes, opts(11));
  const Streamed s = stream(codes, opts(11), {1, 7, 50, 3});
  ASSERT_EQ(s.audio.sizes(), whole.sizes());
  EXPECT_TRUE(at::equal(s.audio, whole));
  EXPECT_EQ(s.windows_before_finish, 3u);
  // Audio came out before the end: after window k, everything before (k + 1) * hop is final.
  const hc::WindowPlan p = hc::plan_windows(t, 48000);
  EXPECT_EQ(s.emitted.back(), 3 * p.hop_samples);
  // 61 codes per 4 pushes: after push 28 (427 codes) window 0 is out, its first hop final.
  EXPECT_EQ(s.emitted[27], p.hop_samples);
  EXPECT_EQ(s.emitted[22], 0);  // 61 * 5 + 1 + 7 + 50 = 363 < 372 codes
}

// warm_up() (run before the LM when windows are decoded beside it) changes no later output:
// it draws from its own noise and keeps no state.
TEST(CodecStream, WarmUpChangesNothing) {
  const at::Tensor codes = random_codes(372, 5);
  const at::Tensor before = codec().detokenize(codes, opts(4));
  hc::DetokenizeOptions w;
  w.guidance = 1.25;
  const double s = codec().warm_up(w);
  EXPECT_GT(s, 0.0);
  EXPECT_TRUE(at::equal(codec().detokenize(codes, opts(4)), before));
  w.guidance = 1.0;
  EXPECT_GT(codec().warm_up(w), 0.0);  // without the guidance batch too
  w.guidance = -1.0;
  EXPECT_THROW(codec().warm_up(w), heartmula::UsageError);
}

TEST(CodecStream, EdgeLengthsBitIdentical) {
  // Around the first window (372), the second (692), upstream's short-cut lengths (424, 744)
  // and the single-frame song.
  for (int64_t t : {1, 371, 372, 373, 692, 744}) {
    SCOPED_TRACE("T = " + std::to_string(t));
    const at::Tensor codes = random_codes(t, static_cast<uint64_t>(t));
    const at::Tensor whole = codec().detokenize(codes, opts(3));
    const Streamed s = stream(codes, opts(3), {t > 300 ? 37 : 1});
    ASSERT_EQ(s.audio.sizes(), whole.sizes());
    EXPECT_TRUE(at::equal(s.audio, whole));
    EXPECT_EQ(s.windows_before_finish, early_windows(t));
  }
}

TEST(CodecStream, RecordedNoiseBitIdentical) {
  const int64_t t = 1012;  // 3 windows; the last one's codes are exactly the codes' end
  const at::Tensor codes = random_codes(t, 2);
  const hc::WindowPlan p = hc::plan_windows(t, 48000);
  std::vector<at::Tensor> draws;
  for (const auto& shape : p.noise_shapes(codec().config().out_channels)) draws.push_back(at::randn(shape));
  hc::RecordedNoise a(draws), b(draws);
  hc::DetokenizeOptions oa = opts(0), ob = opts(0);
  oa.noise = &a;
  ob.noise = &b;
  const at::Tensor whole = codec().detokenize(codes, oa);
  const Streamed s = stream(codes, ob, {100});
  EXPECT_TRUE(at::equal(s.audio, whole));
  EXPECT_EQ(b.used(), draws.size());
  EXPECT_EQ(s.windows_before_finish, 3u);
}

TEST(CodecStream, RecordedNoiseForOtherCodesFailsAtFinish) {
  const at::Tensor codes = random_codes(400, 4);
  std::vector<at::Tensor> draws;
  for (const auto& shape : hc::plan_windows(800, 48000).noise_shapes(codec().config().out_channels))
    draws.push_back(at::randn(shape));
  hc::RecordedNoise n(draws);
  hc::DetokenizeOptions o = opts(0);
  o.noise = &n;
  hc::StreamDecoder dec(codec(), o);
  dec.push(codes);
  EXPECT_THROW(dec.finish(), heartmula::Error);
}

TEST(CodecStream, RejectsBadInput) {
  hc::StreamDecoder dec(codec(), opts(0));
  EXPECT_THROW(dec.push(at::zeros({7, 3}, at::kLong)), heartmula::Error);
  at::Tensor bad = at::zeros({8, 4}, at::kLong);
  bad[2][3] = 5000;
  EXPECT_THROW(dec.push(bad), heartmula::Error);
  EXPECT_EQ(dec.codes(), 0);
  EXPECT_EQ(dec.push(at::zeros({8, 0}, at::kLong)).size(1), 0);
  EXPECT_THROW(dec.finish(), heartmula::Error);  // no codes
}

// The Euler solve through SolverGraphs (the device-graph path; here a runner that runs the body
// as it is, as a capture's first replay does): every window goes through one graph key whatever
// its in-context prefix (the prefix is pinned with a mask, not a copy of its length), and the
// audio equals the eager path bit for bit, also through the warm-up and a stream.
TEST(CodecStream, SolverGraphsOneKeySameAudio) {
  std::vector<int64_t> keys, captured;
  auto graphs = std::make_shared<hc::SolverGraphs>([&](int64_t key, const std::function<void()>& body, bool replay) {
    if (!replay) {  // a capture without a run: nothing may be computed
      captured.push_back(key);
      return;
    }
    keys.push_back(key);
    body();
  });
  const at::Tensor codes = random_codes(1000, 11);  // 3 windows: prefix 0, then 104 latent frames
  hc::DetokenizeOptions o = opts(3);
  const at::Tensor eager = codec().detokenize(codes, o);
  o.graphs = graphs;
  EXPECT_TRUE(at::equal(codec().detokenize(codes, o), eager));
  // The first solve ran eagerly (not through the runner); the other two through one key.
  EXPECT_EQ(keys, (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(graphs->graphs(), 1u);
  EXPECT_TRUE(at::equal(codec().detokenize(codes, o), eager));  // all three through it now
  EXPECT_EQ(keys.size(), 5u);
  // warm_up with graphs makes the graph of the song's step count (another key) and changes nothing.
  hc::DetokenizeOptions w = opts(5);
  w.steps = 2;
  w.graphs = graphs;
  EXPECT_GT(codec().warm_up(w), 0.0);
  EXPECT_EQ(graphs->graphs(), 2u);
  EXPECT_EQ(captured, (std::vector<int64_t>{1}));  // the 2-step graph: captured, not run
  EXPECT_TRUE(at::equal(codec().detokenize(codes, o), eager));
}
