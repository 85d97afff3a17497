#include "runtime/step_graphs.h"

namespace heartmula::runtime {

#ifndef HEARTMULA_WITH_CUDA
namespace detail {
std::unique_ptr<StepGraphs> make_cuda_step_graphs(c10::Device, const at::Generator&) { return nullptr; }
}  // namespace detail
#endif
#ifndef HEARTMULA_WITH_XPU_GRAPHS
namespace detail {
std::unique_ptr<StepGraphs> make_xpu_step_graphs(c10::Device, const at::Generator&) { return nullptr; }
}  // namespace detail
#endif

std::unique_ptr<StepGraphs> make_step_graphs(c10::Device device, const at::Generator& gen) {
  if (device.is_cuda()) return detail::make_cuda_step_graphs(device, gen);
  if (device.type() == c10::kXPU) return detail::make_xpu_step_graphs(device, gen);
  return nullptr;
}

}  // namespace heartmula::runtime
