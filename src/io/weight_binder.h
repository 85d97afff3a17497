// Weight binding: attaches checkpoint tensors to a model's parameter slots by checkpoint key.
//
// A model declares each parameter (key, expected shape, slot) with expect(); bind() then checks
// every declaration against the checkpoint in one pass and reports ALL problems together
// (missing tensors, wrong shapes, non-numeric dtypes, integer tensors for float slots), before loading anything.
// Loading converts from the stored dtype to the compute dtype on the target device.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint.h"

namespace heartmula::io {

struct BindStats {
  size_t tensors = 0;
  size_t bytes_read = 0;    // bytes in the checkpoint
  size_t bytes_loaded = 0;  // bytes after conversion
  double seconds = 0.0;
  std::vector<std::string> unexpected;  // checkpoint keys under the prefix nobody asked for
};

class WeightBinder {
 public:
  WeightBinder(const Checkpoint& ckpt, c10::ScalarType dtype, c10::Device device);
  // Without a checkpoint: for listing the declarations or binding random weights.
  WeightBinder(c10::ScalarType dtype, c10::Device device);

  // Declares parameter `key` of `shape`, to be stored into *slot in the compute dtype.
  void expect(const std::string& key, std::vector<int64_t> shape, at::Tensor* slot);
  // Same, but the tensor keeps its own dtype class: float stays in `dtype_override`.
  void expect(const std::string& key, std::vector<int64_t> shape, at::Tensor* slot, c10::ScalarType dtype_override);
  // Same, kept on `device` instead of the binder's (e.g. a table only gathered from on the host).
  void expect_on(const std::string& key, std::vector<int64_t> shape, at::Tensor* slot, c10::ScalarType dtype,
                 c10::Device device);
  // A tensor that is loaded and then transformed (e.g. weight-norm folding) by `post`.
  void expect_with(const std::string& key, std::vector<int64_t> shape, std::function<void(at::Tensor)> post,
                   c10::ScalarType dtype_override);

  // Checks every declaration against the checkpoint (presence, shape, dtype) without loading;
  // throws one Error listing every problem.
  void check() const;
  // check(), then loads all tensors.
  // Keys of the checkpoint that start with `unexpected_prefix` and were not declared are
  // listed in the stats (callers warn).
  BindStats bind(const std::string& unexpected_prefix = "");

  // When on, bind() checks every floating-point tensor after conversion to its compute dtype
  // (one reduction per tensor on the device) and throws one Error naming each tensor that holds
  // NaN or +-Inf and how many such values. Off by default.
  void set_check_finite(bool on) { check_finite_ = on; }

  // Fills every slot with random values of the declared shape directly on the device (no file):
  // normal(0, stddev), except 1-D norm scales (`*.scale`, `*norm.weight`), which get 1. For
  // benchmarks on the real architecture; post-processing (fusion, weight norm) runs as usual.
  BindStats bind_random(uint64_t seed, double stddev = 0.02);

  struct Declaration {
    std::string key;
    std::vector<int64_t> shape;
  };
  std::vector<Declaration> declarations() const;

 private:
  struct Slot {
    std::string key;
    std::vector<int64_t> shape;
    c10::ScalarType dtype;
    std::function<void(at::Tensor)> store;
    std::optional<c10::Device> device;  // the binder's when empty
  };
  const Checkpoint* ckpt_;
  c10::ScalarType dtype_;
  c10::Device device_;
  std::vector<Slot> slots_;
  bool check_finite_ = false;
};

}  // namespace heartmula::io
