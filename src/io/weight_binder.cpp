#include "io/weight_binder.h"

#include <ATen/ATen.h>
#include <chrono>
#include <set>

#include "heartmula/error.h"
#include "io/torch_tensors.h"

namespace heartmula::io {

namespace {
std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}
bool numeric(DType dt) { return dt != DType::BOOL; }
}  // namespace

WeightBinder::WeightBinder(const Checkpoint& ckpt, c10::ScalarType dtype, c10::Device device)
    : ckpt_(ckpt), dtype_(dtype), device_(device) {}

void WeightBinder::expect(const std::string& key, std::vector<int64_t> shape, at::Tensor* slot) {
  expect(key, std::move(shape), slot, dtype_);
}

void WeightBinder::expect(const std::string& key, std::vector<int64_t> shape, at::Tensor* slot,
                          c10::ScalarType dtype_override) {
  slots_.push_back({key, std::move(shape), dtype_override, [slot](at::Tensor t) { *slot = std::move(t); }});
}

void WeightBinder::expect_with(const std::string& key, std::vector<int64_t> shape,
                               std::function<void(at::Tensor)> post, c10::ScalarType dtype_override) {
  slots_.push_back({key, std::move(shape), dtype_override, std::move(post)});
}

BindStats WeightBinder::bind(const std::string& unexpected_prefix) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> problems;
  std::set<std::string> declared;
  for (const auto& s : slots_) {
    declared.insert(s.key);
    if (!ckpt_.has(s.key)) {
      problems.push_back("missing tensor '" + s.key + "' (expected shape " + shape_str(s.shape) + ")");
      continue;
    }
    const TensorInfo& t = ckpt_.at(s.key);
    if (t.shape != s.shape)
      problems.push_back("tensor '" + s.key + "' has wrong shape in " + t.file->path() + ": got " +
                         t.shape_str() + ", expected " + shape_str(s.shape));
    if (!numeric(t.dtype))
      problems.push_back("tensor '" + s.key + "' has non-numeric dtype " + dtype_name(t.dtype));
  }
  if (!problems.empty()) {
    std::string msg = "checkpoint '" + ckpt_.path() + "' does not match the model (" +
                      std::to_string(problems.size()) + " problem" + (problems.size() > 1 ? "s" : "") + "):";
    const size_t shown = std::min<size_t>(problems.size(), 20);
    for (size_t i = 0; i < shown; ++i) msg += "\n  - " + problems[i];
    if (shown < problems.size()) msg += "\n  ... and " + std::to_string(problems.size() - shown) + " more";
    throw Error(msg);
  }
  BindStats stats;
  for (const auto& s : slots_) {
    const TensorInfo& t = ckpt_.at(s.key);
    at::Tensor loaded = load_tensor(t, s.dtype, device_);
    stats.tensors++;
    stats.bytes_read += t.nbytes;
    stats.bytes_loaded += static_cast<size_t>(loaded.numel()) * loaded.element_size();
    s.store(std::move(loaded));
  }
  for (const auto& [key, t] : ckpt_.tensors())
    if (key.rfind(unexpected_prefix, 0) == 0 && !declared.count(key)) stats.unexpected.push_back(key);
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

}  // namespace heartmula::io
