// The byte destination of an audio writer: a temp file that is renamed onto the destination
// path by commit(), or stdout. Every failed system call throws heartmula::Error naming the
// destination path. Internal to src/io (used by the audio_* writers).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>

namespace heartmula::io {

class AudioOutputFile {
 public:
  // Creates "<dir>/.<name>.partXXXXXX" next to `path` (mode 0666 minus umask).
  // `overwrite` decides whether commit() may replace an existing file at `path`.
  static std::unique_ptr<AudioOutputFile> create_temp_for(const std::string& path, bool overwrite);
  // File descriptor 1; not seekable, never closed.
  static std::unique_ptr<AudioOutputFile> stdout_stream();

  AudioOutputFile(const AudioOutputFile&) = delete;
  AudioOutputFile& operator=(const AudioOutputFile&) = delete;
  // Not committed: closes and removes the temp file.
  ~AudioOutputFile();

  // Writes all bytes at the current position (retries short writes and EINTR).
  void write_all(const void* data, size_t size);
  // Writes all bytes at `offset` without moving the position. Needs seekable().
  void write_at(const void* data, size_t size, off_t offset);
  // Bytes written through write_all() so far.
  off_t position() const { return position_; }
  bool seekable() const { return seekable_; }
  int fd() const { return fd_; }
  // Destination path (or "<stdout>") for messages.
  const std::string& path() const { return path_; }
  // Temp file path ("" for stdout).
  const std::string& temp_path() const { return temp_path_; }

  // Temp file: fsync, close, move onto the destination (refusing to replace an existing file
  // unless overwrite), fsync the folder. Stdout: nothing to do.
  void commit();

  // "writing 'path' (temp file 'tmp'): <what>" as an Error.
  [[noreturn]] void fail(const std::string& what) const;
  // fail() with strerror(errno) appended.
  [[noreturn]] void fail_errno(const std::string& what, int err) const;

 private:
  AudioOutputFile(int fd, std::string path, std::string temp_path, bool seekable, bool overwrite);
  void move_into_place();

  int fd_ = -1;
  std::string path_;
  std::string temp_path_;
  bool seekable_ = false;
  bool overwrite_ = false;
  bool committed_ = false;
  off_t position_ = 0;
};

}  // namespace heartmula::io
