#include "io/page_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace heartmula::io {

namespace {

// Resident bytes of one open file of `size` bytes (0 when it cannot be mapped).
uint64_t resident(int fd, uint64_t size) {
  if (size == 0) return 0;
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return 0;
  const long page = ::sysconf(_SC_PAGESIZE);
  const size_t pages = (size + static_cast<uint64_t>(page) - 1) / static_cast<uint64_t>(page);
  std::vector<unsigned char> vec(pages);
  uint64_t bytes = 0;
  if (::mincore(p, size, vec.data()) == 0) {
    for (size_t i = 0; i < pages; ++i)
      if (vec[i] & 1) bytes += std::min<uint64_t>(static_cast<uint64_t>(page), size - i * static_cast<uint64_t>(page));
  }
  ::munmap(p, size);
  return bytes;
}

template <typename F>
PageCacheInfo for_each_file(const std::vector<std::string>& paths, F&& f) {
  PageCacheInfo info;
  for (const std::string& path : paths) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
      const uint64_t size = static_cast<uint64_t>(st.st_size);
      f(fd, size);
      info.file_bytes += size;
      info.resident_bytes += resident(fd, size);
    }
    ::close(fd);
  }
  return info;
}

}  // namespace

std::vector<std::string> checkpoint_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

PageCacheInfo page_cache_residency(const std::vector<std::string>& paths) {
  return for_each_file(paths, [](int, uint64_t) {});
}

PageCacheInfo drop_from_page_cache(const std::vector<std::string>& paths) {
  return for_each_file(paths, [](int fd, uint64_t) { (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); });
}

}  // namespace heartmula::io
