// heartmula-server end to end: 50 concurrent clients on loopback (ctest e2e_server_clients).
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <set>
#include <thread>

#include "server_test_util.h"

namespace {

using Json = nlohmann::json;
using namespace heartmula::test;

// 50 clients at once on loopback, each posting a short song, waiting until it runs or is done,
// and reading its audio (streamed while it is made, or the finished file): every song is
// delivered once, to its client, intact (the bytes of its file), within a limit.
TEST_F(ServerTest, FiftyConcurrentClients) {
  constexpr int kClients = 50;
  Server srv(ckpt_, out_.path(), logs_.path(), {"--max-queue", "64", "--max-batch", "16", "-q"});
  ASSERT_TRUE(srv.started()) << srv.stderr_text();
  struct Client {
    std::string id, format, error;
    int audio_status = 0;
    std::string body;
  };
  std::vector<Client> clients(kClients);
  const double deadline = now_s() + 240;  // for all of them
  std::vector<std::thread> threads;
  for (int k = 0; k < kClients; ++k)
    threads.emplace_back([&, k] {
      Client& me = clients[static_cast<size_t>(k)];
      me.format = k % 5 == 4 ? "wav" : "mp3";
      httplib::Client c("127.0.0.1", srv.port());
      c.set_read_timeout(240);
      const Json body = {{"lyrics", "la la " + std::to_string(k)},
                         {"tags", "piano"},
                         {"duration", 0.4},
                         {"seed", 100 + k},
                         {"codec_steps", 1},
                         {"format", me.format}};
      auto r = c.Post("/v1/songs", body.dump(), "application/json");
      if (!r || r->status != 202) {
        me.error = "POST: " + (r ? std::to_string(r->status) + " " + r->body : httplib::to_string(r.error())) +
                   " after " + std::to_string(now_s() - deadline + 240) + " s";
        return;
      }
      me.id = Json::parse(r->body)["id"];
      std::string state;
      while (now_s() < deadline) {
        auto st = c.Get(("/v1/songs/" + me.id).c_str());
        if (st && st->status == 200) state = Json::parse(st->body)["state"];
        if (state != "queued") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // 50 clients: ~170 requests/s
      }
      if (state != "running" && state != "done") {
        me.error = "state " + state;
        return;
      }
      auto a = c.Get(("/v1/songs/" + me.id + "/audio").c_str());
      if (!a) {
        me.error = "GET audio: no complete answer";
        return;
      }
      me.audio_status = a->status;
      me.body = a->body;
    });
  for (auto& t : threads) t.join();
  std::set<std::string> ids;
  for (const Client& me : clients) {
    SCOPED_TRACE(me.id);
    ASSERT_TRUE(me.error.empty()) << me.error << "\n" << srv.stderr_text();
    EXPECT_EQ(me.audio_status, 200);
    ASSERT_TRUE(ids.insert(me.id).second) << "two clients got the same song";
    std::string file = read_file(out_.file(me.id + "." + me.format));
    ASSERT_FALSE(file.empty());
    if (me.format == "wav" && me.body != file) {  // read while made: sizes unknown in the header
      size_t data_size_at = 0;
      ASSERT_GT(wav_samples_at(file, data_size_at), 0u);
      file.replace(4, 4, std::string(4, '\xff'));
      file.replace(data_size_at, 4, std::string(4, '\xff'));
    }
    EXPECT_TRUE(me.body == file) << me.format << ": got " << me.body.size() << " bytes, the file has " << file.size();
  }
  // Nothing else was made: one audio file and one sidecar per song.
  // (The sidecars of the last batch are written once it ends.)
  size_t files = 0;
  poll_until(
      [&] {
        files = 0;
        for (const auto& e : std::filesystem::directory_iterator(out_.path())) files += e.is_regular_file();
        return files == 2u * kClients;
      },
      60);
  EXPECT_EQ(files, 2u * kClients);
  auto metrics = srv.client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("heartmula_songs_done_total 50\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("heartmula_songs_failed_total 0\n"), std::string::npos) << metrics->body;
}

}  // namespace
