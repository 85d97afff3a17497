#include "io/torch_tensors.h"

#include <ATen/ATen.h>
#include <algorithm>
#include <cstring>

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

at::Tensor load_tensor(const TensorInfo& t, c10::ScalarType dtype, c10::Device device) {
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
