// Residual-VQ lookup (vector-quantize-pytorch ResidualVQ.get_output_from_indices) as used by
// HeartCodec: out = project_out(sum_q layers[q]._codebook.embed[0][codes[q]]).
#pragma once

#include <ATen/core/Tensor.h>
#include <string>
#include <vector>

#include "codec/layers.h"

namespace heartmula::io {
class WeightBinder;
}

namespace heartmula::codec {

// Throws Error naming the first code outside [0, codebook_size) by value, codebook (row) and
// frame (column). codes: integer [num_quantizers, T].
void check_codes(const at::Tensor& codes, int64_t codebook_size);

struct ResidualVQ {
  std::vector<at::Tensor> codebooks;  // layers.q._codebook.embed [1, codebook_size, codebook_dim]
  Linear project_out;                 // codebook_dim -> dim
  int64_t codebook_size = 0;

  // prefix: "flow_matching.vq_embed"
  void declare(io::WeightBinder& b, const std::string& prefix, int64_t num_quantizers, int64_t codebook_size,
               int64_t codebook_dim, int64_t dim);
  // codes int64 [num_quantizers, T] (checked) -> [1, T, dim] in the weights' dtype.
  at::Tensor lookup(const at::Tensor& codes) const;
  void list_weights(const std::string& prefix, NamedWeights& out) const;
};

}  // namespace heartmula::codec
