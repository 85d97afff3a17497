#include "io/audio_output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "heartmula/error.h"
#include "io/temp_files.h"

namespace heartmula::io {
namespace {

constexpr const char* kStdoutName = "<stdout>";

std::string random_suffix(size_t length) {
  static const char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  static thread_local std::mt19937_64 rng{std::random_device{}() ^ (static_cast<uint64_t>(getpid()) << 32)};
  std::string s(length, 'x');
  for (char& c : s) c = kChars[rng() % (sizeof(kChars) - 1)];
  return s;
}

// Folder part of `path` ("." when it has none).
std::string folder_of(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? std::string(".") : dir;
}

// Best-effort fsync of a folder so that a rename in it survives a crash.
void sync_folder(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);  // some file systems refuse fsync on folders (EINVAL); the data is synced already
  ::close(fd);
}

}  // namespace

AudioOutputFile::AudioOutputFile(int fd, std::string path, std::string temp_path, bool seekable, bool overwrite)
    : fd_(fd), path_(std::move(path)), temp_path_(std::move(temp_path)), seekable_(seekable), overwrite_(overwrite) {}

std::unique_ptr<AudioOutputFile> AudioOutputFile::create_temp_for(const std::string& path, bool overwrite) {
  std::filesystem::path p(path);
  std::string name = p.filename().string();
  if (name.empty() || name == "." || name == "..") throw Error("output path '" + path + "' does not name a file");
  std::string prefix = (p.parent_path() / ("." + name + ".part")).string();
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string temp = prefix + random_suffix(6);
    int fd = ::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      register_temp_file(temp);  // removed by an abort (temp_files.h) until committed or destroyed
      return std::unique_ptr<AudioOutputFile>(new AudioOutputFile(fd, path, temp, true, overwrite));
    }
    if (errno != EEXIST)
      throw Error("cannot create temp file '" + temp + "' for output '" + path + "': " + std::strerror(errno));
  }
  throw Error("cannot create a temp file next to output '" + path + "': all names taken");
}

std::unique_ptr<AudioOutputFile> AudioOutputFile::stdout_stream() {
  std::fflush(stdout);  // anything the caller printed with stdio goes first
  return std::unique_ptr<AudioOutputFile>(new AudioOutputFile(STDOUT_FILENO, kStdoutName, std::string(), false, true));
}

AudioOutputFile::~AudioOutputFile() {
  if (temp_path_.empty()) return;  // stdout: never closed here
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
  unregister_temp_file(temp_path_);
}

void AudioOutputFile::fail(const std::string& what) const {
  std::string where = "writing '" + path_ + "'";
  if (!temp_path_.empty()) where += " (temp file '" + temp_path_ + "')";
  throw Error(where + ": " + what);
}

void AudioOutputFile::fail_errno(const std::string& what, int err) const { fail(what + ": " + std::strerror(err)); }

void AudioOutputFile::write_all(const void* data, size_t size) {
  if (fd_ < 0) fail("write after the file was closed");
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("write failed", errno);
    }
    if (n == 0) fail("write returned 0 bytes");
    p += n;
    size -= static_cast<size_t>(n);
    position_ += n;
  }
}

void AudioOutputFile::write_at(const void* data, size_t size, off_t offset) {
  if (fd_ < 0) fail("write after the file was closed");
  if (!seekable_) fail("cannot rewrite a header in a stream");
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd_, p, size, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("write failed", errno);
    }
    if (n == 0) fail("write returned 0 bytes");
    p += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
}

void AudioOutputFile::commit() {
  if (committed_) return;
  if (temp_path_.empty()) {  // stdout
    committed_ = true;
    return;
  }
  if (::fsync(fd_) != 0) fail_errno("fsync failed", errno);
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_errno("close failed", errno);
  move_into_place();
  committed_ = true;
  unregister_temp_file(temp_path_);
  sync_folder(folder_of(path_));
}

// Without overwrite, link() + unlink() moves the file atomically and fails if the destination
// appeared meanwhile; file systems without hard links fall back to a check and rename().
void AudioOutputFile::move_into_place() {
  if (!overwrite_) {
    if (::link(temp_path_.c_str(), path_.c_str()) == 0) {
      ::unlink(temp_path_.c_str());
      return;
    }
    int err = errno;
    if (err == EEXIST) fail("the destination file exists already and overwrite is off");
    if (err != EPERM && err != ENOTSUP && err != EOPNOTSUPP && err != ENOSYS && err != EMLINK)
      fail_errno("cannot move the temp file into place", err);
    struct stat st;
    if (::lstat(path_.c_str(), &st) == 0) fail("the destination file exists already and overwrite is off");
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail_errno("cannot rename the temp file into place", errno);
}

}  // namespace heartmula::io
