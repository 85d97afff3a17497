#include "runtime/step_graphs.h"

#include <cstdlib>

namespace heartmula::runtime {

namespace detail {
#ifndef HEARTMULA_WITH_CUDA
std::unique_ptr<StepGraphs> make_cuda_step_graphs(c10::Device, const std::vector<at::Generator>&) { return nullptr; }
#endif
#ifndef HEARTMULA_WITH_XPU_GRAPHS
std::unique_ptr<StepGraphs> make_xpu_step_graphs(c10::Device, const std::vector<at::Generator>&) { return nullptr; }
#endif
}  // namespace detail

bool graphs_supported(c10::Device device) {
  if (std::getenv("HEARTMULA_NO_GRAPHS") != nullptr) return false;
#ifdef HEARTMULA_WITH_CUDA
  if (device.is_cuda()) return true;
#endif
#ifdef HEARTMULA_WITH_XPU_GRAPHS
  if (device.type() == c10::kXPU) return true;
#endif
  return false;
}

std::unique_ptr<StepGraphs> make_step_graphs(c10::Device device, const std::vector<at::Generator>& gens) {
  if (!graphs_supported(device)) return nullptr;
  if (device.is_cuda()) return detail::make_cuda_step_graphs(device, gens);
  if (device.type() == c10::kXPU) return detail::make_xpu_step_graphs(device, gens);
  return nullptr;
}

}  // namespace heartmula::runtime
