// Writing a file so that it appears at its path only when complete.
#pragma once

#include <cstddef>
#include <string>

namespace heartmula::io {

// Writes `size` bytes to a temporary file in the same folder, fsyncs it and renames it to
// `path`. On any error the temporary file is removed and an Error names `path`.
void write_file_atomically(const std::string& path, const void* data, size_t size);

// The same for data written piece by piece. The destructor removes the temporary file unless
// commit() succeeded.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  void write(const void* data, size_t size);  // Error naming the path on failure
  void commit();                              // fsync, close, rename

 private:
  std::string path_, tmp_;
  int fd_ = -1;
};

}  // namespace heartmula::io
