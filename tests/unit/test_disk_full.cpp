// The audio writer's stdout mode (what `-o -` streams through) with stdout on /dev/full, where
// every write fails with ENOSPC: the writer must throw heartmula::Error naming "<stdout>" and
// the system error, for WAV and MP3, whether the failure comes on the first write or at the
// final flush; a tool would then exit non-zero. Runs in a child process (death-test style).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string>

#include "heartmula/error.h"
#include "io/audio_writer.h"
#include "test_audio_util.h"

namespace heartmula::io {
namespace {

// Child body: stdout -> /dev/full, write `frames` frames in `format`; exits 0 if an Error was
// thrown (message printed as "caught: ..."), 6 if everything "succeeded".
void write_to_full_stdout(AudioFormat format, size_t frames) {
  std::signal(SIGPIPE, SIG_IGN);
  const int fd = ::open("/dev/full", O_WRONLY);
  if (fd < 0 || ::dup2(fd, STDOUT_FILENO) < 0) std::_Exit(3);
  const std::vector<float> planar = test::test_signal(48000, frames);
  try {
    auto w = AudioWriter::open_stdout(format, AudioWriteOptions{});
    w->write_planar(planar.data(), planar.data() + frames, frames);
    w->finish();
  } catch (const Error& e) {
    std::fprintf(stderr, "caught: %s\n", e.what());
    std::_Exit(0);
  }
  std::_Exit(6);
}

TEST(DiskFull, StdoutOnDevFullIsAnErrorNamingStdout) {
  for (AudioFormat f : {AudioFormat::Wav, AudioFormat::Mp3}) {
    for (size_t frames : {size_t{10}, size_t{480000}}) {  // tiny: fails at finish(); 10 s: mid-stream
      EXPECT_EXIT(write_to_full_stdout(f, frames), ::testing::ExitedWithCode(0),
                  "caught: .*<stdout>.*No space left on device")
          << audio_format_name(f) << ", " << frames << " frames";
    }
  }
}

// A regular file can not be on /dev/full, but its own writes can fail the same way: the temp
// file beside the destination is what is written, so /dev/full as the destination is refused
// up front (it is not a regular file), never written through nor replaced.
TEST(DiskFull, DevFullAsDestinationIsRefused) {
  try {
    write_audio_file("/dev/full", nullptr, 0, AudioWriteOptions{}, true);
    ADD_FAILURE() << "no Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/full"), std::string::npos) << e.what();
  }
  EXPECT_EQ(::access("/dev/full", W_OK), 0);
}

}  // namespace
}  // namespace heartmula::io
