#include "codec/heartcodec.h"

#include <ATen/ATen.h>
#include <c10/core/Event.h>
#include <c10/core/InferenceMode.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "codec/flow_matching.h"
#include "codec/rvq.h"
#include "codec/scalar_decoder.h"
#include "heartmula/error.h"
#include "io/checkpoint.h"
#include "io/switches.h"
#include "io/weight_binder.h"

namespace heartmula::codec {

struct HeartCodec::Model {
  HeartCodecConfig cfg;
  FlowMatching flow_matching;
  ScalarDecoder decoder;
  CodecLoadInfo info;
  c10::ScalarType dtype = at::kFloat;          // the estimator's compute dtype
  c10::ScalarType decoder_dtype = at::kFloat;  // scalar decoder
  c10::Device device = at::kCPU;
  CodecLoad options;
};

void DetokenizeOptions::validate() const {
  if (steps < 1 || steps > 1000) throw UsageError("codec steps must be in [1, 1000]. Given: " + std::to_string(steps));
  if (!std::isfinite(guidance) || guidance < 0)
    throw UsageError("codec guidance must be a finite number >= 0. Given: " + std::to_string(guidance));
}

namespace {

// Sets cuBLAS/cuDNN TF32 for float32 work to `allow` for the duration of a call on CUDA and
// restores the previous setting. float32 without TF32 means IEEE float32 for this codec: cuDNN
// convolutions would otherwise run in TF32, which moves the waveform by ~3e-3 of its peak.
class Tf32Scope {
 public:
  Tf32Scope(bool cuda, bool allow) : active_(cuda) {
    if (!active_) return;
    auto& ctx = at::globalContext();
    cudnn_ = ctx.allowTF32CuDNN();
    cublas_ = ctx.allowTF32CuBLAS();
    ctx.setAllowTF32CuDNN(allow);
    ctx.setAllowTF32CuBLAS(allow);
  }
  ~Tf32Scope() {
    if (!active_) return;
    auto& ctx = at::globalContext();
    ctx.setAllowTF32CuDNN(cudnn_);
    ctx.setAllowTF32CuBLAS(cublas_);
  }
  Tf32Scope(const Tf32Scope&) = delete;
  Tf32Scope& operator=(const Tf32Scope&) = delete;

 private:
  bool active_ = false, cudnn_ = false, cublas_ = false;
};

}  // namespace

HeartCodec::HeartCodec(std::shared_ptr<const Model> model) : model_(std::move(model)) {}

const HeartCodecConfig& HeartCodec::config() const { return model_->cfg; }
const CodecLoadInfo& HeartCodec::load_info() const { return model_->info; }
c10::ScalarType HeartCodec::dtype() const { return model_->dtype; }
c10::Device HeartCodec::device() const { return model_->device; }
const CodecLoad& HeartCodec::load_options() const { return model_->options; }

std::vector<std::pair<std::string, at::Tensor>> HeartCodec::weights() const {
  NamedWeights out;
  model_->flow_matching.list_weights("flow_matching", out);
  model_->decoder.list_weights("scalar_model.decoder", out);
  return out;
}

HeartCodec HeartCodec::load(const std::string& dir, c10::ScalarType dtype, c10::Device device) {
  CodecLoad o;
  o.device = device;
  o.estimator_dtype = dtype;
  // LibTorch 1.13's CPU conv_transpose1d fails in bf16, and its bf16 convolutions are slower
  // than float32 ones there: the decoder runs float32 on the CPU.
  o.decoder_dtype = device.is_cpu() ? at::kFloat : dtype;
  return load(dir, o);
}

HeartCodec HeartCodec::load(const std::string& dir, const CodecLoad& o) {
  c10::InferenceMode guard;
  for (const auto& [what, dtype] :
       {std::pair<const char*, c10::ScalarType>{"estimator", o.estimator_dtype}, {"decoder", o.decoder_dtype}}) {
    if (dtype != at::kFloat && dtype != at::kBFloat16 && dtype != at::kHalf)
      throw Error(std::string("codec ") + what + " dtype must be float32, bfloat16 or float16, got " +
                  c10::toString(dtype));
    if (dtype == at::kHalf && o.device.is_cpu())
      throw Error(std::string("codec ") + what +
                  ": float16 is not supported on the CPU (LibTorch lacks CPU half kernels); use bf16 or fp32");
  }
  auto m = std::make_shared<Model>();
  m->cfg = HeartCodecConfig::from_file(dir + "/config.json");
  m->dtype = o.estimator_dtype;
  m->decoder_dtype = o.decoder_dtype;
  m->device = o.device;
  m->options = o;
  const io::Checkpoint ckpt = io::Checkpoint::open(dir);
  io::WeightBinder binder(ckpt, at::kFloat, o.device);  // float32 unless a part asks for its dtype
  m->flow_matching.declare(binder, "flow_matching", m->cfg, o.estimator_dtype);
  m->decoder.declare(binder, "scalar_model.decoder", m->cfg, m->decoder_dtype, m->decoder_dtype);
  binder.set_check_finite(true);  // NaN/Inf weights: one Error naming them (cost: docs/reliability.md)
  const io::BindStats stats = binder.bind();
  m->info.tensors = stats.tensors;
  m->info.bytes_read = stats.bytes_read;
  m->info.seconds = stats.seconds;
  m->info.unused = stats.unexpected;
  return HeartCodec(std::move(m));
}

HeartCodec HeartCodec::random(const HeartCodecConfig& config, const CodecLoad& o, uint64_t seed) {
  c10::InferenceMode guard;
  if (o.device.is_cpu() && (o.estimator_dtype == at::kHalf || o.decoder_dtype == at::kHalf))
    throw Error("codec: float16 is not supported on the CPU; use bf16 or fp32");
  config.validate("<random codec config>");
  auto m = std::make_shared<Model>();
  m->cfg = config;
  m->dtype = o.estimator_dtype;
  m->decoder_dtype = o.decoder_dtype;
  m->device = o.device;
  m->options = o;
  io::WeightBinder binder(at::kFloat, o.device);
  m->flow_matching.declare(binder, "flow_matching", m->cfg, o.estimator_dtype);
  m->decoder.declare(binder, "scalar_model.decoder", m->cfg, m->decoder_dtype, m->decoder_dtype);
  const io::BindStats stats = binder.bind_random(seed);
  m->info.tensors = stats.tensors;
  m->info.seconds = stats.seconds;
  return HeartCodec(std::move(m));
}

std::vector<io::WeightBinder::Declaration> HeartCodec::declarations(const HeartCodecConfig& config) {
  Model m;
  io::WeightBinder binder(at::kFloat, at::kCPU);
  m.flow_matching.declare(binder, "flow_matching", config, at::kFloat);
  m.decoder.declare(binder, "scalar_model.decoder", config, at::kFloat, at::kFloat);
  return binder.declarations();
}

// A window's audio on its way to the host. On CUDA it is copied into pinned memory on the
// stream, without waiting, and an event marks the end of the copy; elsewhere it is already there.
struct HeartCodec::QueuedAudio {
  at::Tensor host;                     // float32 [2, N] on the CPU (complete after wait())
  std::unique_ptr<c10::Event> copied;  // null: nothing to wait for

  static QueuedAudio from(const at::Tensor& audio) {
    QueuedAudio q;
    if (!audio.is_cuda()) {
      q.host = audio.to(at::kCPU, at::kFloat).contiguous();
      return q;
    }
    const at::Tensor src = audio.to(at::kFloat).contiguous();
    q.host = at::empty(src.sizes(), at::TensorOptions().dtype(at::kFloat).pinned_memory(true));
    q.host.copy_(src, /*non_blocking=*/true);
    const c10::Device d = src.device();
    q.copied = std::make_unique<c10::Event>(d.type());
    q.copied->record(c10::impl::getDeviceGuardImpl(d.type())->getStream(d));
    return q;
  }

  at::Tensor wait() {
    if (copied) {
      while (!copied->query()) std::this_thread::sleep_for(std::chrono::microseconds(50));
      copied.reset();
    }
    return host;
  }
};

at::Tensor HeartCodec::decode_latents_on_device(const at::Tensor& latents) const {
  c10::InferenceMode guard;
  const Model& m = *model_;
  const Tf32Scope tf32(m.device.is_cuda(), m.options.decoder_tf32);
  const int64_t t = latents.size(1), f = latents.size(2);
  // [1, T, F] -> two channels [2, F/2, T]: the first half of the features is the left channel.
  at::Tensor lat = latents.reshape({1, t, 2, f / 2}).permute({0, 2, 1, 3}).reshape({2, t, f / 2}).transpose(1, 2);
  return m.decoder.decode(lat.to(m.device, m.decoder_dtype)).squeeze(1);  // [2, T * samples_per_latent]
}

at::Tensor HeartCodec::decode_latents(const at::Tensor& latents) const {
  c10::InferenceMode guard;
  return QueuedAudio::from(decode_latents_on_device(latents)).wait();
}

namespace {

// HEARTMULA_STREAM_TRACE=1: each window's flow-matching and decoder seconds on stderr.
bool trace_windows() {
  static const bool on = io::switch_on(io::Switch::kStreamTrace);
  return on;
}

// Writes window k's audio [2, >= window_samples] into out [2, target]: the first window is
// copied, later ones crossfaded over the overlap (in double, as upstream's float64 window
// promotes it) and copied after it; everything past the target length is dropped.
void place_window(at::Tensor& out, const at::Tensor& audio, size_t k, const WindowPlan& p,
                  const std::vector<double>& fade_in) {
  const int64_t target = out.size(1), offset = static_cast<int64_t>(k) * p.hop_samples;
  const int64_t fade = k > 0 ? p.overlap_samples : 0;
  for (int64_t c = 0; c < 2; ++c) {
    float* dst = out.data_ptr<float>() + c * target;
    const float* src = audio.data_ptr<float>() + c * audio.size(1);
    for (int64_t j = 0; j < p.window_samples && offset + j < target; ++j) {
      if (j < fade) {
        dst[offset + j] = crossfade(dst[offset + j], src[j], fade_in[j]);
      } else {
        dst[offset + j] = src[j];
      }
    }
  }
}

// A window's audio [2, N], checked to hold the window's samples (N >= window_samples).
at::Tensor checked_window_audio(at::Tensor audio, int64_t window_samples) {
  if (audio.size(1) < window_samples)
    throw Error("codec: a window decoded to " + std::to_string(audio.size(1)) + " samples, expected " +
                std::to_string(window_samples));
  return audio;
}

// The padded code sequence [Q, padded_len] on the CPU (upstream's repetition).
at::Tensor repeat_codes(const at::Tensor& codes, const WindowPlan& p) {
  std::vector<int64_t> idx(p.padded_len);
  for (int64_t i = 0; i < p.padded_len; ++i) idx[i] = p.source_index(i);
  return codes.index_select(1, at::tensor(idx, at::kLong));
}

}  // namespace

at::Tensor HeartCodec::decode_window(const at::Tensor& window, size_t k, at::Tensor& prefix, NoiseSource& noise,
                                     const DetokenizeOptions& opts) const {
  c10::InferenceMode guard;
  return checked_window_audio(queue_window(window, k, prefix, noise, opts).wait(),
                              plan_windows(1, model_->cfg.sample_rate).window_samples);
}

HeartCodec::QueuedAudio HeartCodec::queue_window(const at::Tensor& window, size_t k, at::Tensor& prefix,
                                                 NoiseSource& noise, const DetokenizeOptions& opts) const {
  c10::InferenceMode guard;
  const Model& m = *model_;
  const Tf32Scope tf32(m.device.is_cuda(), m.options.estimator_tf32);
  const WindowPlan plan = plan_windows(1, m.cfg.sample_rate);  // the constants
  const int64_t latent_dim = m.flow_matching.latent_dim;
  if (window.dim() != 2 || window.size(0) != m.cfg.num_quantizers || window.size(1) != plan.window_codes)
    throw Error("codec: a window's codes must be [" + std::to_string(m.cfg.num_quantizers) + ", " +
                std::to_string(plan.window_codes) + "], got " + c10::str(window.sizes()));
  if (k > 0) noise.next({1, plan.window_latents - plan.overlap_latents, latent_dim});  // masked filler
  const auto t0 = std::chrono::steady_clock::now();
  at::Tensor latents = m.flow_matching.inference_codes(window, k > 0 ? prefix : at::Tensor(), noise, opts.steps,
                                                       opts.guidance, opts.graphs.get());
  prefix = latents.narrow(1, plan.window_latents - plan.overlap_latents, plan.overlap_latents).clone();
  double flow_s = -1;
  if (trace_windows()) {  // waits for the flow matching (its stream) to time it apart from the decoder
    (void)latents.narrow(1, 0, 1).sum().item<float>();
    flow_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  QueuedAudio audio = QueuedAudio::from(decode_latents_on_device(latents));
  if (trace_windows()) {  // waits for the audio, so that the decoder's time is its own
    (void)audio.wait();
    std::fprintf(stderr, "heartmula trace: codec window %zu: flow matching %.3f s, decoder %.3f s\n", k, flow_s,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - flow_s);
  }
  return audio;
}

double HeartCodec::warm_up(const DetokenizeOptions& options) const {
  c10::InferenceMode guard;
  const auto t0 = std::chrono::steady_clock::now();
  const WindowPlan plan = plan_windows(1, model_->cfg.sample_rate);
  const at::Tensor codes = at::zeros({model_->cfg.num_quantizers, plan.window_codes}, at::kLong);
  SeededNoise noise(0);
  DetokenizeOptions o;
  o.steps = 1;
  o.guidance = options.guidance;
  o.graphs = options.graphs;  // its first solve is eager
  o.validate();
  at::Tensor prefix;
  (void)decode_window(codes, 0, prefix, noise, o);  // eager, one step: audio on the host, waited for
  if (options.graphs) {
    // The song's graph (its step count), with a prefix as later windows have, captured without
    // being run: beside the frame loop, the warm-up's device time is the LM's loss.
    const Model& m = *model_;
    const Tf32Scope tf32(m.device.is_cuda(), m.options.estimator_tf32);  // as the windows' solves run
    noise.next({1, plan.window_latents - plan.overlap_latents, m.flow_matching.latent_dim});  // masked filler
    m.flow_matching.prepare_graph(codes, prefix, noise, options.steps, o.guidance, *options.graphs);
  } else {
    (void)decode_window(codes, 1, prefix, noise, o);  // the prefix path's kernels
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

at::Tensor HeartCodec::detokenize(const at::Tensor& codes_in, const DetokenizeOptions& opts) const {
  c10::InferenceMode guard;
  opts.validate();
  const Model& m = *model_;
  const Tf32Scope tf32(m.device.is_cuda(), m.options.estimator_tf32);
  if (codes_in.dim() != 2 || codes_in.size(0) != m.cfg.num_quantizers || codes_in.size(1) < 1)
    throw Error("codec codes must be [" + std::to_string(m.cfg.num_quantizers) + ", T] with T >= 1, got " +
                c10::str(codes_in.sizes()));
  check_codes(codes_in, m.cfg.codebook_size);
  const at::Tensor codes = codes_in.to(at::kCPU, at::kLong).contiguous();
  const WindowPlan plan = plan_windows(codes.size(1), m.cfg.sample_rate);
  const at::Tensor padded = repeat_codes(codes, plan);
  const std::vector<double> fade_in = crossfade_weights(plan.overlap_samples);

  SeededNoise seeded(opts.seed);
  NoiseSource& noise = opts.noise ? *opts.noise : seeded;
  const int64_t latent_dim = m.flow_matching.latent_dim;
  noise.expect_draws(plan.noise_shapes(latent_dim));
  // Upstream draws a first latent before the windows; the first window has no prefix, so it
  // only advances the generator.
  noise.next({1, plan.window_latents, latent_dim});

  at::Tensor out = at::zeros({2, plan.target_samples}, at::kFloat);
  at::Tensor prefix;
  // Window k + 1 is queued on the device before the host waits for window k's audio and
  // crossfades it in, so that the device does not wait for the host between windows.
  auto place = [&](QueuedAudio& q, size_t k) {
    place_window(out, checked_window_audio(q.wait(), plan.window_samples), k, plan, fade_in);
    if (opts.progress) opts.progress(k + 1, plan.windows());
  };
  std::unique_ptr<QueuedAudio> pending;
  for (size_t k = 0; k < plan.windows(); ++k) {
    const at::Tensor window = padded.narrow(1, plan.starts[k], plan.window_codes);
    auto next = std::make_unique<QueuedAudio>(queue_window(window, k, prefix, noise, opts));
    if (pending) place(*pending, k - 1);
    pending = std::move(next);
  }
  if (pending) place(*pending, plan.windows() - 1);
  noise.finish();
  return out;
}

}  // namespace heartmula::codec
