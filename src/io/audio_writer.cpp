#include "io/audio_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "heartmula/error.h"
#include "io/audio_backends.h"
#include "io/audio_output_file.h"
#include "io/audio_pcm.h"

namespace heartmula::io {
namespace {

constexpr const char* kSupportedExtensions = ".mp3, .wav, .flac, .ogg";

void require(bool ok, const std::string& option, const std::string& rule, const std::string& given) {
  if (!ok) throw UsageError(option + " must be " + rule + ". Given: " + given);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

const char* audio_format_name(AudioFormat format) {
  switch (format) {
    case AudioFormat::Mp3:
      return "mp3";
    case AudioFormat::Wav:
      return "wav";
    case AudioFormat::Flac:
      return "flac";
    case AudioFormat::Ogg:
      return "ogg";
  }
  return "?";
}

void AudioWriteOptions::validate() const {
  require(sample_rate >= 8000 && sample_rate <= 384000, "sample_rate", "in 8000..384000 Hz",
          std::to_string(sample_rate));
  require(channels == 1 || channels == 2, "channels", "1 or 2", std::to_string(channels));
  require(mp3_bitrate_kbps >= 8 && mp3_bitrate_kbps <= 320, "mp3_bitrate_kbps", "in 8..320",
          std::to_string(mp3_bitrate_kbps));
  require(mp3_vbr_quality >= 0 && mp3_vbr_quality <= 9, "mp3_vbr_quality", "in 0..9", std::to_string(mp3_vbr_quality));
  require(pcm_bits == 16 || pcm_bits == 24, "pcm_bits", "16 or 24", std::to_string(pcm_bits));
  require(ogg_quality >= 0.0 && ogg_quality <= 1.0, "ogg_quality", "in 0.0..1.0", std::to_string(ogg_quality));
}

AudioFormat format_from_path(const std::string& path) {
  if (path == "-") throw Error("output '-' (stdout) has no extension: the audio format must be given explicitly");
  const std::string ext = lower(std::filesystem::path(path).extension().string());
  if (ext == ".mp3") return AudioFormat::Mp3;
  if (ext == ".wav") return AudioFormat::Wav;
  if (ext == ".flac") return AudioFormat::Flac;
  if (ext == ".ogg") return AudioFormat::Ogg;
  throw Error("cannot tell the audio format of output '" + path + "' from its extension" +
              (ext.empty() ? std::string(" (it has none)") : " '" + ext + "'") +
              "; supported: " + kSupportedExtensions);
}

void check_output_path(const std::string& path, bool overwrite) {
  if (path.empty()) throw Error("the output path is empty");
  format_from_path(path);
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0)
    throw Error("folder '" + dir + "' of output '" + path + "' does not exist (" + std::strerror(errno) + ")");
  if (!S_ISDIR(st.st_mode)) throw Error("'" + dir + "' (folder of output '" + path + "') is not a folder");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw Error("folder '" + dir + "' of output '" + path + "' is not writable (" + std::strerror(errno) + ")");
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw Error("output '" + path + "' is a folder");
    if (!overwrite)
      throw Error("output file '" + path +
                  "' exists already; not replacing it (allow overwriting, or choose another path)");
  }
}

AudioWriter::AudioWriter(AudioFormat format, AudioWriteOptions options, std::string path)
    : format_(format), options_(std::move(options)), path_(std::move(path)) {}

AudioWriter::~AudioWriter() = default;

void AudioWriter::check_open(const char* what) const {
  if (closed_) throw Error(std::string(what) + "() on audio writer for '" + path_ + "' after finish() was called");
}

void AudioWriter::write_planar(const float* left, const float* right, size_t frames) {
  if (options_.channels != 2)
    throw Error("write_planar() needs 2 channels; the writer for '" + path_ + "' has " +
                std::to_string(options_.channels));
  constexpr size_t kChunk = 8192;
  std::vector<float> buf(std::min(frames, kChunk) * 2);
  for (size_t done = 0; done < frames; done += kChunk) {
    const size_t n = std::min(kChunk, frames - done);
    interleave_stereo(left + done, right + done, n, buf.data());
    write(buf.data(), n);
  }
}

std::unique_ptr<AudioWriter> AudioWriter::open(const std::string& path, const AudioWriteOptions& options,
                                               bool overwrite) {
  options.validate();
  check_output_path(path, overwrite);
  const AudioFormat format = format_from_path(path);
  auto out = AudioOutputFile::create_temp_for(path, overwrite);
  if (format == AudioFormat::Mp3) return make_mp3_writer(options, std::move(out));
  return make_sndfile_writer(format, options, std::move(out));
}

std::unique_ptr<AudioWriter> AudioWriter::open_stdout(AudioFormat format, const AudioWriteOptions& options) {
  options.validate();
  if (format == AudioFormat::Mp3) return make_mp3_writer(options, AudioOutputFile::stdout_stream());
  if (format == AudioFormat::Wav) return make_wav_stream_writer(options, AudioOutputFile::stdout_stream());
  throw UsageError(std::string("format ") + audio_format_name(format) +
                   " cannot be streamed to stdout (it needs a seekable file); use mp3 or wav");
}

void write_audio_file(const std::string& path, const float* planar_lr, size_t frames_per_channel,
                      const AudioWriteOptions& options, bool overwrite) {
  if (options.channels != 2)
    throw UsageError("write_audio_file() writes planar stereo; channels must be 2. Given: " +
                     std::to_string(options.channels));
  auto writer = AudioWriter::open(path, options, overwrite);
  writer->write_planar(planar_lr, planar_lr + frames_per_channel, frames_per_channel);
  writer->finish();
}

}  // namespace heartmula::io
