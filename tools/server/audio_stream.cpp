// A running song's audio, streamed while its file grows (audio_stream.h).
#include "server/audio_stream.h"

#include <dirent.h>
#include <fcntl.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "heartmula/error.h"
#include "server/song_queue.h"

namespace heartmula::server {
namespace {

constexpr size_t kChunk = 64 * 1024;
constexpr auto kPoll = std::chrono::milliseconds(50);  // how often a reader looks for new bytes

uint32_t le32(const std::vector<char>& b, size_t at) {
  uint32_t v = 0;
  for (int k = 3; k >= 0; --k) v = v << 8 | static_cast<unsigned char>(b[at + static_cast<size_t>(k)]);
  return v;
}

bool has_file(const SongStatus& s) {
  return !s.file.empty() && (s.state == SongState::done || s.state == SongState::cancelled);
}

// The writer's temp file of song `id` in `dir` (io::AudioOutputFile::create_temp_for names it
// ".<id>.<format>.partXXXXXX"), opened; -1 when there is none (not opened yet, or renamed).
int open_temp_file(const std::string& dir, const std::string& id, const std::string& format) {
  const std::string prefix = "." + id + "." + format + ".part";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return -1;
  int fd = -1;
  while (const dirent* e = ::readdir(d)) {
    if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) != 0) continue;
    fd = ::open((std::filesystem::path(dir) / e->d_name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) break;
  }
  ::closedir(d);
  return fd;
}

// One client's reading of one song's file.
struct Follower {
  SongQueue& queue;
  std::string id, format;
  int fd = -1;
  bool complete = false;    // fd is the finished file: read to its end, then done
  size_t header_end = 0;    // WAV: where the samples start (0: not known yet)
  size_t data_size_at = 0;  // WAV: offset of the data chunk's size field
  uint64_t sent = 0;
  std::vector<char> buf;

  Follower(SongQueue& q, std::string i, std::string f) : queue(q), id(std::move(i)), format(std::move(f)) {}
  ~Follower() {
    if (fd >= 0) ::close(fd);
  }

  enum class Step { wrote, wait, done, failed };

  // Opens the file when there is one; false when the song can have none (failed, cancelled
  // while queued).
  bool open_file() {
    const auto s = queue.status(id);
    if (!s) return false;
    if (has_file(*s)) {
      fd = ::open(s->file.c_str(), O_RDONLY | O_CLOEXEC);  // the path the worker gave: <dir>/<id>.<format>
      complete = fd >= 0;
      return fd >= 0;
    }
    if (s->state == SongState::failed || s->state == SongState::cancelled) return false;
    if (s->state == SongState::running) fd = open_temp_file(queue.output_dir(), id, format);
    return true;
  }

  // The bytes of the file from `sent` on (up to kChunk); WAV's two sizes read as unknown.
  Step read_more(httplib::DataSink& sink) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return Step::failed;
    const auto size = static_cast<uint64_t>(st.st_size);  // taken before the bytes are read
    if (format == "wav" && header_end == 0) {
      // libsndfile rewrites the header (adding its LIST chunk) at the first samples: it is
      // final once samples follow it, and then only its sizes change (at the end).
      std::vector<char> head(static_cast<size_t>(std::min<uint64_t>(size, 4096)));
      if (::pread(fd, head.data(), head.size(), 0) != static_cast<ssize_t>(head.size())) return Step::failed;
      const size_t end = wav_data_offset(head, &data_size_at);
      if (end == 0 || size <= end) return complete ? Step::failed : Step::wait;
      header_end = end;
    }
    if (sent >= size) return Step::wait;
    buf.resize(static_cast<size_t>(std::min<uint64_t>(kChunk, size - sent)));
    const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(sent));
    if (n <= 0) return Step::failed;
    if (format == "wav")
      for (size_t at : {size_t{4}, data_size_at})
        for (size_t k = at; k < at + 4; ++k)
          if (k >= sent && k < sent + static_cast<uint64_t>(n)) buf[k - sent] = static_cast<char>(0xFF);
    if (!sink.write(buf.data(), static_cast<size_t>(n))) return Step::failed;
    sent += static_cast<uint64_t>(n);
    return Step::wrote;
  }

  Step step(httplib::DataSink& sink) {
    if (fd < 0 && !open_file()) return Step::failed;
    if (fd < 0) return Step::wait;
    const Step r = read_more(sink);
    if (r != Step::wait) return r;
    if (complete) return Step::done;
    // Nothing new: finished meanwhile? The song's file is then complete, renamed from the temp
    // file this reads (the same file), so what is left is read to the end.
    const auto s = queue.status(id);
    if (!s || s->state == SongState::failed) return Step::failed;
    if (has_file(*s)) complete = true;
    if (s->state == SongState::cancelled && !has_file(*s)) return Step::failed;
    return complete ? Step::wrote : Step::wait;
  }
};

}  // namespace

size_t wav_data_offset(const std::vector<char>& head, size_t* data_size_at) {
  if (head.size() < 12) return 0;
  if (std::memcmp(head.data(), "RIFF", 4) != 0 || std::memcmp(head.data() + 8, "WAVE", 4) != 0)
    throw Error("the song's WAV file does not start with RIFF/WAVE");
  for (size_t at = 12; at + 8 <= head.size();) {
    if (std::memcmp(head.data() + at, "data", 4) == 0) {
      *data_size_at = at + 4;
      return at + 8;
    }
    const uint64_t size = le32(head, at + 4);
    at += 8 + static_cast<size_t>(size + (size & 1));  // chunks are padded to even sizes
  }
  return 0;
}

void send_growing_audio(httplib::Response& res, SongQueue& queue, const std::string& id, const std::string& format,
                        bool download) {
  auto f = std::make_shared<Follower>(queue, id, format);
  // The whole file, whatever Range the request has: 200. Left unset, httplib answers a request
  // with a Range header 206 ("Partial Content") but, the body being chunked, without the
  // Content-Range a 206 must have; Chromium's <audio> (which asks "Range: bytes=0-") then
  // failed with MEDIA_ERR_SRC_NOT_SUPPORTED (found by tests/e2e/browser_page_test.py). The
  // length is not known while the song is made, so no range of it can be served.
  res.status = 200;
  res.set_header("Content-Disposition",
                 (download ? "attachment" : "inline") + std::string("; filename=\"") + id + "." + format + "\"");
  res.set_header("Cache-Control", "no-store");
  res.set_chunked_content_provider(format == "wav" ? "audio/wav" : "audio/mpeg", [f](size_t, httplib::DataSink& sink) {
    for (;;) {
      if (!sink.is_writable()) return false;  // the client went away
      Follower::Step r;
      try {
        r = f->step(sink);
      } catch (const std::exception&) {
        r = Follower::Step::failed;
      }
      if (r == Follower::Step::wrote) return true;
      if (r == Follower::Step::failed) return false;
      if (r == Follower::Step::done) {
        sink.done();
        return true;
      }
      std::this_thread::sleep_for(kPoll);
    }
  });
}

}  // namespace heartmula::server
