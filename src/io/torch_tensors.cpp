#include "io/torch_tensors.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "heartmula/error.h"

namespace heartmula::io {

c10::ScalarType to_scalar_type(DType dt) {
  switch (dt) {
    case DType::F64:
      return at::kDouble;
    case DType::F32:
      return at::kFloat;
    case DType::F16:
      return at::kHalf;
    case DType::BF16:
      return at::kBFloat16;
    case DType::I64:
      return at::kLong;
    case DType::I32:
      return at::kInt;
    case DType::I16:
      return at::kShort;
    case DType::I8:
      return at::kChar;
    case DType::U8:
      return at::kByte;
    case DType::BOOL:
      return at::kBool;
  }
  throw Error("unknown dtype");
}

DType from_scalar_type(c10::ScalarType st) {
  switch (st) {
    case at::kDouble:
      return DType::F64;
    case at::kFloat:
      return DType::F32;
    case at::kHalf:
      return DType::F16;
    case at::kBFloat16:
      return DType::BF16;
    case at::kLong:
      return DType::I64;
    case at::kInt:
      return DType::I32;
    case at::kShort:
      return DType::I16;
    case at::kChar:
      return DType::I8;
    case at::kByte:
      return DType::U8;
    case at::kBool:
      return DType::BOOL;
    default:
      throw Error(std::string("safetensors cannot store dtype ") + c10::toString(st));
  }
}

at::Tensor view_tensor(const TensorInfo& t) {
  auto options = at::TensorOptions().dtype(to_scalar_type(t.dtype)).device(at::kCPU);
  const size_t esize = dtype_size(t.dtype);
  if (t.nbytes == 0) return at::empty(t.shape, options);
  if (reinterpret_cast<uintptr_t>(t.data) % esize != 0) {
    at::Tensor out = at::empty(t.shape, options);
    std::memcpy(out.data_ptr(), t.data, t.nbytes);
    return out;
  }
  auto keep = t.file;  // the deleter holds the mapping
  return at::from_blob(
      const_cast<uint8_t*>(t.data), t.shape, [keep](void*) {}, options);
}

// Four pinned buffers of one piece each, used in turn; a buffer is refilled only once the copy
// that read it last has finished (an event per buffer, recorded on the current stream after the
// copy). The host fills piece i + 1 while the device copies piece i and converts it.
class HostStaging {
 public:
  HostStaging(c10::Device device, int64_t piece_bytes) : device_(device), piece_bytes_(piece_bytes) {}
  ~HostStaging() {
    for (auto& e : done_) try {
        wait(e.get());
      } catch (...) {  // a failing device: whoever used it reports the error
      }
  }
  HostStaging(const HostStaging&) = delete;
  HostStaging& operator=(const HostStaging&) = delete;

  int64_t piece_bytes() const { return piece_bytes_; }
  // The next buffer (a [piece_bytes] byte tensor, pinned), once its last copy is done.
  at::Tensor next(size_t* slot) {
    *slot = next_;
    next_ = (next_ + 1) % kBuffers;
    if (bufs_.size() < kBuffers) {
      bufs_.push_back(at::empty({piece_bytes_}, at::TensorOptions().dtype(at::kByte).pinned_memory(true)));
      done_.push_back(nullptr);
    } else {
      wait(done_[*slot].get());
    }
    return bufs_[*slot];
  }
  // After the copy out of buffer `slot` has been queued on the current stream.
  void queued(size_t slot) {
    if (!done_[slot]) done_[slot] = std::make_unique<c10::Event>(device_.type());
    c10::impl::VirtualGuardImpl impl(device_.type());
    done_[slot]->record(impl.getStream(device_));
  }

 private:
  // c10::Event has no synchronize() in LibTorch 1.13: its query, polled.
  static void wait(const c10::Event* e) {
    while (e != nullptr && !e->query()) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  static constexpr size_t kBuffers = 4;
  c10::Device device_;
  int64_t piece_bytes_;
  size_t next_ = 0;
  std::vector<at::Tensor> bufs_;
  std::vector<std::unique_ptr<c10::Event>> done_;
};

std::shared_ptr<HostStaging> make_host_staging(c10::Device device) {
  // Pinned memory through LibTorch: CUDA only (XPU: not tried). 64 MB pieces: the LM 2.55 s
  // against the direct copy's 2.96 s, the codec 1.21 s against 1.33 s; 16 MB pieces were slower
  // than both (H100, docs/performance.md "Loading").
  constexpr int64_t kPieceBytes = int64_t{64} << 20;
  if (!device.is_cuda()) return nullptr;
  return std::make_shared<HostStaging>(device, kPieceBytes);
}

namespace {
at::Tensor load_staged(const TensorInfo& t, c10::ScalarType dtype, c10::Device device, HostStaging& staging) {
  const c10::ScalarType stored = to_scalar_type(t.dtype);
  at::Tensor out = at::empty(t.shape, at::TensorOptions().dtype(dtype).device(device));
  at::Tensor flat = out.view({-1});
  const int64_t esize = static_cast<int64_t>(dtype_size(t.dtype));
  const int64_t per_piece = std::max<int64_t>(1, staging.piece_bytes() / esize), numel = out.numel();
  for (int64_t e0 = 0; e0 < numel; e0 += per_piece) {
    const int64_t n = std::min(per_piece, numel - e0), bytes = n * esize;
    size_t slot = 0;
    at::Tensor buf = staging.next(&slot);
    uint8_t* dst = buf.data_ptr<uint8_t>();
    const uint8_t* src = t.data + e0 * esize;
    // Several threads fault the mapping in at once (one thread copying page by page was the
    // limit of the direct path).
    at::parallel_for(0, bytes, int64_t{4} << 20,
                     [&](int64_t b, int64_t e) { std::memcpy(dst + b, src + b, static_cast<size_t>(e - b)); });
    const at::Tensor host = buf.narrow(0, 0, bytes).view(stored);
    if (stored == dtype) {
      flat.narrow(0, e0, n).copy_(host, /*non_blocking=*/true);
    } else {
      flat.narrow(0, e0, n).copy_(host.to(device, /*non_blocking=*/true));  // converted on the device
    }
    staging.queued(slot);
  }
  return out;
}
}  // namespace

at::Tensor load_tensor(const TensorInfo& t, c10::ScalarType dtype, c10::Device device, HostStaging* staging) {
  if (staging != nullptr && !device.is_cpu() && t.nbytes > 0) return load_staged(t, dtype, device, *staging);
  at::Tensor v = view_tensor(t);
  if (device.is_cpu()) return v.to(dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
  // Copy in the stored dtype, convert on the device (the device is faster at it). A tensor that
  // changes size on the way goes over in pieces of about 256 MB, so that the device never holds
  // the whole stored copy beside the converted one (the LM's text embeddings: 1.6 GB of fp32 for
  // 0.8 GB of bf16).
  constexpr int64_t kPieceBytes = int64_t{256} << 20;
  const int64_t bytes = static_cast<int64_t>(t.nbytes);
  if (v.scalar_type() == dtype || v.dim() == 0 || bytes <= kPieceBytes || v.size(0) < 2)
    return v.to(device, /*non_blocking=*/false, /*copy=*/true).to(dtype).contiguous();
  at::Tensor out = at::empty(v.sizes(), at::TensorOptions().dtype(dtype).device(device));
  const int64_t rows = v.size(0), step = std::max<int64_t>(1, rows * kPieceBytes / bytes);
  for (int64_t r = 0; r < rows; r += step) {
    const int64_t n = std::min(step, rows - r);
    out.narrow(0, r, n).copy_(v.narrow(0, r, n).to(device, /*non_blocking=*/false, /*copy=*/true));
  }
  return out;
}

void save_tensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                  const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter w;
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    w.add(name, from_scalar_type(c.scalar_type()), c.sizes().vec(), c.data_ptr(),
          static_cast<size_t>(c.numel()) * c.element_size());
  }
  for (const auto& [k, v] : metadata) w.set_metadata(k, v);
  w.write(path);
}

std::map<std::string, at::Tensor> load_all_tensors(const std::string& path) {
  SafetensorsFile f = SafetensorsFile::open(path);
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, t] : f.tensors()) out[name] = view_tensor(t).clone();
  return out;
}

}  // namespace heartmula::io
