#include "runtime/sampler.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <string>

#include "heartmula/error.h"
#include "runtime/song_params.h"

namespace heartmula::runtime {

namespace {
constexpr double kPi = 3.14159265358979323846;
}  // namespace

double scheduled_temperature(double start, double end, TemperatureShape shape, int64_t frame, int64_t max_frames) {
  const double p =
      max_frames > 1 ? std::clamp(static_cast<double>(frame) / static_cast<double>(max_frames - 1), 0.0, 1.0) : 0.0;
  if (shape == TemperatureShape::cosine) return end + (start - end) * (1.0 + std::cos(kPi * p)) / 2.0;
  return start + (end - start) * p;
}

void SamplingParams::validate() const {  // the limits of SongRequest (runtime/song_params.h)
  song_param("temperature").check(temperature);
  if (temperature_end) song_param("temperature").check(*temperature_end);
  song_param("topk").check(static_cast<double>(topk));
  song_param("cfg_scale").check(cfg_scale);
}

at::Generator make_generator(c10::Device device, uint64_t seed) {
  if (device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Generator def = at::globalContext().defaultGenerator(device);
  at::Generator gen;
  {
    std::lock_guard<std::mutex> lock(def.mutex());
    gen = def.clone();
  }
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_current_seed(seed);
  return gen;
}

at::Tensor cfg_mix(const at::Tensor& logits, double cfg_scale) {
  const int64_t n = logits.size(0) / 2;
  at::Tensor cond = logits.narrow(0, 0, n);
  at::Tensor uncond = logits.narrow(0, n, n);
  return uncond + (cond - uncond) * cfg_scale;
}

at::Tensor topk_filter(const at::Tensor& logits, int64_t topk) {
  const int64_t k = std::min<int64_t>(topk, logits.size(-1));
  at::Tensor kth = std::get<0>(at::topk(logits, k, -1)).narrow(-1, k - 1, 1);  // [n, 1]
  return logits.masked_fill(logits.lt(kth), -std::numeric_limits<double>::infinity());
}

at::Tensor sample_exponential_race(const at::Tensor& probs, at::Generator& gen) {
  at::Tensor q = at::empty_like(probs).exponential_(1.0, gen);
  return probs.div(q).argmax(-1, /*keepdim=*/true);
}

at::Tensor sampling_probs(const at::Tensor& logits, int64_t topk, double temperature) {
  at::Tensor scaled = logits.to(at::kFloat).div(temperature);
  // log_softmax then softmax, as upstream (the same distribution as softmax alone).
  return at::softmax(at::log_softmax(topk_filter(scaled, topk), -1), -1);
}

at::Tensor sample_topk(const at::Tensor& logits, int64_t topk, double temperature, at::Generator& gen) {
  return sample_exponential_race(sampling_probs(logits, topk, temperature), gen);
}

at::Tensor sampling_probs(const at::Tensor& logits, int64_t topk, const at::Tensor& temperature) {
  at::Tensor scaled = logits.to(at::kFloat).div(temperature);
  return at::softmax(at::log_softmax(topk_filter(scaled, topk), -1), -1);
}

at::Tensor sample_topk(const at::Tensor& logits, int64_t topk, const at::Tensor& temperature, at::Generator& gen) {
  return sample_exponential_race(sampling_probs(logits, topk, temperature), gen);
}

}  // namespace heartmula::runtime
