// safetensors files: parsing and validation (no model knowledge, no tensor library), and a writer.
//
// Layout: u64 little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}
// then the data section; offsets are relative to its start. Every file is treated as hostile:
// each inconsistency is an Error naming the file and, where there is one, the tensor.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "io/mmap_file.h"

namespace heartmula::io {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // inside the file's mapping
  size_t nbytes = 0;
  std::shared_ptr<MmapFile> file;  // keeps the mapping alive

  int64_t numel() const;
  std::string shape_str() const;  // "[2, 3]"
};

class SafetensorsFile {
 public:
  // Maps and validates the whole header. Throws Error("<path>: ...") on any problem.
  static SafetensorsFile open(const std::string& path);
  // Parses a file already in memory (used by open(); exposed for fuzzing).
  static SafetensorsFile parse(std::shared_ptr<MmapFile> file);

  const std::string& path() const { return file_->path(); }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws Error naming the file and the tensor when absent.
  const TensorInfo& at(const std::string& name) const;

 private:
  std::shared_ptr<MmapFile> file_;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Validates a raw header + data span; the core of parse(), free of any file system access.
// `data_size` is the size of the data section. Fills `out` entries with offsets in `data`.
void parse_safetensors_header(const std::string& origin, const uint8_t* bytes, size_t size,
                              std::map<std::string, TensorInfo>& out, std::map<std::string, std::string>& metadata);

// Collects tensors and writes them as one safetensors file (tensors sorted by name, data
// aligned to 8 bytes as HF does). The file is written to a temporary name and renamed.
class SafetensorsWriter {
 public:
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data, size_t nbytes);
  void set_metadata(const std::string& key, const std::string& value);
  void write(const std::string& path) const;
  // The complete file contents (tests build corrupt files from it).
  std::string serialize() const;

 private:
  struct Entry {
    DType dtype;
    std::vector<int64_t> shape;
    std::string bytes;
  };
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// For files larger than memory: the header is built from `specs` up front, then each tensor's
// bytes are produced by `fill(index, buffer, nbytes)` in order and written out. The file is
// written to a temporary name and renamed when complete.
struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  size_t nbytes() const;
};
void write_safetensors_streaming(const std::string& path, const std::vector<TensorSpec>& specs,
                                 const std::function<void(size_t, void*, size_t)>& fill,
                                 const std::map<std::string, std::string>& metadata = {});

}  // namespace heartmula::io
