#include "io/atomic_file.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "heartmula/error.h"
#include "io/temp_files.h"

namespace heartmula::io {

AtomicFileWriter::AtomicFileWriter(const std::string& path) : path_(path) {
  std::string dir = ".", base = path;
  auto slash = path.rfind('/');
  if (slash != std::string::npos) {
    dir = slash == 0 ? "/" : path.substr(0, slash);
    base = path.substr(slash + 1);
  }
  tmp_ = dir + "/." + base + ".partXXXXXX";
  fd_ = ::mkstemp(tmp_.data());
  if (fd_ < 0) throw Error("cannot write '" + path + "': " + std::strerror(errno));
  register_temp_file(tmp_);  // removed by an abort (temp_files.h) until committed or destroyed
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
  unregister_temp_file(tmp_);
}

void AtomicFileWriter::write(const void* data, size_t size) {
  if (fd_ < 0) throw Error("cannot write '" + path_ + "': already closed");
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t w = ::write(fd_, p, size);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot write '" + path_ + "': " + std::strerror(errno));
    }
    p += w;
    size -= static_cast<size_t>(w);
  }
}

void AtomicFileWriter::commit() {
  if (fd_ < 0) throw Error("cannot write '" + path_ + "': already closed");
  if (::fchmod(fd_, 0644) != 0 || ::fsync(fd_) != 0)
    throw Error("cannot write '" + path_ + "': " + std::strerror(errno));
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp_.c_str());
    throw Error("cannot write '" + path_ + "': " + std::strerror(e));
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp_.c_str());
    throw Error("cannot write '" + path_ + "': " + std::strerror(e));
  }
}

void write_file_atomically(const std::string& path, const void* data, size_t size) {
  AtomicFileWriter w(path);
  w.write(data, size);
  w.commit();
}

}  // namespace heartmula::io
