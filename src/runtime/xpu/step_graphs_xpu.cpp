// XPU graphs for the frame step (at::xpu::XPUGraph, LibTorch 2.11+). Compiled only when the
// LibTorch in use has XPU graphs (HEARTMULA_WITH_XPU_GRAPHS). Written against the 2.11 API;
// not run by this project (no Intel GPU available to it).
#include <ATen/xpu/XPUGraph.h>
#include <c10/core/StreamGuard.h>
#include <c10/xpu/XPUStream.h>

#include <cstdlib>
#include <map>

#include "runtime/step_graphs.h"

namespace heartmula::runtime::detail {

namespace {

class XpuStepGraphs final : public StepGraphs {
 public:
  XpuStepGraphs(c10::Device device, std::vector<at::Generator> gens, const StepGraphOptions& options)
      : device_(device), gens_(std::move(gens)), eager_first_(options.eager_first) {}

  void run(int64_t key, const std::function<void()>& body) override {
    auto it = graphs_.find(key);
    if (it != graphs_.end()) {
      it->second->replay();
      return;
    }
    if (eager_first_ && !warmed_.count(key)) {
      warmed_.insert({key, true});
      body();
      return;
    }
    auto graph = std::make_unique<at::xpu::XPUGraph>();
    for (const auto& g : gens_) graph->register_generator_state(g);
    c10::xpu::XPUStream side = c10::xpu::getStreamFromPool(false, device_.index());
    c10::xpu::getCurrentXPUStream(device_.index()).synchronize();
    {
      c10::StreamGuard guard(side);
      graph->capture_begin();
      body();
      graph->capture_end();
    }
    graph->replay();
    graphs_.emplace(key, std::move(graph));
  }

  size_t graphs() const override { return graphs_.size(); }

 private:
  c10::Device device_;
  std::vector<at::Generator> gens_;
  bool eager_first_ = true;
  std::map<int64_t, std::unique_ptr<at::xpu::XPUGraph>> graphs_;
  std::map<int64_t, bool> warmed_;
};

}  // namespace

std::unique_ptr<StepGraphs> make_xpu_step_graphs(c10::Device device, const std::vector<at::Generator>& gens,
                                                 const StepGraphOptions& options) {
  return std::make_unique<XpuStepGraphs>(device, gens, options);
}

}  // namespace heartmula::runtime::detail
