// GET /v1/songs/{id}/audio of a running song: a chunked body that follows the song's audio file
// while the worker writes it (docs/server.md). The file is found by the song's id only: the
// writer's temp file "<output_dir>/.<id>.<format>.partXXXXXX" (io/audio_output_file.h) while
// it grows, then "<output_dir>/<id>.<format>". httplib stays out of this header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace httplib {
class Response;
}

namespace heartmula::server {

class SongQueue;

// Answers `res` with the song's audio, chunked, from its first byte until its file is complete
// (done, or cancelled and saved as partial); a song that fails meanwhile ends the body without
// its last chunk (the client sees an incomplete body). MP3: the bytes of the final file (the
// server writes MP3 without the LAME tag frame). WAV: the final file's bytes except its RIFF
// and data sizes, 0xFFFFFFFF ("unknown", as heartmula-gen writes WAV to stdout).
void send_growing_audio(httplib::Response& res, SongQueue& queue, const std::string& id, const std::string& format,
                        bool download);

// WAV: the offset just past the data chunk's header (where the samples start) in the file's
// first bytes, or 0 when those bytes do not reach it yet. Throws Error when they are not
// RIFF/WAVE. *data_size_at: the offset of the data chunk's size field.
size_t wav_data_offset(const std::vector<char>& head, size_t* data_size_at);

}  // namespace heartmula::server
