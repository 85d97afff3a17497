// A read-only view of a whole file through mmap. Pages are mapped private (copy-on-write),
// so a tensor view over them can never modify the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace heartmula::io {

class MmapFile {
 public:
  // Maps `path`; throws heartmula::Error naming the path when it cannot be opened or mapped.
  static std::shared_ptr<MmapFile> open(const std::string& path);
  ~MmapFile();
  MmapFile(const MmapFile&) = delete;
  MmapFile& operator=(const MmapFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Hints the kernel to read the byte range ahead (MADV_WILLNEED); harmless if it fails.
  void prefetch(size_t offset, size_t length) const;

 private:
  MmapFile() = default;
  std::string path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace heartmula::io
