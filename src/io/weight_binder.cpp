#include "io/weight_binder.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <chrono>
#include <cmath>
#include <mutex>
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
bool floating(DType dt) { return dt == DType::F64 || dt == DType::F32 || dt == DType::F16 || dt == DType::BF16; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

WeightBinder::WeightBinder(const Checkpoint& ckpt, c10::ScalarType dtype, c10::Device device)
    : ckpt_(&ckpt), dtype_(dtype), device_(device) {}

WeightBinder::WeightBinder(c10::ScalarType dtype, c10::Device device)
    : ckpt_(nullptr), dtype_(dtype), device_(device) {}

std::vector<WeightBinder::Declaration> WeightBinder::declarations() const {
  std::vector<Declaration> out;
  for (const auto& s : slots_) out.push_back({s.key, s.shape});
  return out;
}

BindStats WeightBinder::bind_random(uint64_t seed, double stddev) {
  auto t0 = std::chrono::steady_clock::now();
  BindStats stats;
  for (const auto& s : slots_) {
    const bool is_scale = s.shape.size() == 1 && (ends_with(s.key, ".scale") || ends_with(s.key, "norm.weight"));
    at::Tensor t;
    if (is_scale) {
      t = at::ones(s.shape, at::TensorOptions().dtype(s.dtype).device(s.device.value_or(device_)));
    } else {
      // float32 values from a generator seeded by (seed, key), converted to the slot's dtype:
      // the same weights whatever the dtype (a bf16 and an int8 model of one seed compare), in
      // any declaration order. Drawn on the device (the CPU would be slow for 4 B parameters).
      uint64_t h = 1469598103934665603ull ^ seed;  // FNV-1a over the key
      for (unsigned char ch : s.key) h = (h ^ ch) * 1099511628211ull;
      const c10::Device dev = s.device.value_or(device_);
      t = at::empty(s.shape, at::TensorOptions().dtype(at::kFloat).device(dev));
      if (dev.is_cpu()) {
        t.normal_(0.0, stddev, at::make_generator<at::CPUGeneratorImpl>(h));
      } else {
        // The device's default generator, reseeded per key. normal_() takes the generator's
        // mutex itself: holding it here across that call deadlocked (a GPU bench that never
        // finished); it guards only the reseeding.
        at::Generator gen = at::globalContext().defaultGenerator(dev);
        {
          std::lock_guard<std::mutex> lock(gen.mutex());
          gen.set_current_seed(h);
        }
        t.normal_(0.0, stddev, gen);
      }
      if (s.dtype != at::kFloat) t = t.to(s.dtype);
    }
    stats.tensors++;
    stats.bytes_loaded += static_cast<size_t>(t.numel()) * t.element_size();
    s.store(std::move(t));
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

void WeightBinder::expect(const std::string& key, std::vector<int64_t> shape, at::Tensor* slot) {
  expect(key, std::move(shape), slot, dtype_);
}

void WeightBinder::expect(const std::string& key, std::vector<int64_t> shape, at::Tensor* slot,
                          c10::ScalarType dtype_override) {
  slots_.push_back({key, std::move(shape), dtype_override, [slot](at::Tensor t) { *slot = std::move(t); }});
}

void WeightBinder::expect_on(const std::string& key, std::vector<int64_t> shape, at::Tensor* slot,
                             c10::ScalarType dtype, c10::Device device) {
  slots_.push_back({key, std::move(shape), dtype, [slot](at::Tensor t) { *slot = std::move(t); }, device});
}

void WeightBinder::expect_with(const std::string& key, std::vector<int64_t> shape, std::function<void(at::Tensor)> post,
                               c10::ScalarType dtype_override) {
  slots_.push_back({key, std::move(shape), dtype_override, std::move(post)});
}

void WeightBinder::check() const {
  if (ckpt_ == nullptr) throw Error("weight binder: check() needs a checkpoint");
  const Checkpoint& ckpt = *ckpt_;
  std::vector<std::string> problems;
  for (const auto& s : slots_) {
    if (!ckpt.has(s.key)) {
      problems.push_back("missing tensor '" + s.key + "' (expected shape " + shape_str(s.shape) + ")");
      continue;
    }
    const TensorInfo& t = ckpt.at(s.key);
    if (t.shape != s.shape)
      problems.push_back("tensor '" + s.key + "' has wrong shape in " + t.file->path() + ": got " + t.shape_str() +
                         ", expected " + shape_str(s.shape));
    if (!numeric(t.dtype))
      problems.push_back("tensor '" + s.key + "' has non-numeric dtype " + dtype_name(t.dtype));
    else if (!floating(t.dtype) && at::isFloatingType(s.dtype))
      problems.push_back("tensor '" + s.key + "' has integer dtype " + dtype_name(t.dtype) +
                         " where a floating-point weight is expected");
    else if (floating(t.dtype) && !at::isFloatingType(s.dtype))
      problems.push_back("tensor '" + s.key + "' has floating-point dtype " + dtype_name(t.dtype) + " where " +
                         c10::toString(s.dtype) + " values are expected");
  }
  if (!problems.empty()) {
    std::string msg = "checkpoint '" + ckpt.path() + "' does not match the model (" + std::to_string(problems.size()) +
                      " problem" + (problems.size() > 1 ? "s" : "") + "):";
    const size_t shown = std::min<size_t>(problems.size(), 20);
    for (size_t i = 0; i < shown; ++i) msg += "\n  - " + problems[i];
    if (shown < problems.size()) msg += "\n  ... and " + std::to_string(problems.size() - shown) + " more";
    throw Error(msg);
  }
}

BindStats WeightBinder::bind(const std::string& unexpected_prefix) {
  if (ckpt_ == nullptr) throw Error("weight binder: bind() needs a checkpoint");
  const Checkpoint& ckpt = *ckpt_;
  auto t0 = std::chrono::steady_clock::now();
  check();
  std::set<std::string> declared;
  for (const auto& s : slots_) declared.insert(s.key);
  BindStats stats;
  std::vector<std::string> non_finite;
  const std::shared_ptr<HostStaging> staging = make_host_staging(device_);
  for (const auto& s : slots_) {
    const TensorInfo& t = ckpt.at(s.key);
    const c10::Device target = s.device.value_or(device_);
    at::Tensor loaded = load_tensor(t, s.dtype, target, target == device_ ? staging.get() : nullptr);
    if (check_finite_ && at::isFloatingType(loaded.scalar_type())) {
      // A finite sum proves every value finite (one reduction, no temporary); only a
      // non-finite sum (a bad value, or an overflowing sum) pays for the exact count.
      const bool maybe_bad = !std::isfinite(loaded.sum().item<double>());
      const int64_t bad = maybe_bad ? loaded.numel() - at::isfinite(loaded).sum().item<int64_t>() : 0;
      if (bad > 0)
        non_finite.push_back("tensor '" + s.key + "' in " + t.file->path() + " has " + std::to_string(bad) +
                             " non-finite value" + (bad > 1 ? "s" : "") + " (NaN or Inf) after conversion to " +
                             c10::toString(loaded.scalar_type()));
    }
    stats.tensors++;
    stats.bytes_read += t.nbytes;
    stats.bytes_loaded += static_cast<size_t>(loaded.numel()) * loaded.element_size();
    s.store(std::move(loaded));
  }
  if (!non_finite.empty()) {
    std::string msg = "checkpoint '" + ckpt.path() + "' has non-finite weights (" + std::to_string(non_finite.size()) +
                      " tensor" + (non_finite.size() > 1 ? "s" : "") + "):";
    const size_t shown = std::min<size_t>(non_finite.size(), 20);
    for (size_t i = 0; i < shown; ++i) msg += "\n  - " + non_finite[i];
    if (shown < non_finite.size()) msg += "\n  ... and " + std::to_string(non_finite.size() - shown) + " more";
    throw Error(msg);
  }
  for (const auto& [key, t] : ckpt.tensors())
    if (key.rfind(unexpected_prefix, 0) == 0 && !declared.count(key)) stats.unexpected.push_back(key);
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

}  // namespace heartmula::io
