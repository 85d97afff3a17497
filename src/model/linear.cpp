#include "model/linear.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>

#include "heartmula/error.h"
#include "io/kernel_paths.h"
#include "io/weight_binder.h"
#include "model/config.h"
#include "model/fused_ops.h"

namespace heartmula::model {

std::string LmPrecision::name() const {
  if (weights == WeightQuant::Int8) return "int8";
  switch (compute) {
    case c10::ScalarType::Float:
      return "fp32";
    case c10::ScalarType::BFloat16:
      return "bf16";
    case c10::ScalarType::Half:
      return "fp16";
    default:
      return c10::toString(compute);
  }
}

unsigned parse_int8_fusions(const std::string& v) {
  if (v.empty()) return kInt8FusionDefault;
  if (v == "0") return 0;
  if (v == "1") return kInt8FuseNorm | kInt8FuseGlu;
  unsigned mask = 0;
  size_t start = 0;
  while (start <= v.size()) {
    const size_t end = std::min(v.find(',', start), v.size());
    const std::string name = v.substr(start, end - start);
    if (name == "norm")
      mask |= kInt8FuseNorm;
    else if (name == "glu")
      mask |= kInt8FuseGlu;
    else
      throw UsageError("HEARTMULA_INT8_FUSION='" + v + "': unknown fusion '" + name +
                       "' (a comma list of norm and glu; 1 for all, 0 for none)");
    start = end + 1;
  }
  return mask;
}

LmPrecision parse_lm_precision(const std::string& name) {
  if (name == "fp32" || name == "float32" || name == "float") return {at::kFloat, WeightQuant::None};
  if (name == "bf16" || name == "bfloat16") return {at::kBFloat16, WeightQuant::None};
  if (name == "fp16" || name == "float16" || name == "half") return {at::kHalf, WeightQuant::None};
  if (name == "int8") return {at::kBFloat16, WeightQuant::Int8};
  throw UsageError("unknown LM precision '" + name + "' (use fp32, bf16, fp16 or int8)");
}

Linear Linear::select(int64_t i) const {
  Linear out;
  out.weight = weight.select(0, i);
  if (scale.defined()) out.scale = scale.select(0, i);
  return out;
}

at::Tensor Linear::dense(c10::ScalarType dtype) const {
  if (!quantized()) return weight.to(dtype);
  return weight.to(at::kFloat).mul(scale.unsqueeze(-1)).to(dtype);
}

size_t Linear::bytes() const {
  size_t n = static_cast<size_t>(weight.numel()) * weight.element_size();
  if (scale.defined()) n += static_cast<size_t>(scale.numel()) * scale.element_size();
  return n;
}

at::Tensor Linear::operator()(const at::Tensor& x) const {
  if (!quantized()) return at::linear(x, weight);
  at::Tensor out;
  if (io::record_path(io::KernelPath::kInt8Linear, fused_int8_linear(x, weight, scale, out))) return out;
  // Dequantize + matmul: q is exact in any float dtype; float32 accumulation, the row scale,
  // then one rounding to x's dtype (what the kernel computes, up to the summation order).
  if (x.is_cpu()) return at::linear(x.to(at::kFloat), weight.to(at::kFloat)).mul(scale).to(x.scalar_type());
  return at::linear(x, weight.to(x.scalar_type())).to(at::kFloat).mul(scale).to(x.scalar_type());
}

Linear quantize_int8(const at::Tensor& w) {
  if (!at::isFloatingType(w.scalar_type()) || w.dim() < 2)
    throw Error("quantize_int8: expected a float tensor of at least 2 dimensions, got " +
                std::string(c10::toString(w.scalar_type())) + " of " + std::to_string(w.dim()));
  at::Tensor wf = w.to(at::kFloat);
  Linear out;
  // The scales are divided on the CPU: CUDA turns a division by a scalar into a multiplication
  // by its reciprocal, which rounds differently (and the bytes must not depend on the device).
  const at::Tensor amax = std::get<0>(wf.abs().max(-1)).to(at::kCPU);      // exact on any device
  at::Tensor scale = amax.div(at::full_like(amax, 127.0)).to(w.device());  // [..., N]
  at::Tensor divisor = at::where(scale.eq(0), at::ones_like(scale), scale).unsqueeze(-1);
  out.weight = wf.div(divisor).round().clamp(-127, 127).to(at::kChar).contiguous();
  out.scale = scale.contiguous();
  return out;
}

bool is_linear_weight_key(const std::string& key) {
  auto ends_with = [&key](const char* suffix) {
    const std::string s(suffix);
    return key.size() >= s.size() && key.compare(key.size() - s.size(), s.size(), s) == 0;
  };
  if (key == "projection.weight" || key == "codebook0_head.weight" || key == "audio_head") return true;
  if (key.rfind("backbone.layers.", 0) != 0 && key.rfind("decoder.layers.", 0) != 0) return false;
  return ends_with(".attn.q_proj.weight") || ends_with(".attn.k_proj.weight") || ends_with(".attn.v_proj.weight") ||
         ends_with(".attn.output_proj.weight") || ends_with(".mlp.w1.weight") || ends_with(".mlp.w2.weight") ||
         ends_with(".mlp.w3.weight");
}

void declare_linear(io::WeightBinder& binder, const std::vector<std::pair<std::string, int64_t>>& pieces, int64_t cols,
                    int64_t total_rows, Linear* slot, const LinearLoad& how) {
  int64_t sum = 0;
  for (const auto& p : pieces) sum += p.second;
  const bool int8 = how.precision.weights == WeightQuant::Int8;
  const c10::ScalarType value_dtype = int8 ? at::kChar : how.precision.compute;
  const c10::Device device = how.device;
  // The slot's tensors, allocated when the first piece arrives (after the binder's checks).
  auto rows_of = [slot, total_rows, cols, sum, int8, value_dtype, device](int64_t offset, int64_t rows) {
    if (!slot->weight.defined()) {
      auto opts = at::TensorOptions().dtype(value_dtype).device(device);
      slot->weight = sum == total_rows ? at::empty({total_rows, cols}, opts) : at::zeros({total_rows, cols}, opts);
      if (int8) slot->scale = at::zeros({total_rows}, opts.dtype(at::kFloat));
    }
    return std::make_pair(slot->weight.narrow(0, offset, rows),
                          int8 ? slot->scale.narrow(0, offset, rows) : at::Tensor());
  };
  int64_t offset = 0;
  for (const auto& [key, rows] : pieces) {
    if (pieces.size() == 1 && rows == total_rows && !int8) {  // no copy
      binder.expect_with(
          key, {rows, cols}, [slot](at::Tensor t) { slot->weight = std::move(t); }, value_dtype);
    } else if (!int8) {
      binder.expect_with(
          key, {rows, cols}, [rows_of, offset, rows = rows](at::Tensor t) { rows_of(offset, rows).first.copy_(t); },
          value_dtype);
    } else if (!how.stored_int8) {
      binder.expect_with(
          key, {rows, cols},
          [rows_of, offset, rows = rows](at::Tensor t) {
            const Linear q = quantize_int8(t);
            auto [w, s] = rows_of(offset, rows);
            w.copy_(q.weight);
            s.copy_(q.scale);
          },
          at::kFloat);
    } else {
      binder.expect_with(
          key, {rows, cols}, [rows_of, offset, rows = rows](at::Tensor t) { rows_of(offset, rows).first.copy_(t); },
          at::kChar);
      binder.expect_with(
          key + QuantScheme::kScaleSuffix, {rows},
          [rows_of, offset, rows = rows](at::Tensor t) { rows_of(offset, rows).second.copy_(t); }, at::kFloat);
    }
    offset += rows;
  }
}

void declare_linear(io::WeightBinder& binder, const std::string& key, int64_t rows, int64_t cols, Linear* slot,
                    const LinearLoad& how) {
  declare_linear(binder, {{key, rows}}, cols, rows, slot, how);
}

}  // namespace heartmula::model
