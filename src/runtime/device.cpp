#include "runtime/device.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <sys/resource.h>
#include <torch/version.h>

#include "heartmula/error.h"
#include "io/switches.h"

namespace heartmula::runtime {

namespace detail {

const Backend* backend_for(c10::DeviceType t) {
  if (t == c10::kCUDA) return cuda_backend();
  if (t == c10::kXPU) return xpu_backend();
  return nullptr;
}

}  // namespace detail

namespace {

using detail::backend_for;

uint64_t rss_bytes(bool peak) {
  if (peak) {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
  }
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * 4096;
}

std::string lowercase(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

UsageError device_usage_error(const std::string& flag, const std::string& value, const std::string& why) {
  return UsageError(
      flag + " " + value + ": " + why +
      " (use auto, cpu, cuda[:N] or xpu[:N]; --device also takes a list: cpu,cpu, cuda:0,cuda:1, cuda:all)");
}

DeviceEntry parse_device_entry(const std::string& entry) {
  const std::string spec = lowercase(entry);
  DeviceEntry out;
  auto bad = [&](const std::string& why) {
    out.error = why;
    return out;
  };
  if (spec.empty()) return bad("an empty device");
  if (spec == "auto") {
    for (auto t : {c10::kCUDA, c10::kXPU}) {
      const auto* b = backend_for(t);
      if (b && b->available() && b->count() > 0) return {{c10::Device(t, 0)}, ""};
    }
    return {{c10::Device(c10::kCPU)}, ""};
  }
  if (spec == "cpu") return {{c10::Device(c10::kCPU)}, ""};
  std::string kind = spec, index;
  auto colon = spec.find(':');
  if (colon != std::string::npos) {
    kind = spec.substr(0, colon);
    index = spec.substr(colon + 1);
  }
  if (kind != "cuda" && kind != "xpu") return bad("unknown device");
  const c10::DeviceType type = kind == "cuda" ? c10::kCUDA : c10::kXPU;
  const bool all = index == "all";
  int idx = 0;
  if (!index.empty() && !all) {
    if (index.size() > 3 || index.find_first_not_of("0123456789") != std::string::npos) return bad("bad device index");
    idx = std::stoi(index);
  }
  const auto* b = backend_for(type);
  if (b == nullptr) return bad("this build has no " + kind + " support (LibTorch " + TORCH_VERSION + ")");
  const int n = b->available() ? b->count() : 0;
  if (all && n == 0) return bad("no " + kind + " device here");
  if (!all && idx >= n) return bad("no such device here (" + std::to_string(n) + " " + kind + " device(s) found)");
  for (int i = all ? 0 : idx; i < (all ? n : idx + 1); ++i)
    out.devices.emplace_back(type, static_cast<c10::DeviceIndex>(i));
  return out;
}

c10::Device parse_device(const std::string& spec, const std::string& flag) {
  const DeviceEntry e = parse_device_entry(spec);
  if (!e.error.empty()) throw device_usage_error(flag, spec, e.error);
  if (lowercase(spec).find(":all") != std::string::npos)
    throw device_usage_error(flag, spec, "one device here, not a list");
  return e.devices.front();
}

std::vector<DeviceInfo> list_devices() {
  std::vector<DeviceInfo> out{device_info(c10::Device(c10::kCPU))};
  for (auto t : {c10::kCUDA, c10::kXPU}) {
    const auto* b = backend_for(t);
    if (!b || !b->available()) continue;
    for (int i = 0; i < b->count(); ++i) out.push_back(b->info(i));
  }
  return out;
}

DeviceInfo device_info(c10::Device device) {
  if (device.is_cpu()) {
    DeviceInfo i;
    i.name = "CPU (" + std::to_string(at::get_num_threads()) + " threads, " +
             (at::hasMKLDNN() ? "oneDNN" : "no oneDNN") + ")";
    return i;
  }
  const auto* b = backend_for(device.type());
  if (!b) throw Error("no backend for device " + device.str());
  return b->info(device.has_index() ? device.index() : 0);
}

std::string build_info() {
  std::string s = std::string("LibTorch ") + TORCH_VERSION + "; backends: cpu";
  if (detail::cuda_backend()) s += ", cuda";
  if (detail::xpu_backend()) s += ", xpu";
  s += std::string("; oneDNN ") + (at::hasMKLDNN() ? "yes" : "no");
  return s;
}

std::string check_bf16(c10::Device device) {
  try {
    at::Tensor a = at::ones({16, 16}, at::TensorOptions().dtype(at::kBFloat16).device(device));
    const float v = a.matmul(a).sum().to(at::kFloat).cpu().item<float>();
    return v == 4096.0f ? "yes" : "no (wrong result " + std::to_string(v) + ")";
  } catch (const std::exception& e) {
    std::string m = e.what();
    return "no (" + m.substr(0, m.find('\n')) + ")";
  }
}

c10::ScalarType default_lm_dtype(c10::Device device) { return device.is_cpu() ? c10::kFloat : c10::kBFloat16; }

#define HEARTMULA_DISPATCH(device, call, cpu_value)              \
  do {                                                           \
    if ((device).is_cpu()) return cpu_value;                     \
    const auto* b = backend_for((device).type());                \
    if (!b) return cpu_value;                                    \
    return b->call((device).has_index() ? (device).index() : 0); \
  } while (0)

void synchronize(c10::Device device) { HEARTMULA_DISPATCH(device, synchronize, void()); }
void reset_peak_memory(c10::Device device) { HEARTMULA_DISPATCH(device, reset_peak, void()); }
uint64_t peak_memory_bytes(c10::Device device) { HEARTMULA_DISPATCH(device, peak_bytes, rss_bytes(true)); }
uint64_t current_memory_bytes(c10::Device device) { HEARTMULA_DISPATCH(device, current_bytes, rss_bytes(false)); }
void release_cached_memory(c10::Device device) { HEARTMULA_DISPATCH(device, release_cache, void()); }

std::shared_ptr<void> use_side_stream(c10::Device device, bool high_priority) {
  if (device.is_cpu()) return nullptr;
  const auto* b = backend_for(device.type());
  return b ? b->side_stream(device.has_index() ? device.index() : 0, high_priority) : nullptr;
}

std::shared_ptr<void> leave_sms_free(c10::Device device, int free_sms) {
  if (device.is_cpu() || free_sms == 0) return nullptr;
  const auto* b = backend_for(device.type());
  return b ? b->blas_sm_limit(device.has_index() ? device.index() : 0, free_sms) : nullptr;
}

int codec_sm_free() {
  const std::optional<int64_t> n = io::switch_int(io::Switch::kCodecSmFree);
  return n ? static_cast<int>(std::clamp<int64_t>(*n, 0, 1 << 20)) : -1;
}

StreamPriority stream_priority() {
  const std::string s = io::switch_string(io::Switch::kStreamPriority);  // codec|lm|same, checked there
  if (s == "lm") return StreamPriority::lm;
  if (s == "same") return StreamPriority::same;
  return StreamPriority::codec;
}

#undef HEARTMULA_DISPATCH

namespace {
// The synchronous fallback (CPU, XPU): the copy is made at record().
class SyncFlags final : public AsyncFlags {
 public:
  void record(const at::Tensor& device_flags) override {
    host_ = device_flags.to(at::kCPU, at::kByte, /*non_blocking=*/false, /*copy=*/true).contiguous();
  }
  const uint8_t* wait() override { return host_.data_ptr<uint8_t>(); }

 private:
  at::Tensor host_;
};
}  // namespace

std::unique_ptr<AsyncFlags> make_async_flags(c10::Device device, int64_t n) {
  const auto* b = device.is_cpu() ? nullptr : backend_for(device.type());
  std::unique_ptr<AsyncFlags> f = b ? b->async_flags(device.has_index() ? device.index() : 0, n) : nullptr;
  if (!f) f = std::make_unique<SyncFlags>();
  return f;
}

std::mutex& capture_lock() {
  static std::mutex m;
  return m;
}

bool is_out_of_memory(const std::exception& e) {
  std::string m = e.what();
  return m.find("out of memory") != std::string::npos || m.find("OutOfMemory") != std::string::npos ||
         m.find("UR_RESULT_ERROR_OUT_OF_DEVICE_MEMORY") != std::string::npos;
}

}  // namespace heartmula::runtime
