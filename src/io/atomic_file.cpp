#include "io/atomic_file.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "heartmula/error.h"

namespace heartmula::io {

void write_file_atomically(const std::string& path, const void* data, size_t size) {
  std::string dir = ".", base = path;
  auto slash = path.rfind('/');
  if (slash != std::string::npos) {
    dir = slash == 0 ? "/" : path.substr(0, slash);
    base = path.substr(slash + 1);
  }
  std::string tmpl = dir + "/." + base + ".partXXXXXX";
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw Error("cannot write '" + path + "': " + std::strerror(errno));
  const char* p = static_cast<const char*>(data);
  size_t left = size;
  auto bail = [&](int e) {
    ::close(fd);
    ::unlink(tmpl.c_str());
    throw Error("cannot write '" + path + "': " + std::strerror(e));
  };
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      bail(errno);
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  if (::fchmod(fd, 0644) != 0 || ::fsync(fd) != 0) bail(errno);
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmpl.c_str());
    throw Error("cannot write '" + path + "': " + std::strerror(e));
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmpl.c_str());
    throw Error("cannot write '" + path + "': " + std::strerror(e));
  }
}

}  // namespace heartmula::io
