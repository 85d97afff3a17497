// CUDA backend of the device interface. Compiled only when LibTorch has CUDA.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <dlfcn.h>

#include <memory>
#include <mutex>

#include "runtime/device.h"

namespace heartmula::runtime::detail {

namespace {
// make_async_flags() on CUDA: a pinned host buffer filled by a non-blocking copy queued on the
// current stream, and an event recorded after it; wait() waits for that event only.
class CudaFlags final : public AsyncFlags {
 public:
  CudaFlags(int index, int64_t n)
      : index_(static_cast<c10::DeviceIndex>(index)),
        host_(at::empty({n}, at::TensorOptions().dtype(at::kByte).pinned_memory(true))) {}
  void record(const at::Tensor& device_flags) override {
    host_.copy_(device_flags, /*non_blocking=*/true);
    event_.record(c10::cuda::getCurrentCUDAStream(index_));
  }
  const uint8_t* wait() override {
    event_.synchronize();
    return host_.data_ptr<uint8_t>();
  }

 private:
  c10::DeviceIndex index_;
  at::Tensor host_;  // [n] uint8, pinned
  at::cuda::CUDAEvent event_;
};

// use_side_stream() on CUDA: the pool stream becomes current and starts after the work queued so
// far on the previous current stream; when the guard goes, the previous stream waits for the
// work queued on the side stream. Both joins are events on the device: the host never waits.
class JoinedStreamGuard {
 public:
  explicit JoinedStreamGuard(c10::cuda::CUDAStream side)
      : prev_(c10::cuda::getCurrentCUDAStream(side.device_index())), guard_(side) {
    at::cuda::CUDAEvent joined;
    joined.record(prev_);
    joined.block(side);
  }
  ~JoinedStreamGuard() {
    try {
      at::cuda::CUDAEvent done;
      done.record(guard_.current_stream());
      done.block(prev_);
    } catch (...) {  // a failing device: whoever used it reports the error
    }
  }
  JoinedStreamGuard(const JoinedStreamGuard&) = delete;
  JoinedStreamGuard& operator=(const JoinedStreamGuard&) = delete;

 private:
  c10::cuda::CUDAStream prev_;
  c10::cuda::CUDAStreamGuard guard_;
};

// LibTorch's caching allocator answers its statistics calls only once CUDA has been initialised
// in the process ("Invalid device argument 0: did you call init?" otherwise, e.g. a benchmark
// that resets the peak before its first tensor): one small allocation does that.
void ensure_allocator(int index) {
  static std::once_flag once;
  std::call_once(once, [index] {
    (void)at::empty({1}, at::TensorOptions().device(c10::kCUDA, static_cast<c10::DeviceIndex>(index)));
  });
}

struct CudaBackend final : Backend {
  c10::DeviceType type() const override { return c10::kCUDA; }
  bool available() const override { return c10::cuda::device_count() > 0; }
  int count() const override { return c10::cuda::device_count(); }
  DeviceInfo info(int index) const override {
    const cudaDeviceProp* p = at::cuda::getDeviceProperties(index);
    DeviceInfo i;
    i.device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
    i.name = p->name;
    i.total_memory = p->totalGlobalMem;
    i.bf16_supported = p->major >= 8;
    return i;
  }
  void synchronize(int index) const override {
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(index));
    c10::cuda::device_synchronize();
  }
  void reset_peak(int index) const override {
    ensure_allocator(index);
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(index));
  }
  uint64_t peak_bytes(int index) const override {
    ensure_allocator(index);
    auto s = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
    return static_cast<uint64_t>(s.reserved_bytes[0].peak);
  }
  uint64_t current_bytes(int index) const override {
    ensure_allocator(index);
    auto s = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
    return static_cast<uint64_t>(s.reserved_bytes[0].current);
  }
  void release_cache(int) const override { c10::cuda::CUDACachingAllocator::emptyCache(); }
  MemoryInfo memory(int index) const override {
    MemoryInfo m;
    m.reserved = current_bytes(index);
    m.peak_reserved = peak_bytes(index);
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(index));
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) == cudaSuccess) {
      m.free = free;
      m.total = total;
    } else {
      (void)cudaGetLastError();  // clear the failed query's error for later CUDA calls
    }
    return m;
  }
  std::shared_ptr<void> side_stream(int index, bool high_priority) const override {
    const auto dev = static_cast<c10::DeviceIndex>(index);
    // High priority for the codec worker: its windows (streaming, songs saved as they end) must
    // not wait behind the LM's back-to-back graph replays (docs/performance.md, "Streaming").
    return std::make_shared<JoinedStreamGuard>(c10::cuda::getStreamFromPool(high_priority, dev));
  }
  std::shared_ptr<void> blas_sm_limit(int index, int free_sms) const override {
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(index));
    const int total = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
    if (free_sms < 0) free_sms = (total * 3 + 5) / 10;  // 30 %: 40 of the H100's 132
    if (free_sms <= 0 || free_sms >= total) return nullptr;
    // Looked up in the cuBLAS that LibTorch loaded (the project does not link cuBLAS itself).
    using GetFn = cublasStatus_t (*)(cublasHandle_t, int*);
    using SetFn = cublasStatus_t (*)(cublasHandle_t, int);
    static const auto get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "cublasGetSmCountTarget"));
    static const auto set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "cublasSetSmCountTarget"));
    if (!get || !set) return nullptr;
    cublasHandle_t h = at::cuda::getCurrentCUDABlasHandle();  // this thread's
    int was = 0;
    if (get(h, &was) != CUBLAS_STATUS_SUCCESS || set(h, total - free_sms) != CUBLAS_STATUS_SUCCESS) return nullptr;
    return std::shared_ptr<void>(nullptr, [h, was](void*) { (void)set(h, was); });
  }
  std::unique_ptr<AsyncFlags> async_flags(int index, int64_t n) const override {
    return std::make_unique<CudaFlags>(index, n);
  }
};
}  // namespace

const Backend* cuda_backend() {
  static CudaBackend b;
  return &b;
}

}  // namespace heartmula::runtime::detail
