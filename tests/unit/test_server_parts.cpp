// heartmula-server's pieces on their own (tools/server/): the request body parser gives the
// song-parameter table's messages and names the field; the queue batches songs with the same
// LM settings, refuses past --max-queue, cancels; keys compare equal only when equal.
#include <gtest/gtest.h>

#include <filesystem>

#include "heartmula/error.h"
#include "runtime/song_params.h"
#include "server/audio_stream.h"
#include "server/http_api.h"
#include "server/song_queue.h"
#include "server/song_request_json.h"

namespace {

using namespace heartmula;
using namespace heartmula::server;

bool parse(const std::string& body, SongSubmission& out, BadField& bad) {
  return parse_song_json(body, "default lyrics", "default tags", out, bad);
}

TEST(ServerRequest, ReadsEveryFieldAndKeepsDefaults) {
  SongSubmission s;
  BadField bad;
  ASSERT_TRUE(parse(R"({"seed": 12, "duration": 2.5, "temperature": 0.7, "topk": 3, "cfg_scale": 2,
                        "codec_steps": 4, "codec_guidance": 1.5, "mp3_bitrate": 128, "ignore_eos": true,
                        "format": "wav", "tags": "rock"})",
                    s, bad))
      << bad.message;
  EXPECT_EQ(s.song.lyrics, "default lyrics");
  EXPECT_EQ(s.song.tags, "rock");
  ASSERT_TRUE(s.song.seed.has_value());
  EXPECT_EQ(*s.song.seed, 12u);
  EXPECT_EQ(s.song.max_audio_length_ms, 2500);
  EXPECT_DOUBLE_EQ(s.song.temperature, 0.7);
  EXPECT_EQ(s.song.topk, 3);
  EXPECT_DOUBLE_EQ(s.song.cfg_scale, 2);
  EXPECT_EQ(s.song.codec_steps, 4);
  EXPECT_EQ(s.song.mp3_bitrate_kbps, 128);
  EXPECT_TRUE(s.song.ignore_eos);
  EXPECT_EQ(s.format, "wav");
  EXPECT_TRUE(s.song.save_path.empty());  // the server names the file, never the request
}

TEST(ServerRequest, SeedIsKeptWhateverTheKeyOrder) {
  SongSubmission s;
  BadField bad;
  ASSERT_TRUE(parse(R"({"seed": 5, "topk": 2, "temperature": 1.0})", s, bad)) << bad.message;
  ASSERT_TRUE(s.song.seed.has_value());
  EXPECT_EQ(*s.song.seed, 5u);
  ASSERT_TRUE(parse(R"({"topk": 2})", s, bad));
  EXPECT_FALSE(s.song.seed.has_value());
}

TEST(ServerRequest, BadNumbersGetTheTablesMessage) {
  SongSubmission s;
  BadField bad;
  ASSERT_FALSE(parse(R"({"topk": 1e20})", s, bad));
  EXPECT_EQ(bad.field, "topk");
  EXPECT_EQ(bad.message, runtime::song_param("topk").error("'topk'", "1e+20"));
  ASSERT_FALSE(parse(R"({"cfg_scale": {"deep": [1]}})", s, bad));
  EXPECT_EQ(bad.field, "cfg_scale");
  EXPECT_EQ(bad.message, runtime::song_param("cfg_scale").error("'cfg_scale'", "an object"));
  ASSERT_FALSE(parse(R"({"codes_out": "x.safetensors"})", s, bad));
  EXPECT_EQ(bad.field, "codes_out");
  ASSERT_FALSE(parse(R"({"lyrics": "a", "output": "/tmp/x.mp3"})", s, bad));
  EXPECT_EQ(bad.field, "output");
  ASSERT_FALSE(parse(std::string(kMaxBodyBytes + 1, ' '), s, bad));
  EXPECT_EQ(bad.field, "");
}

TEST(ServerKeys, EqualOnlyWhenEqual) {
  EXPECT_TRUE(keys_equal("secret", "secret"));
  EXPECT_FALSE(keys_equal("secreT", "secret"));
  EXPECT_FALSE(keys_equal("secret2", "secret"));
  EXPECT_FALSE(keys_equal("secre", "secret"));
  EXPECT_FALSE(keys_equal("", "secret"));
  EXPECT_FALSE(keys_equal("", ""));  // no key configured never matches
  EXPECT_FALSE(keys_equal("secretsecret", "secret"));
}

TEST(ServerHosts, LoopbackOnly) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.1.2.3"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(is_loopback_host("192.168.1.2"));
  EXPECT_FALSE(is_loopback_host("127.example.com"));
  EXPECT_FALSE(is_loopback_host("[::1]"));  // httplib takes the address without brackets
  EXPECT_FALSE(is_loopback_host(""));
}

class ServerQueue : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / ("server-queue-" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string submit(SongQueue& q, double temperature, SongQueue::Submit expect = SongQueue::Submit::accepted) {
    SongRequest r;
    r.temperature = temperature;
    std::string id;
    uint64_t seed = 0;
    EXPECT_EQ(q.submit(r, "mp3", id, seed), expect);
    return id;
  }
  std::string dir_;
};

TEST_F(ServerQueue, BatchesSameSettingsAndRefusesWhenFull) {
  SongQueue q(dir_, 4);
  const std::string a = submit(q, 1.0), b = submit(q, 0.5), c = submit(q, 1.0), d = submit(q, 1.0);
  submit(q, 1.0, SongQueue::Submit::queue_full);
  EXPECT_EQ(q.metrics().rejected, 1u);
  auto status = q.status(a);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state, SongState::queued);
  EXPECT_NE(status->seed, 0u);  // chosen at submission, reported from the start
  // The oldest song and those with its settings, up to max_batch; the others wait.
  auto batch = q.next_batch(2);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].first, a);
  EXPECT_EQ(batch[1].first, c);
  EXPECT_EQ(batch[0].second.save_path, (std::filesystem::path(dir_) / (a + ".mp3")).string());
  // Written while made, every byte final once written (streamed by GET .../audio).
  EXPECT_EQ(batch[0].second.stream, heartmula::StreamMode::automatic);
  EXPECT_FALSE(batch[0].second.mp3_lame_tag);
  EXPECT_EQ(q.status(a)->state, SongState::running);
  EXPECT_EQ(q.metrics().queued, 2u);
  // A running batch stops once every song of it is cancelled.
  const std::vector<std::string> ids = {a, c};
  EXPECT_FALSE(q.should_stop(ids));
  EXPECT_FALSE(q.cancel_requested(a));
  EXPECT_EQ(q.cancel(a), SongQueue::Cancel::stopping);
  EXPECT_TRUE(q.cancel_requested(a));  // its batch's SongStopFn: a stops alone
  EXPECT_FALSE(q.cancel_requested(c));
  EXPECT_FALSE(q.should_stop(ids));
  EXPECT_EQ(q.cancel(c), SongQueue::Cancel::stopping);
  EXPECT_TRUE(q.should_stop(ids));
  // A queued song is removed.
  EXPECT_EQ(q.cancel(d), SongQueue::Cancel::removed);
  EXPECT_EQ(q.status(d)->state, SongState::cancelled);
  EXPECT_EQ(q.cancel("0000000000000000"), SongQueue::Cancel::not_found);
  batch = q.next_batch(4);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].first, b);
  // Shutdown: next_batch() gives nothing, submissions are refused.
  std::vector<std::string> queued, running;
  q.shutdown(queued, running);
  EXPECT_TRUE(q.next_batch(4).empty());
  submit(q, 1.0, SongQueue::Submit::shutting_down);
}

TEST_F(ServerQueue, InvalidRequestIsRefusedBeforeQueueing) {
  SongQueue q(dir_, 4);
  SongRequest r;
  r.topk = 0;
  std::string id;
  uint64_t seed = 0;
  EXPECT_THROW(q.submit(r, "mp3", id, seed), UsageError);
  EXPECT_EQ(q.metrics().queued, 0u);
  // The model's check (Generator::check in the server) refuses a song alone.
  SongQueue checked(dir_, 4, [](const SongRequest& s) {
    if (s.max_audio_length_ms > 1000) throw UsageError("does not fit");
  });
  SongRequest ok;
  ok.max_audio_length_ms = 1000;
  EXPECT_EQ(checked.submit(ok, "wav", id, seed), SongQueue::Submit::accepted);
  SongRequest too_long;
  too_long.max_audio_length_ms = 2000;
  EXPECT_THROW(checked.submit(too_long, "wav", id, seed), UsageError);
  EXPECT_EQ(checked.metrics().queued, 1u);
}

}  // namespace

// Where a WAV file's samples start, from its first bytes (a growing file: 0 until the data
// chunk's header is in).
TEST(ServerAudioStream, FindsTheWavDataChunk) {
  using heartmula::server::wav_data_offset;
  auto le32 = [](uint32_t v) {
    std::string b;
    for (int k = 0; k < 4; ++k) b += static_cast<char>(v >> (8 * k));
    return b;
  };
  const std::string fmt = "fmt " + le32(16) + std::string(16, '\1');
  const std::string list = "LIST" + le32(5) + "INFOx" + std::string(1, '\0');  // odd size: padded
  const std::string head = "RIFF" + le32(0) + "WAVE" + fmt + list + "data" + le32(0);
  const std::vector<char> bytes(head.begin(), head.end());
  size_t size_at = 0;
  EXPECT_EQ(wav_data_offset(bytes, &size_at), head.size());
  EXPECT_EQ(size_at, head.size() - 4);
  EXPECT_EQ(wav_data_offset(std::vector<char>(bytes.begin(), bytes.end() - 8), &size_at), 0u);
  EXPECT_EQ(wav_data_offset(std::vector<char>(bytes.begin(), bytes.begin() + 6), &size_at), 0u);
  std::vector<char> bad = bytes;
  bad[0] = 'X';
  EXPECT_THROW(wav_data_offset(bad, &size_at), heartmula::Error);
}
