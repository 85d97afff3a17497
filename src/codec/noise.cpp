#include "codec/noise.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "heartmula/error.h"

namespace heartmula::codec {

namespace {
std::string shape_str(at::IntArrayRef s) { return c10::str(s); }
}  // namespace

SeededNoise::SeededNoise(uint64_t seed) : gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}

at::Tensor SeededNoise::next(const std::vector<int64_t>& shape) {
  return at::randn(shape, gen_, at::TensorOptions().dtype(at::kFloat));
}

RecordedNoise::RecordedNoise(std::vector<at::Tensor> draws, std::string origin)
    : draws_(std::move(draws)), origin_(std::move(origin)) {}

RecordedNoise RecordedNoise::from_tensors(const std::map<std::string, at::Tensor>& tensors, const std::string& origin) {
  std::vector<at::Tensor> draws;
  while (true) {
    auto it = tensors.find("noise_" + std::to_string(draws.size()));
    if (it == tensors.end()) break;
    draws.push_back(it->second);
  }
  size_t numbered = 0;
  for (const auto& [name, t] : tensors)
    if (name.rfind("noise_", 0) == 0) ++numbered;
  if (draws.empty()) throw Error(origin + ": no noise tensors (expected noise_0, noise_1, ...)");
  if (numbered != draws.size())
    throw Error(origin + ": noise tensors are not numbered noise_0..noise_" + std::to_string(numbered - 1) +
                " without gaps (noise_" + std::to_string(draws.size()) + " is missing)");
  return RecordedNoise(std::move(draws), origin);
}

at::Tensor RecordedNoise::next(const std::vector<int64_t>& shape) {
  if (used_ >= draws_.size())
    throw Error(origin_ + ": detokenize needs noise draw #" + std::to_string(used_) + " of shape " + shape_str(shape) +
                " but only " + std::to_string(draws_.size()) +
                " were given (the codes need more windows than the noise was recorded for)");
  const at::Tensor& t = draws_[used_];
  if (t.sizes() != at::IntArrayRef(shape))
    throw Error(origin_ + ": noise_" + std::to_string(used_) + " has shape " + shape_str(t.sizes()) +
                ", detokenize needs " + shape_str(shape));
  ++used_;
  return t.to(at::kCPU, at::kFloat);
}

void RecordedNoise::expect_draws(const std::vector<std::vector<int64_t>>& shapes) {
  const size_t left = draws_.size() - used_;
  if (left != shapes.size())
    throw Error(origin_ + ": " + std::to_string(left) + " noise tensors were given, detokenize needs " +
                std::to_string(shapes.size()) + " for these codes (the noise was recorded for other codes)");
  for (size_t i = 0; i < shapes.size(); ++i)
    if (draws_[used_ + i].sizes() != at::IntArrayRef(shapes[i]))
      throw Error(origin_ + ": noise_" + std::to_string(used_ + i) + " has shape " +
                  shape_str(draws_[used_ + i].sizes()) + ", detokenize needs " + shape_str(shapes[i]));
}

void RecordedNoise::finish() {
  if (used_ != draws_.size())
    throw Error(origin_ + ": " + std::to_string(draws_.size()) + " noise tensors were given but detokenize used " +
                std::to_string(used_) + " (the noise was recorded for other codes)");
}

}  // namespace heartmula::codec
