// Writing a file so that it appears at its path only when complete.
#pragma once

#include <cstddef>
#include <string>

namespace heartmula::io {

// Writes `size` bytes to a temporary file in the same folder, fsyncs it and renames it to
// `path`. On any error the temporary file is removed and an Error names `path`.
void write_file_atomically(const std::string& path, const void* data, size_t size);

}  // namespace heartmula::io
