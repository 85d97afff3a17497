#include "codec/stream_decoder.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <algorithm>
#include <string>

#include "codec/rvq.h"
#include "heartmula/error.h"

namespace heartmula::codec {

StreamDecoder::StreamDecoder(const HeartCodec& codec, DetokenizeOptions options)
    : codec_(codec), opts_(std::move(options)) {
  opts_.validate();
  if (opts_.noise) {
    noise_ = opts_.noise;
  } else {
    own_noise_ = std::make_unique<SeededNoise>(opts_.seed);
    noise_ = own_noise_.get();
  }
  consts_ = plan_windows(1, codec_.sample_rate());
  fade_in_ = crossfade_weights(consts_.overlap_samples);
}

StreamDecoder::~StreamDecoder() = default;

at::Tensor StreamDecoder::take(int64_t upto) {
  const int64_t n = std::max<int64_t>(0, upto - emitted_);
  at::Tensor out = at::empty({2, n}, at::kFloat);
  for (int64_t c = 0; c < 2; ++c) {
    std::vector<float>& p = pending_[c];
    if (static_cast<int64_t>(p.size()) < n) p.resize(static_cast<size_t>(n), 0.0f);  // past the last window: silence
    std::copy(p.begin(), p.begin() + n, out.data_ptr<float>() + c * n);
    p.erase(p.begin(), p.begin() + n);
  }
  emitted_ += n;
  return out;
}

void StreamDecoder::decode(size_t k, const at::Tensor& window_codes) {
  if (k == 0)  // upstream's first latent: drawn, unused (the first window has no prefix)
    noise_->next({1, consts_.window_latents, codec_.config().out_channels});
  const at::Tensor audio = codec_.decode_window(window_codes, k, prefix_, *noise_, opts_);
  const int64_t offset = static_cast<int64_t>(k) * consts_.hop_samples - emitted_;
  if (offset < 0) throw Error("stream decoder: window " + std::to_string(k) + " starts before the audio handed out");
  const int64_t fade = k > 0 ? consts_.overlap_samples : 0, len = consts_.window_samples;
  for (int64_t c = 0; c < 2; ++c) {
    std::vector<float>& p = pending_[c];
    if (static_cast<int64_t>(p.size()) < offset + len) p.resize(static_cast<size_t>(offset + len), 0.0f);
    const float* src = audio.data_ptr<float>() + c * audio.size(1);
    float* dst = p.data() + offset;
    for (int64_t j = 0; j < len; ++j) dst[j] = j < fade ? crossfade(dst[j], src[j], fade_in_[j]) : src[j];
  }
  decoded_ = k + 1;
}

at::Tensor StreamDecoder::push(const at::Tensor& codes_in) {
  c10::InferenceMode guard;
  if (finished_) throw Error("stream decoder: push() after finish()");
  const int64_t q = codec_.config().num_quantizers;
  if (codes_in.dim() != 2 || codes_in.size(0) != q)
    throw Error("stream decoder: codes must be [" + std::to_string(q) + ", n], got " + c10::str(codes_in.sizes()));
  if (codes_in.size(1) > 0) {
    check_codes(codes_in, codec_.config().codebook_size);
    chunks_.push_back(codes_in.to(at::kCPU, at::kLong).contiguous());
    have_ += codes_in.size(1);
    all_ = at::Tensor();
  }
  // Window k is final once codes [start_k, start_k + 372) exist (see the header).
  while (have_ >= static_cast<int64_t>(decoded_) * consts_.hop_codes + consts_.window_codes) {
    if (!all_.defined()) all_ = chunks_.size() == 1 ? chunks_.front() : at::cat(chunks_, 1);
    const size_t k = decoded_;
    decode(k, all_.narrow(1, static_cast<int64_t>(k) * consts_.hop_codes, consts_.window_codes));
    if (opts_.progress) opts_.progress(decoded_, 0);
  }
  const double sr = static_cast<double>(codec_.sample_rate());
  const int64_t length_now = static_cast<int64_t>(static_cast<double>(have_) / kCodeRate * sr);
  return take(std::min(static_cast<int64_t>(decoded_) * consts_.hop_samples, length_now));
}

at::Tensor StreamDecoder::finish() {
  c10::InferenceMode guard;
  if (finished_) throw Error("stream decoder: finish() called twice");
  if (have_ < 1) throw Error("codec: need at least one frame of codes, got 0");
  finished_ = true;
  const WindowPlan plan = plan_windows(have_, codec_.sample_rate());
  if (decoded_ > plan.windows())
    throw Error("stream decoder: " + std::to_string(decoded_) + " windows decoded early, the plan has " +
                std::to_string(plan.windows()));
  // Draws made so far: the first latent and w0 (window 0), then two per later window.
  const auto shapes = plan.noise_shapes(codec_.config().out_channels);
  const size_t drawn = decoded_ == 0 ? 0 : 2 * decoded_;
  noise_->expect_draws(std::vector<std::vector<int64_t>>(shapes.begin() + static_cast<long>(drawn), shapes.end()));
  if (!all_.defined()) all_ = chunks_.size() == 1 ? chunks_.front() : at::cat(chunks_, 1);
  for (size_t k = decoded_; k < plan.windows(); ++k) {
    std::vector<int64_t> idx(static_cast<size_t>(plan.window_codes));
    for (int64_t i = 0; i < plan.window_codes; ++i) idx[static_cast<size_t>(i)] = plan.source_index(plan.starts[k] + i);
    decode(k, all_.index_select(1, at::tensor(idx, at::kLong)));
    if (opts_.progress) opts_.progress(decoded_, plan.windows());
  }
  noise_->finish();
  at::Tensor rest = take(plan.target_samples);
  pending_[0].clear();
  pending_[1].clear();
  chunks_.clear();
  all_ = at::Tensor();
  prefix_ = at::Tensor();
  return rest;
}

}  // namespace heartmula::codec
