// WAV for streams (stdout), written by hand: libsndfile refuses to write WAV to a pipe ("this
// file format does not support pipe write") because it rewrites the header on close. The RIFF
// and data sizes here are 0xFFFFFFFF ("unknown"): libsndfile reads such files (see the tests)
// and stream readers such as ffmpeg take them as "until the end of the stream".
#include <algorithm>
#include <cstdint>
#include <vector>

#include "heartmula/error.h"
#include "io/audio_backends.h"
#include "io/audio_pcm.h"

namespace heartmula::io {
namespace {

constexpr size_t kChunkFrames = 8192;
constexpr uint32_t kUnknownSize = 0xFFFFFFFFu;

void put_u16(std::vector<uint8_t>& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  put_u16(b, v & 0xFFFF);
  put_u16(b, v >> 16);
}
void put_tag(std::vector<uint8_t>& b, const char* tag) { b.insert(b.end(), tag, tag + 4); }

// 44-byte canonical header: RIFF/WAVE, fmt (PCM), data.
std::vector<uint8_t> wav_header(int sample_rate, int channels, int bits) {
  const uint32_t block = static_cast<uint32_t>(channels * bits / 8);
  std::vector<uint8_t> h;
  put_tag(h, "RIFF");
  put_u32(h, kUnknownSize);
  put_tag(h, "WAVE");
  put_tag(h, "fmt ");
  put_u32(h, 16);
  put_u16(h, 1);  // WAVE_FORMAT_PCM
  put_u16(h, static_cast<uint32_t>(channels));
  put_u32(h, static_cast<uint32_t>(sample_rate));
  put_u32(h, static_cast<uint32_t>(sample_rate) * block);
  put_u16(h, block);
  put_u16(h, static_cast<uint32_t>(bits));
  put_tag(h, "data");
  put_u32(h, kUnknownSize);
  return h;
}

class WavStreamWriter final : public AudioWriter {
 public:
  WavStreamWriter(const AudioWriteOptions& options, std::unique_ptr<AudioOutputFile> out)
      : AudioWriter(AudioFormat::Wav, options, out->path()), out_(std::move(out)) {
    const std::vector<uint8_t> header = wav_header(options_.sample_rate, options_.channels, options_.pcm_bits);
    out_->write_all(header.data(), header.size());
  }

  void write(const float* interleaved, size_t frames) override {
    check_open("write");
    if (frames > 0 && interleaved == nullptr) out_->fail("write() given no samples");
    const size_t ch = static_cast<size_t>(options_.channels);
    for (size_t done = 0; done < frames;) {
      const size_t n = std::min(kChunkFrames, frames - done);
      bytes_.clear();
      append_pcm_le(interleaved + done * ch, n * ch, options_.pcm_bits, bytes_);
      out_->write_all(bytes_.data(), bytes_.size());
      done += n;
      frames_written_ += n;
    }
  }

  void finish() override {
    check_open("finish");
    closed_ = true;
    out_->commit();
  }

 private:
  std::unique_ptr<AudioOutputFile> out_;
  std::vector<uint8_t> bytes_;
};

}  // namespace

std::unique_ptr<AudioWriter> make_wav_stream_writer(const AudioWriteOptions& options,
                                                    std::unique_ptr<AudioOutputFile> out) {
  return std::make_unique<WavStreamWriter>(options, std::move(out));
}

}  // namespace heartmula::io
