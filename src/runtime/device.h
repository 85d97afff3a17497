// One interface over the compute devices (CPU, CUDA, XPU). Everything device-specific lives
// behind it, in device_<backend>.cpp files compiled only when the LibTorch in use has that
// backend; the rest of the program never names a backend's API.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "heartmula/error.h"

namespace at {
class Tensor;
}

namespace heartmula::runtime {

struct DeviceInfo {
  c10::Device device{c10::kCPU};
  std::string name;           // "NVIDIA H100 80GB HBM3", "CPU (16 threads)"
  uint64_t total_memory = 0;  // bytes; 0 when unknown
  bool bf16_supported = true;
};

// The one parser of a device name. Parses "auto", "cpu", "cuda", "cuda:1", "xpu", "xpu:0".
// "auto" picks CUDA, then XPU, then CPU. Throws device_usage_error(flag, spec, ...) for anything
// else (a list or "TYPE:all" included: runtime/multi_device.h) or an absent device.
c10::Device parse_device(const std::string& spec, const std::string& flag = "--device");

// One entry of a --device value: the devices it names, or none and `error` saying why. An entry
// is one parse_device() value, or "cuda:all" / "xpu:all" (every device of that type here).
// parse_device and parse_device_list (runtime/multi_device.h) both read entries with it.
struct DeviceEntry {
  std::vector<c10::Device> devices;
  std::string error;  // empty: parsed
};
DeviceEntry parse_device_entry(const std::string& entry);

// The one form of a bad --device value, one device or a list: "<flag> <value>: <why> (<the forms
// --device takes>)", a UsageError.
UsageError device_usage_error(const std::string& flag, const std::string& value, const std::string& why);

// Every device this build and machine can use.
std::vector<DeviceInfo> list_devices();
DeviceInfo device_info(c10::Device device);
std::string build_info();  // LibTorch version and compiled backends

// The default compute dtype for the language model on this device (bf16 on GPUs).
c10::ScalarType default_lm_dtype(c10::Device device);

// Runs a small bf16 matrix product on `device`: "yes", or "no (<reason>)".
std::string check_bf16(c10::Device device);

void synchronize(c10::Device device);
void reset_peak_memory(c10::Device device);
uint64_t peak_memory_bytes(c10::Device device);  // device allocator's peak; CPU: peak RSS
uint64_t current_memory_bytes(c10::Device device);
void release_cached_memory(c10::Device device);  // hand cached blocks back to the driver

// Makes the calling thread queue its work for `device` on a stream of its own (CUDA: one from
// LibTorch's stream pool, which does not synchronise with the legacy default stream) until the
// returned guard is destroyed; a null guard where the device has no streams (CPU). The stream
// starts after the work queued so far on the previous current stream, and that stream waits for
// the side stream's work when the guard goes (device-side events; the host does not wait).
// Tensors made on the side stream must be freed before the guard goes. Used by the codec worker
// (high priority), which runs beside the frame loop. (The frame loop stays on the current
// stream: on a pool stream of its own it measured 5 % slower on the H100, 146.8 vs 155.1
// frames/s, and the codec worker did not need it.)
std::shared_ptr<void> use_side_stream(c10::Device device, bool high_priority = true);

// Which side runs on a high-priority stream while the codec's windows are decoded beside the
// frame loop (streaming, songs saved as they end): HEARTMULA_STREAM_PRIORITY=codec (the codec
// worker's stream), lm (the frame loop's: it goes on a high-priority stream of its own, the
// codec worker's is normal) or same (both normal). Read once.
enum class StreamPriority { codec, lm, same };
StreamPriority stream_priority();

// Makes the calling thread's BLAS GEMMs on `device` target all but `free_sms` multiprocessors
// (free_sms < 0: 30 % of them) until the returned guard goes (CUDA: cublasSetSmCountTarget on
// the thread's cuBLAS handle; GEMMs captured into graphs meanwhile keep it), so that another
// thread's kernels (the frame loop's) find SMs free beside them. Null guard where there is no
// such control, free_sms == 0 or free_sms >= the device's count.
std::shared_ptr<void> leave_sms_free(c10::Device device, int free_sms);
// The SMs the codec leaves free while it streams beside the frame loop: HEARTMULA_CODEC_SM_FREE
// (a count; 0: none), else -1 (30 %; docs/performance.md "Streaming").
int codec_sm_free();

// A few flags read by the host a little later than they are made, without stopping the
// device's queue: record() queues the copy of `device_flags` ([n] uint8 on the device,
// contiguous) into a host buffer; wait() blocks until that copy has landed and returns the n
// bytes (valid until the next record()). CUDA: a pinned buffer, a non-blocking copy and an
// event on the current stream. CPU, XPU: record() copies synchronously.
class AsyncFlags {
 public:
  virtual ~AsyncFlags() = default;
  virtual void record(const at::Tensor& device_flags) = 0;
  virtual const uint8_t* wait() = 0;
};
std::unique_ptr<AsyncFlags> make_async_flags(c10::Device device, int64_t n);

// Graph capture and device work of another thread must not overlap (a capture fails when
// another thread calls a non-capturable API, e.g. a synchronising copy, meanwhile). A capture
// holds this lock; a thread working beside the frame loop takes it around its device work.
std::mutex& capture_lock();

// True when `e` (a c10::Error message) says the device ran out of memory.
bool is_out_of_memory(const std::exception& e);

// A device's memory as the driver and this process's caching allocator see it (bytes; 0 where
// the backend cannot tell). CPU: total and available RAM (/proc/meminfo) and this process's RSS.
struct MemoryInfo {
  uint64_t total = 0, free = 0;              // the whole device (cudaMemGetInfo)
  uint64_t reserved = 0, peak_reserved = 0;  // held by this process's allocator, now and at its peak
};
MemoryInfo memory_info(c10::Device device);

// The figures an out-of-memory error is reported with (docs/troubleshooting.md).
struct OutOfMemoryFacts {
  std::string message;  // the error's text ("CUDA out of memory. Tried to allocate 2.00 GiB ...")
  std::string device;   // "cuda:0 (NVIDIA H100 80GB HBM3)"
  std::string phase;    // "language model", "codec", ...; empty when unknown
  MemoryInfo memory;
  std::vector<std::string> hints;  // options that would help, most effective first
};
// "what was being allocated" (the allocator's "Tried to allocate X" when the message has it),
// device total/free, this process's reserved and peak, the phase, then the hints, one per line.
std::string format_out_of_memory(const OutOfMemoryFacts& facts);
// The size in the allocator's "Tried to allocate 2.00 GiB" ("2.00 GiB"); empty when absent.
std::string requested_allocation(const std::string& message);
// format_out_of_memory() for each GPU this process has allocated on (or the first GPU), with
// `e`'s message, `phase` and `hints`; "" when the build has no GPU backend or none is present.
std::string out_of_memory_report(const std::exception& e, const std::string& phase,
                                 const std::vector<std::string>& hints);

namespace detail {
// Implemented by each backend file; the CPU one always exists.
struct Backend {
  virtual ~Backend() = default;
  virtual c10::DeviceType type() const = 0;
  virtual bool available() const = 0;
  virtual int count() const = 0;
  virtual DeviceInfo info(int index) const = 0;
  virtual void synchronize(int index) const = 0;
  virtual void reset_peak(int index) const = 0;
  virtual uint64_t peak_bytes(int index) const = 0;
  virtual uint64_t current_bytes(int index) const = 0;
  virtual void release_cache(int index) const = 0;
  // total/free from the driver where known; default: the allocator's figures only.
  virtual MemoryInfo memory(int index) const {
    MemoryInfo m;
    m.reserved = current_bytes(index);
    m.peak_reserved = peak_bytes(index);
    return m;
  }
  // See use_side_stream(); default: none.
  virtual std::shared_ptr<void> side_stream(int /*index*/, bool /*high_priority*/) const { return nullptr; }
  // See leave_sms_free(); default: none.
  virtual std::shared_ptr<void> blas_sm_limit(int /*index*/, int /*free_sms*/) const { return nullptr; }
  // See make_async_flags(); default: nullptr (the synchronous copy).
  virtual std::unique_ptr<AsyncFlags> async_flags(int /*index*/, int64_t /*n*/) const { return nullptr; }
};
const Backend* cuda_backend();  // nullptr when not compiled in
const Backend* xpu_backend();   // nullptr when not compiled in
// The backend for a GPU device type (cuda_backend() or xpu_backend()); nullptr for the CPU,
// other types, or a backend not compiled in.
const Backend* backend_for(c10::DeviceType t);
}  // namespace detail

}  // namespace heartmula::runtime
