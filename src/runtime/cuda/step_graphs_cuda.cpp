// CUDA graphs for the frame step. Compiled only when LibTorch has CUDA.
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>

#include "io/switches.h"
#include "runtime/device.h"
#include "runtime/step_graphs.h"

namespace heartmula::runtime::detail {

namespace {

class CudaStepGraphs final : public StepGraphs {
 public:
  CudaStepGraphs(c10::Device device, std::vector<at::Generator> gens, const StepGraphOptions& options)
      : device_(device), gens_(std::move(gens)), options_(options), stats_(io::switch_on(io::Switch::kGraphStats)) {}

  void run(int64_t key, const std::function<void()>& body) override {
    auto it = graphs_.find(key);
    if (it != graphs_.end()) {
      it->second->replay();
      return;
    }
    if (options_.eager_first && !warmed_.count(key)) {  // first time: eager (loads kernels, creates cuBLAS handles)
      warmed_.insert({key, true});
      body();
      return;
    }
    capture_new(key, body)->replay();  // capture records only: run this call's work now
  }

  void capture(int64_t key, const std::function<void()>& body) override {
    if (graphs_.count(key) || (options_.eager_first && !warmed_.count(key))) return;
    (void)capture_new(key, body);
  }

  size_t graphs() const override { return graphs_.size(); }

 private:
  // Captures `body` as the graph of `key` (not captured yet) and keeps it.
  at::cuda::CUDAGraph* capture_new(int64_t key, const std::function<void()>& body) {
    c10::cuda::CUDAGuard guard(device_);
    // Exclusive: no other thread (the codec worker) may touch the device while the graph is
    // captured. Else the caller holds the lock and other threads' calls do not disturb a
    // thread-local capture.
    std::unique_lock<std::mutex> exclusive(capture_lock(), std::defer_lock);
    if (options_.exclusive) exclusive.lock();
    // keep_graph: the captured graph stays inspectable (its node count, for profiling).
    auto graph = std::make_unique<at::cuda::CUDAGraph>(/*keep_graph=*/stats_);
    for (const auto& g : gens_) graph->register_generator_state(g);
    // Capture on a side stream (capturing the legacy default stream is not allowed).
    c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device_.index());
    c10::cuda::CUDAStream main = c10::cuda::getCurrentCUDAStream(device_.index());
    side.synchronize();
    main.synchronize();
    {
      c10::cuda::CUDAStreamGuard stream_guard(side);
      // All graphs share one memory pool: they never run concurrently.
      graph->capture_begin(pool_set_ ? pool_ : at::cuda::MempoolId_t{0, 0},
                           options_.exclusive ? cudaStreamCaptureModeGlobal : cudaStreamCaptureModeThreadLocal);
      body();
      graph->capture_end();
    }
    // capture_begin ran each registered generator's prologue on `side` before the capture
    // started: eager fills of its seed and philox offset (offset 0) into the tensors the graph
    // reads. The replays on `main` (replay() writes the real offset there first) must come after
    // those fills. Without this join nothing ordered them: with another worker's work on the
    // device (two workers on one GPU) a late prologue fill could overwrite the replay's offset,
    // and a song's noise for that frame came from its first frame's offset (issue #21: songs of
    // `--device cuda:0,cuda:0` differing from frame 12 or 23 on, in about 4 runs of 10).
    at::cuda::CUDAEvent prologue_done;
    prologue_done.record(side);
    prologue_done.block(main);
    if (!pool_set_) {
      pool_ = graph->pool();
      pool_set_ = true;
    }
    if (stats_) {
      size_t nodes = 0;
      cudaGraphGetNodes(graph->raw_cuda_graph(), nullptr, &nodes);
      std::fprintf(stderr, "heartmula: captured %s graph for key %lld: %zu nodes\n", options_.what,
                   static_cast<long long>(key), nodes);
    }
    return graphs_.emplace(key, std::move(graph)).first->second.get();
  }

  c10::Device device_;
  std::vector<at::Generator> gens_;
  StepGraphOptions options_;
  bool stats_ = false;  // HEARTMULA_GRAPH_STATS=1: report each graph's node count
  std::map<int64_t, std::unique_ptr<at::cuda::CUDAGraph>> graphs_;
  std::map<int64_t, bool> warmed_;
  at::cuda::MempoolId_t pool_{0, 0};
  bool pool_set_ = false;
};

}  // namespace

std::unique_ptr<StepGraphs> make_cuda_step_graphs(c10::Device device, const std::vector<at::Generator>& gens,
                                                  const StepGraphOptions& options) {
  return std::make_unique<CudaStepGraphs>(device, gens, options);
}

}  // namespace heartmula::runtime::detail
