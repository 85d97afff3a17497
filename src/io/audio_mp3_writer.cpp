// MP3 through LAME. Layout of a file: [ID3v2 tag][LAME/Xing tag frame][audio frames]. The tag
// frame is written empty by LAME at the start and rewritten in place on finish() (seekable
// outputs only, unless AudioWriteOptions::mp3_lame_tag is off); it carries the length and the
// encoder delay / padding for gapless decoders.
#include <lame/lame.h>

#include <algorithm>
#include <vector>

#include "heartmula/error.h"
#include "io/audio_backends.h"
#include "io/audio_pcm.h"

namespace heartmula::io {
namespace {

constexpr size_t kChunkFrames = 4096;
constexpr int kMp3Rates[] = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000};

// UTF-8 -> NUL-terminated UTF-16 with a byte order mark, as LAME's *_utf16 functions want.
// Invalid bytes become U+FFFD.
std::vector<unsigned short> utf16_with_bom(const std::string& s) {
  std::vector<unsigned short> out{0xFEFF};
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc >> 6) == 2;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      out.push_back(0xFFFD);
      i += 1;
      continue;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<unsigned short>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<unsigned short>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<unsigned short>(cp));
    }
    i += static_cast<size_t>(len);
  }
  out.push_back(0);
  return out;
}

bool is_ascii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

const char* lame_error_text(int code) {
  switch (code) {
    case -1:
      return "output buffer too small";
    case -2:
      return "out of memory";
    case -3:
      return "encoder not initialised";
    case -4:
      return "psychoacoustic model problem";
    default:
      return "unknown LAME error";
  }
}

class Mp3Writer final : public AudioWriter {
 public:
  Mp3Writer(const AudioWriteOptions& options, std::unique_ptr<AudioOutputFile> out)
      : AudioWriter(AudioFormat::Mp3, options, out->path()), out_(std::move(out)) {
    check_rate();
    lame_ = lame_init();
    if (lame_ == nullptr) out_->fail("LAME: cannot create an encoder (out of memory?)");
    configure();
    write_id3v2();
    tag_offset_ = out_->position();
  }

  ~Mp3Writer() override {
    if (lame_ != nullptr) lame_close(lame_);
  }

  void write(const float* interleaved, size_t frames) override {
    check_open("write");
    if (frames > 0 && interleaved == nullptr) out_->fail("write() given no samples");
    const size_t ch = static_cast<size_t>(options_.channels);
    pcm_.resize(kChunkFrames * ch);
    mp3_.resize(kChunkFrames * 5 / 4 + 7200);
    for (size_t done = 0; done < frames;) {
      const size_t n = std::min(kChunkFrames, frames - done);
      clip_samples(interleaved + done * ch, n * ch, pcm_.data());
      const int bytes = ch == 2 ? lame_encode_buffer_interleaved_ieee_float(lame_, pcm_.data(), static_cast<int>(n),
                                                                            mp3_.data(), static_cast<int>(mp3_.size()))
                                : lame_encode_buffer_ieee_float(lame_, pcm_.data(), pcm_.data(), static_cast<int>(n),
                                                                mp3_.data(), static_cast<int>(mp3_.size()));
      if (bytes < 0) out_->fail(std::string("LAME encoding failed: ") + lame_error_text(bytes));
      out_->write_all(mp3_.data(), static_cast<size_t>(bytes));
      done += n;
      frames_written_ += n;
    }
  }

  void finish() override {
    check_open("finish");
    closed_ = true;
    mp3_.resize(std::max<size_t>(mp3_.size(), 7200 * 2));
    const int bytes = lame_encode_flush(lame_, mp3_.data(), static_cast<int>(mp3_.size()));
    if (bytes < 0) out_->fail(std::string("LAME flush failed: ") + lame_error_text(bytes));
    out_->write_all(mp3_.data(), static_cast<size_t>(bytes));
    if (lame_tag()) write_lame_tag();
    lame_close(lame_);
    lame_ = nullptr;
    out_->commit();
  }

 private:
  bool lame_tag() const { return out_->seekable() && options_.mp3_lame_tag; }

  void check_rate() const {
    for (int r : kMp3Rates)
      if (r == options_.sample_rate) return;
    throw UsageError("sample_rate " + std::to_string(options_.sample_rate) +
                     " cannot be written as MP3 (rates: 8000 11025 12000 16000 22050 24000 "
                     "32000 44100 48000); writing '" +
                     out_->path() + "'");
  }

  void configure() {
    lame_set_in_samplerate(lame_, options_.sample_rate);
    lame_set_out_samplerate(lame_, options_.sample_rate);  // never let LAME resample
    lame_set_num_channels(lame_, options_.channels);
    if (options_.channels == 1) lame_set_mode(lame_, MONO);
    if (options_.mp3_vbr) {
      lame_set_VBR(lame_, vbr_default);
      lame_set_VBR_q(lame_, options_.mp3_vbr_quality);
    } else {
      lame_set_VBR(lame_, vbr_off);
      lame_set_brate(lame_, options_.mp3_bitrate_kbps);
    }
    lame_set_bWriteVbrTag(lame_, lame_tag() ? 1 : 0);
    lame_set_write_id3tag_automatic(lame_, 0);
    set_id3_tags();
    if (lame_init_params(lame_) < 0)
      out_->fail("LAME rejected the settings (" + std::to_string(options_.sample_rate) + " Hz, " +
                 std::to_string(options_.channels) + " channel(s), " +
                 (options_.mp3_vbr ? "VBR quality " + std::to_string(options_.mp3_vbr_quality)
                                   : std::to_string(options_.mp3_bitrate_kbps) + " kbps") +
                 ")");
  }

  void set_id3_tags() {
    if (options_.title.empty() && options_.comment.empty()) return;
    id3tag_init(lame_);
    id3tag_v2_only(lame_);
    if (!options_.title.empty()) {
      if (is_ascii(options_.title)) {
        id3tag_set_title(lame_, options_.title.c_str());
      } else {
        id3tag_set_textinfo_utf16(lame_, "TIT2", utf16_with_bom(options_.title).data());
      }
    }
    if (!options_.comment.empty()) {
      if (is_ascii(options_.comment)) {
        id3tag_set_comment(lame_, options_.comment.c_str());
      } else {
        const std::vector<unsigned short> empty{0xFEFF, 0};
        id3tag_set_comment_utf16(lame_, "eng", empty.data(), utf16_with_bom(options_.comment).data());
      }
    }
  }

  void write_id3v2() {
    std::vector<unsigned char> tag(1);
    size_t size = lame_get_id3v2_tag(lame_, tag.data(), 0);
    if (size == 0) return;
    tag.resize(size);
    if (lame_get_id3v2_tag(lame_, tag.data(), tag.size()) != size) out_->fail("LAME could not produce the ID3v2 tag");
    out_->write_all(tag.data(), tag.size());
  }

  void write_lame_tag() {
    std::vector<unsigned char> frame(1);
    size_t size = lame_get_lametag_frame(lame_, frame.data(), 0);
    if (size == 0) return;  // LAME decided not to write one
    frame.resize(size);
    if (lame_get_lametag_frame(lame_, frame.data(), frame.size()) != size)
      out_->fail("LAME could not produce the LAME tag frame");
    out_->write_at(frame.data(), frame.size(), tag_offset_);
  }

  std::unique_ptr<AudioOutputFile> out_;
  lame_t lame_ = nullptr;
  off_t tag_offset_ = 0;
  std::vector<float> pcm_;
  std::vector<unsigned char> mp3_;
};

}  // namespace

std::unique_ptr<AudioWriter> make_mp3_writer(const AudioWriteOptions& options, std::unique_ptr<AudioOutputFile> out) {
  return std::make_unique<Mp3Writer>(options, std::move(out));
}

}  // namespace heartmula::io
