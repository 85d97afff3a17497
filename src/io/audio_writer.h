// Writing float PCM to MP3 (LAME), WAV, FLAC and OGG/Vorbis (libsndfile).
//
// Writers are incremental (a caller can stream frames as they are decoded) and never leave a
// half-written file at the destination: data goes to "<dir>/.<name>.partXXXXXX" in the same
// folder and is fsync'ed and renamed onto the destination path by finish(). A writer destroyed
// without finish() (an exception, an early return) removes its temp file. See docs/audio.md.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace heartmula::io {

enum class AudioFormat { Mp3, Wav, Flac, Ogg };

// Lower-case name of a format: "mp3", "wav", "flac", "ogg".
const char* audio_format_name(AudioFormat format);

struct AudioWriteOptions {
  int sample_rate = 48000;     // Hz, 8000..384000 (MP3: one of LAME's MPEG rates, <= 48000)
  int channels = 2;            // 1 or 2
  int mp3_bitrate_kbps = 320;  // CBR bitrate, 8..320 (LAME rounds to a legal MPEG bitrate)
  bool mp3_vbr = false;        // VBR instead of CBR
  int mp3_vbr_quality = 2;     // 0 (best) .. 9 (smallest), used when mp3_vbr
  int pcm_bits = 16;           // WAV / FLAC sample size: 16 or 24
  double ogg_quality = 0.6;    // Vorbis VBR quality, 0.0 (smallest) .. 1.0 (best)
  // MP3 to a file: reserve the LAME/Info tag frame after the ID3v2 tag and fill it in on
  // finish() (length, encoder delay and padding for gapless decoders). false: no tag frame, as
  // on stdout: every byte is final once written, so the file can be read while it grows
  // (heartmula-server streams it; the bytes equal those heartmula-gen writes to stdout).
  bool mp3_lame_tag = true;
  std::string title, comment;  // ID3v2 tags (MP3) or libsndfile strings (others); UTF-8

  // Throws UsageError naming the option and its value.
  void validate() const;
};

// Format from the path's extension (.mp3 .wav .flac .ogg, case-insensitive).
// Unknown extension -> Error naming the path and listing the supported extensions.
// "-" (stdout) -> Error: the caller must give the format explicitly.
AudioFormat format_from_path(const std::string& path);

// Checks, before any expensive work, that `path` can be written: its extension is known, its
// folder exists and is writable, and it does not exist already unless `overwrite`. Throws Error.
void check_output_path(const std::string& path, bool overwrite);

// Incremental audio writer. Samples are floats in about [-1, 1]; values outside are clipped
// (never wrapped) and NaN is written as 0.
class AudioWriter {
 public:
  // A writer for `path` (format from its extension). check_output_path() is applied first.
  static std::unique_ptr<AudioWriter> open(const std::string& path, const AudioWriteOptions& options, bool overwrite);
  // A writer streaming to stdout: Mp3, or Wav (16/24-bit PCM with 0xFFFFFFFF "unknown" sizes
  // in its header). Other formats need a seekable file -> Error.
  static std::unique_ptr<AudioWriter> open_stdout(AudioFormat format, const AudioWriteOptions& options);

  AudioWriter(const AudioWriter&) = delete;
  AudioWriter& operator=(const AudioWriter&) = delete;
  // If finish() was not called (or failed), removes the temp file: no half files.
  virtual ~AudioWriter();

  // Appends `frames` frames of interleaved samples [frames, channels] (L R L R ...).
  // Throws Error naming the path on any encoder or write error.
  virtual void write(const float* interleaved, size_t frames) = 0;
  // Appends `frames` frames given as two planes; needs channels == 2.
  void write_planar(const float* left, const float* right, size_t frames);
  // Flushes the encoder, closes, fsyncs and renames into place. After it returns the file at
  // the destination path is complete. Calling write() or finish() afterwards is an Error; so is
  // calling them after finish() threw (the temp file is then removed by the destructor).
  virtual void finish() = 0;

  AudioFormat format() const { return format_; }
  const AudioWriteOptions& options() const { return options_; }
  // Destination path, or "<stdout>".
  const std::string& path() const { return path_; }
  // Frames written so far (per channel).
  size_t frames_written() const { return frames_written_; }

 protected:
  AudioWriter(AudioFormat format, AudioWriteOptions options, std::string path);
  // Throws Error if finish() has been called already; used by write() and finish().
  // Implementations set closed_ when finish() starts: a failed finish() cannot be retried.
  void check_open(const char* what) const;

  AudioFormat format_;
  AudioWriteOptions options_;
  std::string path_;
  size_t frames_written_ = 0;
  bool closed_ = false;
};

// One-shot: writes planar stereo samples [2, frames_per_channel] (row-major: all of the left
// channel, then all of the right) to `path`. options.channels must be 2.
void write_audio_file(const std::string& path, const float* planar_lr, size_t frames_per_channel,
                      const AudioWriteOptions& options, bool overwrite);

}  // namespace heartmula::io
