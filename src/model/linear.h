// The language model's linear layers: a weight in the compute dtype, or 8-bit (int8 values with
// one float32 scale per output row, symmetric, round to nearest even: w ≈ q · scale[row]), and the
// one place that decides how each is multiplied (docs/quantization.md).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace heartmula::io {
class WeightBinder;
}

namespace heartmula::model {

enum class WeightQuant { None, Int8 };

// What --mula-dtype names: the compute dtype (activations, KV cache, embeddings, norms and dense
// weights) and how the linear layers' weights are stored.
struct LmPrecision {
  c10::ScalarType compute = c10::ScalarType::Float;
  WeightQuant weights = WeightQuant::None;

  std::string name() const;  // "fp32", "bf16", "fp16", "int8"
  bool operator==(const LmPrecision& o) const { return compute == o.compute && weights == o.weights; }
};

// "fp32"/"float32", "bf16"/"bfloat16", "fp16"/"float16", "int8" (int8 weights, bf16 compute).
// UsageError naming the value otherwise.
LmPrecision parse_lm_precision(const std::string& name);

struct Linear {
  at::Tensor weight;  // [..., N, K]: compute dtype, or int8 when `scale` is defined
  at::Tensor scale;   // [..., N] float32 (int8 weights only)

  bool quantized() const { return scale.defined(); }
  // Index the leading dimension of a stacked weight ([H, N, K] -> [N, K]).
  Linear select(int64_t i) const;
  // x [..., K] -> [..., N] in x's dtype. Int8: the CUDA skinny kernel for up to 32 rows, else
  // dequantize + matmul with float32 accumulation and one rounding.
  at::Tensor operator()(const at::Tensor& x) const;
  // The weight as dense values of `dtype` (q · scale, computed in float32).
  at::Tensor dense(c10::ScalarType dtype) const;
  // Bytes a pass over the weight reads (values + scales).
  size_t bytes() const;
};

// Symmetric per-row int8 of a float tensor w [..., N, K]: scale = max|w[row]| / 127 (0 for an
// all-zero row), q = round_half_even(w / scale) in [-127, 127], computed in float32. The same
// bytes on every device and thread count (each value is one correctly rounded division).
Linear quantize_int8(const at::Tensor& w);

// Whether a HeartMuLa checkpoint key is a linear layer's weight (the tensors int8 quantizes:
// attention and MLP projections of both stacks, projection, codebook0_head, audio_head).
bool is_linear_weight_key(const std::string& key);

// How a model's linear weights come out of a checkpoint.
struct LinearLoad {
  LmPrecision precision;
  bool stored_int8 = false;  // the checkpoint holds int8 values + "<key>_scale" (heartmula-quantize)
  c10::Device device = c10::Device(c10::DeviceType::CPU);
};

// Declares the checkpoint weights `pieces` (key, rows), each [rows, cols], stacked along the rows
// into *slot of `total_rows` rows (>= their sum; the rows past it stay zero, e.g. a head padded to
// a multiple of 64). Dense: converted to the compute dtype. Int8 from a float checkpoint: each
// piece quantized as it arrives (quantize_int8). Int8 checkpoint: values and "<key>_scale" copied.
void declare_linear(io::WeightBinder& binder, const std::vector<std::pair<std::string, int64_t>>& pieces, int64_t cols,
                    int64_t total_rows, Linear* slot, const LinearLoad& how);
// One weight [rows, cols] under `key`.
void declare_linear(io::WeightBinder& binder, const std::string& key, int64_t rows, int64_t cols, Linear* slot,
                    const LinearLoad& how);

}  // namespace heartmula::model
