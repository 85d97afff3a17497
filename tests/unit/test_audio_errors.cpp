// Errors of the audio writer: options, paths, no half files, write failures.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "heartmula/error.h"
#include "io/atomic_file.h"
#include "io/audio_output_file.h"
#include "io/audio_writer.h"
#include "io/temp_files.h"
#include "test_audio_util.h"

namespace heartmula::io {
namespace {

using test::TempDir;

// The message of the Error `fn` throws ("" and a failure if it throws none).
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return "";
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
std::string read_text(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(AudioOptions, ValidateNamesOptionAndValue) {
  AudioWriteOptions o;
  EXPECT_NO_THROW(o.validate());
  o.mp3_bitrate_kbps = 500;
  std::string m = error_of([&] { o.validate(); });
  EXPECT_NE(m.find("mp3_bitrate_kbps"), std::string::npos) << m;
  EXPECT_NE(m.find("500"), std::string::npos) << m;
  EXPECT_THROW(o.validate(), UsageError);
  o = AudioWriteOptions{};
  o.mp3_vbr_quality = 10;
  m = error_of([&] { o.validate(); });
  EXPECT_NE(m.find("mp3_vbr_quality"), std::string::npos) << m;
  o = AudioWriteOptions{};
  o.channels = 3;
  EXPECT_THROW(o.validate(), UsageError);
  o = AudioWriteOptions{};
  o.pcm_bits = 8;
  EXPECT_THROW(o.validate(), UsageError);
  o = AudioWriteOptions{};
  o.mp3_bitrate_kbps = 8;
  o.mp3_vbr_quality = 0;
  EXPECT_NO_THROW(o.validate());
}

TEST(AudioPaths, FormatFromExtension) {
  EXPECT_EQ(format_from_path("a/b.mp3"), AudioFormat::Mp3);
  EXPECT_EQ(format_from_path("B.WaV"), AudioFormat::Wav);
  EXPECT_EQ(format_from_path("x.flac"), AudioFormat::Flac);
  EXPECT_EQ(format_from_path("x.tar.Ogg"), AudioFormat::Ogg);
  std::string m = error_of([] { format_from_path("song.aac"); });
  EXPECT_NE(m.find("song.aac"), std::string::npos) << m;
  EXPECT_NE(m.find(".mp3, .wav, .flac, .ogg"), std::string::npos) << m;
  m = error_of([] { format_from_path("song"); });
  EXPECT_NE(m.find("song"), std::string::npos) << m;
  m = error_of([] { format_from_path("-"); });
  EXPECT_NE(m.find("stdout"), std::string::npos) << m;
}

TEST(AudioPaths, CheckOutputPath) {
  TempDir dir;
  EXPECT_NO_THROW(check_output_path(dir.file("new.wav"), false));
  std::string m = error_of([&] { check_output_path(dir.file("missing/x.wav"), false); });
  EXPECT_NE(m.find("missing"), std::string::npos) << m;
  EXPECT_NE(m.find("does not exist"), std::string::npos) << m;
  m = error_of([&] { check_output_path(dir.file("x.aiff"), false); });
  EXPECT_NE(m.find("x.aiff"), std::string::npos) << m;

  write_text(dir.file("old.mp3"), "keep me");
  m = error_of([&] { check_output_path(dir.file("old.mp3"), false); });
  EXPECT_NE(m.find("old.mp3"), std::string::npos) << m;
  EXPECT_NE(m.find("exists"), std::string::npos) << m;
  EXPECT_NO_THROW(check_output_path(dir.file("old.mp3"), true));
  m = error_of([&] { AudioWriter::open(dir.file("old.mp3"), AudioWriteOptions{}, false); });
  EXPECT_NE(m.find("exists"), std::string::npos) << m;
  EXPECT_EQ(read_text(dir.file("old.mp3")), "keep me");

  write_text(dir.file("file"), "");
  m = error_of([&] { check_output_path(dir.file("file/x.wav"), false); });
  EXPECT_NE(m.find("not a folder"), std::string::npos) << m;

  // A read-only folder. access(2) grants root everything (CI runs as root), so the check runs in
  // a child process that, when root, first drops to nobody (65534); it exits 0 when the error
  // names the folder as not writable.
  const std::string ro = dir.file("ro");
  ASSERT_EQ(mkdir(ro.c_str(), 0555), 0);
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);  // nobody must reach ro/
  EXPECT_EXIT(
      {
        if (geteuid() == 0 && (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
          std::fprintf(stderr, "cannot drop root privileges to test a read-only folder\n");
          std::_Exit(3);
        }
        std::string msg = "no Error thrown";
        try {
          check_output_path(ro + "/x.wav", false);
        } catch (const Error& e) {
          msg = e.what();
        }
        std::fprintf(stderr, "%s\n", msg.c_str());
        std::_Exit(msg.find("not writable") != std::string::npos && msg.find(ro) != std::string::npos ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "is not writable");
}

TEST(AudioNoHalfFiles, DestroyWithoutFinishLeavesNothing) {
  TempDir dir;
  const std::vector<float> planar = test::test_signal(48000, 4800);
  for (const char* name : {"a.mp3", "a.wav", "a.flac", "a.ogg"}) {
    auto w = AudioWriter::open(dir.file(name), AudioWriteOptions{}, false);
    w->write_planar(planar.data(), planar.data() + 4800, 4800);
    ASSERT_EQ(dir.entries().size(), 1u) << "one temp file while writing " << name;
    EXPECT_EQ(dir.entries()[0].rfind(std::string(".") + name + ".part", 0), 0u) << dir.entries()[0];
  }  // destroyed without finish()
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AudioNoHalfFiles, WriteOrFinishAfterFinishIsAnError) {
  TempDir dir;
  auto w = AudioWriter::open(dir.file("x.ogg"), AudioWriteOptions{}, false);
  w->finish();
  const float s[2] = {0, 0};
  EXPECT_THROW(w->write(s, 1), Error);
  EXPECT_THROW(w->finish(), Error);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"x.ogg"});
}

TEST(AudioNoHalfFiles, DestinationAppearingMeanwhileIsNotReplaced) {
  TempDir dir;
  auto w = AudioWriter::open(dir.file("race.wav"), AudioWriteOptions{}, false);
  write_text(dir.file("race.wav"), "someone else's");
  std::string m = error_of([&] { w->finish(); });
  EXPECT_NE(m.find("race.wav"), std::string::npos) << m;
  w.reset();
  EXPECT_EQ(read_text(dir.file("race.wav")), "someone else's");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"race.wav"});
}

TEST(AudioNoHalfFiles, Mp3RejectsNonMpegRate) {
  TempDir dir;
  AudioWriteOptions o;
  o.sample_rate = 96000;
  std::string m = error_of([&] { AudioWriter::open(dir.file("x.mp3"), o, false); });
  EXPECT_NE(m.find("96000"), std::string::npos) << m;
  EXPECT_TRUE(dir.entries().empty());
}

// Child-process body for the test below: writes `frames` frames under a file size limit of
// `limit` bytes; exits 0 if an Error was thrown and no file was left behind.
void write_under_size_limit(const TempDir& dir, const std::string& path, const std::vector<float>& planar,
                            size_t frames, rlim_t limit) {
  std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim;
  lim.rlim_cur = lim.rlim_max = limit;
  setrlimit(RLIMIT_FSIZE, &lim);
  try {
    write_audio_file(path, planar.data(), frames, AudioWriteOptions{}, false);
  } catch (const Error& e) {
    std::fprintf(stderr, "caught: %s\n", e.what());
    std::_Exit(dir.entries().empty() ? 0 : 5);
  }
  std::_Exit(6);
}

// A full disk, simulated with RLIMIT_FSIZE in a child process: every format must report the
// failed write with the destination path and leave no file behind, whether the write fails
// early (4000 bytes: in the header or the first samples) or at the very end (50 bytes short
// of the full size: the encoder's final flush in finish()).
TEST(AudioWriteErrors, FileSizeLimitIsReportedWithPath) {
  TempDir dir;
  const size_t frames = 72000;
  const std::vector<float> planar = test::test_signal(48000, frames);
  for (const char* name : {"full.wav", "full.flac", "full.ogg", "full.mp3"}) {
    const std::string path = dir.file(name);
    write_audio_file(path, planar.data(), frames, AudioWriteOptions{}, false);
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    ASSERT_EQ(unlink(path.c_str()), 0);
    for (rlim_t limit : {rlim_t{4000}, static_cast<rlim_t>(st.st_size) - 50}) {
      EXPECT_EXIT(write_under_size_limit(dir, path, planar, frames, limit), ::testing::ExitedWithCode(0),
                  std::string("caught: writing '.*") + name + "'.*File too large")
          << name << " limit " << limit;
    }
  }
  EXPECT_TRUE(dir.entries().empty());
}

// heartmula-gen's second Ctrl-C exits from its signal handler without unwinding: the temp files
// being written are removed by unlink_temp_files_for_abort(), and only those (a committed file,
// or one whose writer is gone, is not touched).
TEST(AudioErrors, AnAbortRemovesTheTempFilesBeingWrittenAndNothingElse) {
  TempDir dir;
  auto audio = AudioOutputFile::create_temp_for(dir.file("song.wav"), false);
  audio->write_all("RIFF", 4);
  AtomicFileWriter sidecar(dir.file("song.json"));
  sidecar.write("{", 1);
  write_file_atomically(dir.file("done.json"), "{}", 2);
  {
    auto gone = AudioOutputFile::create_temp_for(dir.file("gone.wav"), false);  // destroyed: unregistered
  }
  ASSERT_EQ(dir.entries().size(), 3u);  // done.json and the two temp files
  unlink_temp_files_for_abort();
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"done.json"});
  unlink_temp_files_for_abort();  // again: nothing left to remove, no harm
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"done.json"});
}

}  // namespace
}  // namespace heartmula::io
