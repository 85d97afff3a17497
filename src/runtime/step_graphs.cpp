#include "runtime/step_graphs.h"

#include <cstdlib>

#include "codec/flow_matching.h"
#include "io/switches.h"

namespace heartmula::runtime {

namespace detail {
#ifndef HEARTMULA_WITH_CUDA
std::unique_ptr<StepGraphs> make_cuda_step_graphs(c10::Device, const std::vector<at::Generator>&,
                                                  const StepGraphOptions&) {
  return nullptr;
}
#endif
#ifndef HEARTMULA_WITH_XPU_GRAPHS
std::unique_ptr<StepGraphs> make_xpu_step_graphs(c10::Device, const std::vector<at::Generator>&,
                                                 const StepGraphOptions&) {
  return nullptr;
}
#endif
}  // namespace detail

bool graphs_supported(c10::Device device) {
  if (io::switch_on(io::Switch::kNoGraphs)) return false;
#ifdef HEARTMULA_WITH_CUDA
  if (device.is_cuda()) return true;
#endif
#ifdef HEARTMULA_WITH_XPU_GRAPHS
  if (device.type() == c10::kXPU) return true;
#endif
  return false;
}

std::unique_ptr<StepGraphs> make_step_graphs(c10::Device device, const std::vector<at::Generator>& gens,
                                             const StepGraphOptions& options) {
  if (!graphs_supported(device)) return nullptr;
  if (device.is_cuda()) return detail::make_cuda_step_graphs(device, gens, options);
  if (device.type() == c10::kXPU) return detail::make_xpu_step_graphs(device, gens, options);
  return nullptr;
}

std::shared_ptr<codec::SolverGraphs> make_codec_graphs(c10::Device device) {
  // CUDA only: the capture beside the frame loop relies on CUDA's thread-local capture mode;
  // XPU graphs of the codec have not been run anywhere yet.
  if (!device.is_cuda() || io::switch_on(io::Switch::kNoCodecGraphs)) return nullptr;
  StepGraphOptions o;
  o.eager_first = false;
  o.exclusive = false;
  o.what = "codec Euler-solve";
  std::shared_ptr<StepGraphs> g = make_step_graphs(device, {}, o);
  if (!g) return nullptr;
  return std::make_shared<codec::SolverGraphs>([g](int64_t key, const std::function<void()>& body, bool replay) {
    if (replay)
      g->run(key, body);
    else
      g->capture(key, body);
  });
}

}  // namespace heartmula::runtime
