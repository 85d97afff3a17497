// Concrete AudioWriter implementations, created by AudioWriter::open / open_stdout.
// Internal to src/io. Each takes options already validated and owns its output.
#pragma once

#include <memory>

#include "io/audio_output_file.h"
#include "io/audio_writer.h"

namespace heartmula::io {

// WAV / FLAC / OGG through libsndfile; `out` must be seekable.
std::unique_ptr<AudioWriter> make_sndfile_writer(AudioFormat format, const AudioWriteOptions& options,
                                                 std::unique_ptr<AudioOutputFile> out);

// MP3 through LAME. With a seekable `out` the LAME/Xing tag (length, encoder delay and padding
// for gapless decoding) is written into the first frame on finish().
std::unique_ptr<AudioWriter> make_mp3_writer(const AudioWriteOptions& options, std::unique_ptr<AudioOutputFile> out);

// WAV written by hand with 0xFFFFFFFF ("unknown") sizes, for streams.
std::unique_ptr<AudioWriter> make_wav_stream_writer(const AudioWriteOptions& options,
                                                    std::unique_ptr<AudioOutputFile> out);

}  // namespace heartmula::io
