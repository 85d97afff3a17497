// Where detokenize's Gaussian noise comes from. Upstream calls torch.randn for the initial
// latents of every window and for the (masked-out) filler beside each in-context prefix; a
// NoiseSource hands out those draws in the same order, so recorded draws reproduce upstream.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace heartmula::codec {

class NoiseSource {
 public:
  virtual ~NoiseSource() = default;
  // The next standard-normal draw of `shape`, float32 on the CPU.
  virtual at::Tensor next(const std::vector<int64_t>& shape) = 0;
  // Called before any work with every shape detokenize will ask for, in order (RecordedNoise
  // checks them all up front, so a mismatch fails before anything is decoded).
  virtual void expect_draws(const std::vector<std::vector<int64_t>>& shapes) {}
  // Called once detokenize has drawn everything (RecordedNoise checks nothing is left over).
  virtual void finish() {}
};

// Draws from a CPU generator seeded with `seed` (LibTorch's mt19937, like torch.manual_seed).
class SeededNoise : public NoiseSource {
 public:
  explicit SeededNoise(uint64_t seed);
  at::Tensor next(const std::vector<int64_t>& shape) override;

 private:
  at::Generator gen_;
};

// Replays recorded draws in order. next() throws Error when the shapes disagree or the list
// is exhausted; finish() throws Error when draws are left unused.
class RecordedNoise : public NoiseSource {
 public:
  explicit RecordedNoise(std::vector<at::Tensor> draws, std::string origin = "recorded noise");
  // Collects noise_0, noise_1, ... (consecutive from 0) from a tensor map, e.g. a fixture file.
  // Error when there are none or the numbering has a gap.
  static RecordedNoise from_tensors(const std::map<std::string, at::Tensor>& tensors, const std::string& origin);
  at::Tensor next(const std::vector<int64_t>& shape) override;
  void expect_draws(const std::vector<std::vector<int64_t>>& shapes) override;
  void finish() override;
  size_t size() const { return draws_.size(); }
  size_t used() const { return used_; }

 private:
  std::vector<at::Tensor> draws_;
  std::string origin_;
  size_t used_ = 0;
};

}  // namespace heartmula::codec
