// Capture-once, replay-many execution of the frame loop's per-frame work on devices that
// support graphs (CUDA graphs; XPU graphs in LibTorch 2.11+). The frame stepper hands in its
// fixed-shape step as a callable and a key (the attention-length bucket); the first call for
// a key runs it eagerly (warm-up: kernels load, handles are created), the second captures it
// once and replays it, and later calls replay. Everything the step reads or writes must live
// in persistent device tensors; the random generator is registered with each graph so
// that every replay draws fresh numbers, exactly as eager runs of the same step would.
#pragma once

#include <ATen/core/Generator.h>
#include <c10/core/Device.h>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace heartmula::codec {
class SolverGraphs;
}

namespace heartmula::runtime {

class StepGraphs {
 public:
  virtual ~StepGraphs() = default;
  // Runs `body` for `key`: eagerly the first time, then from its captured graph.
  virtual void run(int64_t key, const std::function<void()>& body) = 0;
  // Captures `body` for a new key without running it (a warm-up that must not cost device
  // time); nothing for a key already captured, or where the runner cannot capture first.
  virtual void capture(int64_t /*key*/, const std::function<void()>& /*body*/) {}
  virtual size_t graphs() const = 0;  // how many are captured
};

struct StepGraphOptions {
  // True: a key's first run is eager, its second captures. False: capture at first sight (the
  // caller has run the same kernels eagerly before, e.g. the codec's first window).
  bool eager_first = true;
  // True: a capture holds capture_lock() and captures in global mode (no other thread may call
  // a non-capturable API meanwhile). False: the caller already holds capture_lock() (the codec
  // worker), and the capture is thread-local, so that the frame loop's thread goes on beside it.
  bool exclusive = true;
  const char* what = "frame-step";  // named in HEARTMULA_GRAPH_STATS lines
};

// A graph runner for `device`, or nullptr when this build has no graph support for it
// (CPU, or a LibTorch without the backend) or HEARTMULA_NO_GRAPHS is set. `gens` are the
// sampler's generators (one per song); each is registered with every graph.
std::unique_ptr<StepGraphs> make_step_graphs(c10::Device device, const std::vector<at::Generator>& gens,
                                             const StepGraphOptions& options = {});
bool graphs_supported(c10::Device device);

// Graphs for the codec's Euler solve on `device` (one per decoding thread: the codec worker, a
// tool): captured at first sight after the codec's first eager solve, thread-local capture (the
// codec worker holds capture_lock() around its device work). CUDA only; nullptr elsewhere, where
// make_step_graphs gives none, or with HEARTMULA_NO_CODEC_GRAPHS=1.
std::shared_ptr<codec::SolverGraphs> make_codec_graphs(c10::Device device);

namespace detail {
std::unique_ptr<StepGraphs> make_cuda_step_graphs(c10::Device device, const std::vector<at::Generator>& gens,
                                                  const StepGraphOptions& options);
std::unique_ptr<StepGraphs> make_xpu_step_graphs(c10::Device device, const std::vector<at::Generator>& gens,
                                                 const StepGraphOptions& options);
}  // namespace detail

}  // namespace heartmula::runtime
