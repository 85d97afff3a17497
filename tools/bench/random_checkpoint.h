// Writing a checkpoint of random values in the released layout: safetensors shards split by
// cumulative size plus model.safetensors.index.json, streamed tensor by tensor so that memory
// holds one tensor at a time (the largest: the LM's text embeddings, 1.6 GB in fp32).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "io/safetensors.h"
#include "io/weight_binder.h"

namespace heartmula::tools {

struct WrittenFile {
  std::string path;
  size_t bytes = 0;
  double seconds = 0.0;
};

// Which shard (0..shards-1) each tensor goes to: tensor i lands in the shard its first byte
// falls in when the cumulative size is cut into `shards` equal parts (declaration order kept).
std::vector<int> assign_shards(const std::vector<size_t>& tensor_bytes, int shards);

// The value rule of WeightBinder::bind_random: 1-D norm scales ("*.scale", "*norm.weight") are 1.
bool is_norm_scale(const io::WeightBinder::Declaration& d);

// Fills `out` (numel elements of `dtype`) with normal(0, stddev) drawn from generators seeded
// by (seed, key, chunk), in parallel over chunks: the same values for any thread count and
// shard layout.
void fill_random(void* out, int64_t numel, io::DType dtype, uint64_t seed, const std::string& key, double stddev);

// Writes `specs` into `dir` as model-0000i-of-0000n.safetensors (split by assign_shards; one
// shard: model.safetensors) + model.safetensors.index.json; fill(i, buffer, nbytes) produces
// specs[i]'s bytes, one tensor in memory at a time. Each file written atomically.
std::vector<WrittenFile> write_sharded_checkpoint(const std::string& dir, const std::vector<io::TensorSpec>& specs,
                                                  int shards, const std::function<void(size_t, void*, size_t)>& fill);

// Writes `decls` into `dir` as model-0000i-of-0000n.safetensors + model.safetensors.index.json
// (one shard: model.safetensors, no index). Returns the files written, the index last.
std::vector<WrittenFile> write_random_checkpoint(const std::string& dir,
                                                 const std::vector<io::WeightBinder::Declaration>& decls, int shards,
                                                 io::DType dtype, uint64_t seed, double stddev = 0.02);

}  // namespace heartmula::tools
