// A checkpoint: one safetensors file, or a folder holding either `model.safetensors` or
// shards listed by `model.safetensors.index.json`. Hands out TensorInfo by name.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace heartmula::io {

class Checkpoint {
 public:
  // `path` is a .safetensors file or a folder. Every shard named by the index must exist and
  // hold the tensors the index assigns to it; errors name the index, the shard and the tensor.
  static Checkpoint open(const std::string& path);

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo& at(const std::string& name) const;  // Error naming checkpoint + tensor
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  std::vector<std::string> files() const;  // the safetensors files, in order
  size_t total_bytes() const;              // sum of all tensors' bytes

 private:
  std::string path_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, TensorInfo> tensors_;
};

}  // namespace heartmula::io
