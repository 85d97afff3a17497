#include "io/mmap_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "heartmula/error.h"

namespace heartmula::io {

std::shared_ptr<MmapFile> MmapFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw Error("cannot open '" + path + "': " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw Error("cannot stat '" + path + "': " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("'" + path + "' is not a regular file");
  }
  std::shared_ptr<MmapFile> f(new MmapFile());
  f->path_ = path;
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      throw Error("cannot mmap '" + path + "': " + std::strerror(e));
    }
    f->data_ = static_cast<uint8_t*>(p);
  }
  f->fd_ = fd;
  return f;
}

MmapFile::~MmapFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
  if (fd_ >= 0) ::close(fd_);
}

void MmapFile::read(size_t offset, void* dst, size_t length) const {
  if (offset > size_ || length > size_ - offset)
    throw Error("cannot read bytes " + std::to_string(offset) + "+" + std::to_string(length) + " of '" + path_ +
                "': the file has " + std::to_string(size_));
  auto* out = static_cast<uint8_t*>(dst);
  while (length > 0) {
    const ssize_t n = ::pread(fd_, out, length, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error("cannot read '" + path_ + "' at byte " + std::to_string(offset) + ": " +
                  (n < 0 ? std::strerror(errno) : "the file ended early (changed while loading?)"));
    out += n, offset += static_cast<size_t>(n), length -= static_cast<size_t>(n);
  }
}

void MmapFile::prefetch(size_t offset, size_t length) const {
  if (data_ == nullptr || offset >= size_) return;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t start = offset / page * page;
  size_t end = std::min(size_, offset + length);
  ::madvise(data_ + start, end - start, MADV_WILLNEED);
}

}  // namespace heartmula::io
