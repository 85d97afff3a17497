// Intel XPU backend of the device interface. Compiled only when LibTorch has XPU
// (torch/xpu.h present). Not runnable on the project's machines: written against the 2.11 API.
#include <ATen/DeviceAccelerator.h>
#include <torch/xpu.h>

#include "runtime/device.h"

namespace heartmula::runtime::detail {

namespace {
struct XpuBackend final : Backend {
  c10::DeviceType type() const override { return c10::kXPU; }
  bool available() const override { return torch::xpu::is_available(); }
  int count() const override { return static_cast<int>(torch::xpu::device_count()); }
  DeviceInfo info(int index) const override {
    DeviceInfo i;
    i.device = c10::Device(c10::kXPU, static_cast<c10::DeviceIndex>(index));
    i.name = "Intel XPU " + std::to_string(index);
    i.bf16_supported = true;
    return i;
  }
  void synchronize(int index) const override { torch::xpu::synchronize(index); }
  void reset_peak(int index) const override { at::accelerator::resetPeakStats(static_cast<c10::DeviceIndex>(index)); }
  uint64_t peak_bytes(int index) const override {
    auto s = at::accelerator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
    return static_cast<uint64_t>(s.reserved_bytes[0].peak);
  }
  uint64_t current_bytes(int index) const override {
    auto s = at::accelerator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
    return static_cast<uint64_t>(s.reserved_bytes[0].current);
  }
  void release_cache(int) const override { at::accelerator::emptyCache(); }
};
}  // namespace

const Backend* xpu_backend() {
  static XpuBackend b;
  return &b;
}

}  // namespace heartmula::runtime::detail
