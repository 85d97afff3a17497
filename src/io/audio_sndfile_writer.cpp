// WAV / FLAC / OGG-Vorbis through libsndfile. libsndfile writes through virtual I/O callbacks on
// our file descriptor so that every failed write (disk full, quota, I/O error) is seen here,
// including those libsndfile's FLAC and Vorbis paths make while closing.
#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "heartmula/error.h"
#include "io/audio_backends.h"
#include "io/audio_pcm.h"

namespace heartmula::io {
namespace {

constexpr size_t kChunkFrames = 8192;

int sndfile_format(AudioFormat format, int pcm_bits) {
  const int pcm = pcm_bits == 24 ? SF_FORMAT_PCM_24 : SF_FORMAT_PCM_16;
  switch (format) {
    case AudioFormat::Wav:
      return SF_FORMAT_WAV | pcm;
    case AudioFormat::Flac:
      return SF_FORMAT_FLAC | pcm;
    case AudioFormat::Ogg:
      return SF_FORMAT_OGG | SF_FORMAT_VORBIS;
    case AudioFormat::Mp3:
      break;
  }
  throw Error("internal: libsndfile writer asked for mp3");
}

class SndfileWriter final : public AudioWriter {
 public:
  SndfileWriter(AudioFormat format, const AudioWriteOptions& options, std::unique_ptr<AudioOutputFile> out)
      : AudioWriter(format, options, out->path()), out_(std::move(out)) {
    open_sndfile();
    set_strings();
  }

  ~SndfileWriter() override {
    if (sf_ != nullptr) sf_close(sf_);  // out_ then removes the temp file
  }

  void write(const float* interleaved, size_t frames) override {
    check_open("write");
    if (frames > 0 && interleaved == nullptr) out_->fail("write() given no samples");
    const size_t ch = static_cast<size_t>(options_.channels);
    buffer_.resize(kChunkFrames * ch);
    for (size_t done = 0; done < frames;) {
      const size_t n = std::min(kChunkFrames, frames - done);
      clip_samples(interleaved + done * ch, n * ch, buffer_.data());
      const sf_count_t wrote = sf_writef_float(sf_, buffer_.data(), static_cast<sf_count_t>(n));
      check_io("writing samples");
      if (wrote != static_cast<sf_count_t>(n))
        out_->fail(std::string("libsndfile wrote ") + std::to_string(wrote) + " of " + std::to_string(n) +
                   " frames: " + sf_strerror(sf_));
      done += n;
      frames_written_ += n;
    }
  }

  void finish() override {
    check_open("finish");
    closed_ = true;
    SNDFILE* sf = sf_;
    sf_ = nullptr;
    const int rc = sf_close(sf);
    check_io("closing");
    if (rc != 0) out_->fail(std::string("libsndfile: ") + sf_error_number(rc));
    out_->commit();
  }

 private:
  void open_sndfile() {
    SF_INFO info{};
    info.samplerate = options_.sample_rate;
    info.channels = options_.channels;
    info.format = sndfile_format(format_, options_.pcm_bits);
    if (!sf_format_check(&info))
      out_->fail(std::string("libsndfile cannot write ") + audio_format_name(format_) + " at " +
                 std::to_string(info.samplerate) + " Hz, " + std::to_string(info.channels) + " channel(s)");
    SF_VIRTUAL_IO io{&vio_length, &vio_seek, &vio_read, &vio_write, &vio_tell};
    sf_ = sf_open_virtual(&io, SFM_WRITE, &info, this);
    check_io("writing the header");
    if (sf_ == nullptr) out_->fail(std::string("libsndfile: ") + sf_strerror(nullptr));
    if (format_ == AudioFormat::Ogg) {
      double quality = options_.ogg_quality;
      if (sf_command(sf_, SFC_SET_VBR_ENCODING_QUALITY, &quality, sizeof(quality)) != SF_TRUE)
        out_->fail("libsndfile refused Vorbis quality " + std::to_string(quality));
    }
  }

  void set_strings() {
    set_string(SF_STR_SOFTWARE, "heartmula-gen " HEARTMULA_VERSION);
    if (!options_.title.empty()) set_string(SF_STR_TITLE, options_.title);
    if (!options_.comment.empty()) set_string(SF_STR_COMMENT, options_.comment);
  }

  void set_string(int type, const std::string& value) {
    const int rc = sf_set_string(sf_, type, value.c_str());
    if (rc != 0) out_->fail(std::string("libsndfile refused a tag string: ") + sf_error_number(rc));
  }

  // A write error seen by the callbacks is reported with errno's text.
  void check_io(const char* when) {
    if (io_errno_ != 0) out_->fail_errno(std::string(when) + " failed", io_errno_);
  }

  static SndfileWriter& self(void* user) { return *static_cast<SndfileWriter*>(user); }

  static sf_count_t vio_length(void* user) {
    struct stat st;
    return fstat(self(user).out_->fd(), &st) == 0 ? static_cast<sf_count_t>(st.st_size) : -1;
  }
  static sf_count_t vio_seek(sf_count_t offset, int whence, void* user) {
    return lseek(self(user).out_->fd(), static_cast<off_t>(offset), whence);
  }
  static sf_count_t vio_tell(void* user) { return lseek(self(user).out_->fd(), 0, SEEK_CUR); }
  static sf_count_t vio_read(void* ptr, sf_count_t count, void* user) {
    ssize_t n;
    do n = read(self(user).out_->fd(), ptr, static_cast<size_t>(count));
    while (n < 0 && errno == EINTR);
    return n < 0 ? 0 : n;
  }
  static sf_count_t vio_write(const void* ptr, sf_count_t count, void* user) {
    SndfileWriter& w = self(user);
    const char* p = static_cast<const char*>(ptr);
    sf_count_t done = 0;
    while (done < count) {
      ssize_t n = ::write(w.out_->fd(), p + done, static_cast<size_t>(count - done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (w.io_errno_ == 0) w.io_errno_ = n < 0 ? errno : EIO;
        break;
      }
      done += n;
    }
    return done;
  }

  std::unique_ptr<AudioOutputFile> out_;
  SNDFILE* sf_ = nullptr;
  int io_errno_ = 0;
  std::vector<float> buffer_;
};

}  // namespace

std::unique_ptr<AudioWriter> make_sndfile_writer(AudioFormat format, const AudioWriteOptions& options,
                                                 std::unique_ptr<AudioOutputFile> out) {
  return std::make_unique<SndfileWriter>(format, options, std::move(out));
}

}  // namespace heartmula::io
