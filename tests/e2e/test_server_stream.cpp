// heartmula-server end to end: a running song's audio read while it is made, and one song of a
// running batch cancelled alone (tiny checkpoint, CPU).
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "server_test_util.h"

namespace {

using Json = nlohmann::json;
using namespace heartmula::test;

// GET .../audio of a running song follows its file as the window decoder writes it: MP3 byte for
// byte the final file, WAV the final file with its RIFF and data sizes 0xFFFFFFFF; a song
// cancelled while a client reads it ends the body cleanly with its partial file. A request with
// "Range: bytes=0-" (what Chromium's <audio> sends) gets the same: 200 and the whole body (a 206
// without Content-Range, httplib's answer before, made the browser fail).
TEST_F(ServerTest, AudioIsStreamedWhileTheSongIsMade) {
  Server srv(ckpt_, out_.path(), logs_.path(), {"--max-batch", "2"});
  ASSERT_TRUE(srv.started()) << srv.stderr_text();
  Json mp3 = kLongSong, wav = kLongSong;
  mp3["format"] = "mp3";
  wav["format"] = "wav";
  const std::vector<std::string> ids = run_as_one_batch(srv, {mp3, wav});
  ASSERT_EQ(ids.size(), 2u);
  Streamed got[2];
  {
    std::thread mp3([&] { got[0] = stream_audio(srv.port(), ids[0], {}, {{"Range", "bytes=0-"}}); });
    got[1] = stream_audio(srv.port(), ids[1]);
    mp3.join();
  }
  for (size_t k = 0; k < 2; ++k) {
    SCOPED_TRACE(ids[k]);
    const Json st = srv.status(ids[k]);
    ASSERT_EQ(st["state"], "done") << st.dump();
    EXPECT_TRUE(got[k].ok);
    EXPECT_EQ(got[k].status, 200);
    EXPECT_EQ(got[k].transfer_encoding, "chunked");
    EXPECT_EQ(got[k].content_range, "");
    // The first bytes came while the song was still being made.
    EXPECT_EQ(got[k].state_at_first_byte, "running");
  }
  const std::string mp3_file = read_file(out_.file(ids[0] + ".mp3"));
  ASSERT_FALSE(mp3_file.empty());
  EXPECT_TRUE(got[0].body == mp3_file) << "streamed " << got[0].body.size() << " bytes, the file has "
                                       << mp3_file.size();
  std::string wav_file = read_file(out_.file(ids[1] + ".wav"));
  size_t data_size_at = 0;
  const size_t samples_at = wav_samples_at(wav_file, data_size_at);
  ASSERT_GT(samples_at, 0u);
  ASSERT_GT(wav_file.size(), samples_at);
  wav_file.replace(4, 4, std::string(4, '\xff'));
  wav_file.replace(data_size_at, 4, std::string(4, '\xff'));
  EXPECT_TRUE(got[1].body == wav_file) << "streamed " << got[1].body.size() << " bytes, the file has "
                                       << wav_file.size();

  // Cancelled while a client reads it: the body ends cleanly, with the partial file.
  auto c = srv.post_song(kLongSong);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->status, 202) << c->body;
  const std::string id_c = Json::parse(c->body)["id"];
  ASSERT_TRUE(srv.wait_state(id_c, {"running"}, 60).is_object()) << srv.stderr_text();
  httplib::Client canceller("127.0.0.1", srv.port());
  const Streamed part = stream_audio(srv.port(), id_c, [&] { canceller.Delete(("/v1/songs/" + id_c).c_str()); });
  EXPECT_TRUE(part.ok);
  EXPECT_EQ(part.status, 200);
  EXPECT_EQ(part.state_at_first_byte, "running");
  const Json st = srv.status(id_c);
  EXPECT_EQ(st["state"], "cancelled") << st.dump();
  EXPECT_EQ(st["partial"], true) << st.dump();
  EXPECT_EQ(part.body, read_file(out_.file(id_c + ".mp3")));
}

// DELETE of one song of a running batch of two stops it alone at its next frame (partial, saved);
// the other song goes on and is byte for byte what heartmula-gen writes for it alone.
TEST_F(ServerTest, CancellingOneSongOfABatchLeavesTheOtherUnchanged) {
  Server srv(ckpt_, out_.path(), logs_.path(), {"--max-batch", "2"});
  ASSERT_TRUE(srv.started()) << srv.stderr_text();
  const Json kept = {{"lyrics", "la la la"}, {"tags", "piano"}, {"duration", 20},
                     {"ignore_eos", true},   {"seed", 5},       {"codec_steps", 1}};
  const std::vector<std::string> ids = run_as_one_batch(srv, {kLongSong, kept});
  ASSERT_EQ(ids.size(), 2u);
  auto del = srv.client().Delete(("/v1/songs/" + ids[0]).c_str());
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 200) << del->body;
  const Json cut = srv.wait_state(ids[0], {"done", "failed", "cancelled"});
  const Json other = srv.wait_state(ids[1], {"done", "failed", "cancelled"});
  ASSERT_TRUE(cut.is_object() && other.is_object()) << srv.stderr_text();
  EXPECT_EQ(cut["state"], "cancelled") << cut.dump();
  EXPECT_EQ(cut["partial"], true) << cut.dump();
  EXPECT_EQ(cut["batch_songs"], 2) << cut.dump();
  ASSERT_EQ(other["state"], "done") << other.dump();
  EXPECT_EQ(other["partial"], false) << other.dump();
  EXPECT_EQ(other["batch_songs"], 2) << other.dump();
  // The cancelled song stopped before the other's end: the batch went on without it.
  EXPECT_LT(cut["progress"]["frames"].get<int64_t>(), other["progress"]["frames"].get<int64_t>()) << cut.dump();
  EXPECT_EQ(other["progress"]["frames"], other["progress"]["frames_planned"]) << other.dump();
  EXPECT_FALSE(read_file(out_.file(ids[0] + ".mp3")).empty());
  const GenResult g =
      run_gen({"--model-path", ckpt_, "--threads", "1", "--lyrics", "la la la", "--tags", "piano", "--duration", "20",
               "--ignore-eos", "--seed", "5", "--codec-steps", "1", "-o", "-", "-q"},
              logs_.path(), logs_.path());
  ASSERT_EQ(g.code, 0) << g.err;
  ASSERT_FALSE(g.out.empty());
  EXPECT_TRUE(g.out == read_file(out_.file(ids[1] + ".mp3")))
      << "the song beside the cancelled one differs from heartmula-gen's";
}

}  // namespace
