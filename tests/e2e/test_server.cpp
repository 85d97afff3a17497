// heartmula-server end to end on the tiny checkpoint: the real binary on a free port (--port 0,
// the bound port read from its stdout), driven with cpp-httplib's client. Songs made by the
// server must be byte for byte heartmula-gen's with the same settings and seed. Every wait has a
// limit; a server still running at the end is killed (GenProcess's destructor).
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "gen_test_util.h"

namespace {

using Json = nlohmann::json;
using namespace heartmula::test;

std::string server_binary() { return std::string(HEARTMULA_BIN_DIR) + "/heartmula-server"; }

// The long song of the cancel and queue tests: as many frames as the tiny model's context
// (1024 positions) leaves beside a short prompt, without stopping at an end token.
const Json kLongSong = {{"lyrics", "la la la"}, {"tags", "piano"},  {"duration", 60},
                        {"ignore_eos", true},   {"codec_steps", 1}, {"seed", 3}};

// One heartmula-server process on 127.0.0.1 and a client for it.
class Server {
 public:
  Server(const std::string& ckpt, const std::string& out_dir, const std::string& log_dir,
         std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--model-path", ckpt, "--threads", "1", "--port", "0", "--output-dir", out_dir};
    args.insert(args.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<GenProcess>(args, log_dir, log_dir, server_binary());
    const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    poll_until(
        [&] {
          const std::string out = proc_->current_stdout();
          std::smatch m;
          if (std::regex_search(out, m, listening)) {
            port_ = std::stoi(m[1]);
            return true;
          }
          return proc_->wait_for_stderr("error:", 0.05);  // which also waits between looks
        },
        120, 0);
    if (port_ > 0) {
      client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
      client_->set_connection_timeout(10);
      client_->set_read_timeout(60);
    }
  }
  bool started() const { return port_ > 0; }
  int port() const { return port_; }
  std::string stderr_text() const { return proc_->current_stderr(); }
  httplib::Client& client() { return *client_; }
  GenProcess& process() { return *proc_; }

  httplib::Result post_song(const Json& body, const httplib::Headers& h = {}) {
    return client_->Post("/v1/songs", h, body.dump(), "application/json");
  }
  Json status(const std::string& id) {
    auto r = client_->Get(("/v1/songs/" + id).c_str());
    return r && r->status == 200 ? Json::parse(r->body) : Json();
  }
  // Polls the song until its state is one of `states`; the last status (null on timeout).
  Json wait_state(const std::string& id, const std::vector<std::string>& states, double timeout_s = 300) {
    Json s;
    const bool reached = poll_until(
        [&] {
          s = status(id);
          return s.is_object() &&
                 std::any_of(states.begin(), states.end(), [&](const std::string& st) { return s["state"] == st; });
        },
        timeout_s, 0.05);
    return reached ? s : Json();
  }

 private:
  std::unique_ptr<GenProcess> proc_;
  std::unique_ptr<httplib::Client> client_;
  int port_ = 0;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ckpt_ = gen_checkpoint();
    ASSERT_FALSE(ckpt_.empty()) << "no checkpoint folder (tokenizer.json missing)";
  }
  std::string ckpt_;
  ScratchDir out_{"e2e-server-out"};
  ScratchDir logs_{"e2e-server-logs"};
};

// Two short songs (MP3 and WAV) posted while another song runs wait and then share one batch;
// GET gives the bytes heartmula-gen writes with the same settings and seeds.
TEST_F(ServerTest, SongsEqualHeartmulaGenBytes) {
  Server srv(ckpt_, out_.path(), logs_.path());
  ASSERT_TRUE(srv.started()) << srv.stderr_text();
  auto a = srv.post_song(kLongSong);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->status, 202) << a->body;
  const std::string id_a = Json::parse(a->body)["id"];
  ASSERT_TRUE(srv.wait_state(id_a, {"running"}, 60).is_object()) << srv.stderr_text();
  struct Song {
    std::string format;
    uint64_t seed;
    std::string id;
  };
  std::vector<Song> songs = {{"mp3", 7, ""}, {"wav", 8, ""}};
  for (auto& s : songs) {
    const Json body = {{"lyrics", "la la la"}, {"tags", "piano"},   {"duration", 2}, {"seed", s.seed}, {"topk", 1},
                       {"codec_steps", 1},     {"format", s.format}};
    auto r = srv.post_song(body);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 202) << r->body;
    const Json j = Json::parse(r->body);
    s.id = j["id"];
    EXPECT_EQ(j["seed"], s.seed);
    EXPECT_TRUE(std::regex_match(s.id, std::regex("[0-9a-f]{16}"))) << s.id;
    EXPECT_EQ(srv.status(s.id)["state"], "queued");
  }
  // The running song stops at its next frame; the two queued ones then run as one batch.
  auto del = srv.client().Delete(("/v1/songs/" + id_a).c_str());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200) << del->body;
  EXPECT_EQ(srv.wait_state(id_a, {"done", "failed", "cancelled"})["state"], "cancelled");
  for (const auto& s : songs) {
    const Json st = srv.wait_state(s.id, {"done", "failed", "cancelled"});
    ASSERT_TRUE(st.is_object()) << "song " << s.id << " did not finish in time\n" << srv.stderr_text();
    ASSERT_EQ(st["state"], "done") << st.dump();
    EXPECT_EQ(st["seed"], s.seed);
    EXPECT_GT(st["progress"]["frames"].get<int64_t>(), 0);
    EXPECT_TRUE(st.contains("timings"));
    EXPECT_EQ(st["batch_songs"], 2) << st.dump();
    auto audio = srv.client().Get(("/v1/songs/" + s.id + "/audio").c_str());
    ASSERT_TRUE(audio);
    ASSERT_EQ(audio->status, 200);
    EXPECT_EQ(audio->get_header_value("Content-Type"), s.format == "wav" ? "audio/wav" : "audio/mpeg");
    // Files are named by id only.
    EXPECT_EQ(read_file(out_.file(s.id + "." + s.format)), audio->body);

    // WAV: heartmula-gen's file. MP3: what heartmula-gen writes to stdout, as the server writes
    // MP3 without the LAME tag frame (filled in at the end otherwise), so that its file can be
    // streamed while it grows.
    const std::string cli_out = s.format == "wav" ? logs_.file("cli-" + s.id + ".wav") : "-";
    const GenResult g =
        run_gen({"--model-path", ckpt_, "--threads", "1", "--lyrics", "la la la", "--tags", "piano", "--duration", "2",
                 "--seed", std::to_string(s.seed), "--topk", "1", "--codec-steps", "1", "-o", cli_out, "-q"},
                logs_.path(), logs_.path());
    ASSERT_EQ(g.code, 0) << g.err;
    const std::string cli_bytes = cli_out == "-" ? g.out : read_file(cli_out);
    ASSERT_FALSE(cli_bytes.empty());
    EXPECT_TRUE(cli_bytes == audio->body) << s.format << ": the server's " << audio->body.size()
                                          << " bytes differ from heartmula-gen's " << cli_bytes.size();
  }
  // /health, /metrics, the page.
  auto health = srv.client().Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(Json::parse(health->body), Json({{"status", "ok"}, {"model_loaded", true}}));
  auto metrics = srv.client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("heartmula_queue_length 0\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("heartmula_songs_done_total 2\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("heartmula_songs_cancelled_total 1\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("heartmula_last_batch_songs 2\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("heartmula_last_batch_frames_per_second "), std::string::npos);
  auto page = srv.client().Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<audio"), std::string::npos);
  EXPECT_NE(page->body.find("<datalist"), std::string::npos);
}

// Posts a long song that batches with no other (its own temperature) and waits until it runs:
// songs posted next wait, and run together once it is cancelled.
std::string start_blocker(Server& srv) {
  Json body = kLongSong;
  body["temperature"] = 0.9;
  auto r = srv.post_song(body);
  if (!r || r->status != 202) return "";
  const std::string id = Json::parse(r->body)["id"];
  return srv.wait_state(id, {"running"}, 60).is_object() ? id : "";
}

// What a client got from GET .../audio read while the song was made.
struct Streamed {
  bool ok = false;  // the whole body arrived (httplib saw its last chunk)
  int status = 0;
  std::string transfer_encoding, body;
  std::string state_at_first_byte;  // the song's state when the first bytes arrived
};

// Reads the song's audio on a connection of its own; `on_first_bytes` runs once the first
// bytes are in (with the song's state then).
Streamed stream_audio(int port, const std::string& id, const std::function<void()>& on_first_bytes = {}) {
  httplib::Client c("127.0.0.1", port), poll("127.0.0.1", port);
  c.set_read_timeout(300);
  Streamed r;
  auto res = c.Get(("/v1/songs/" + id + "/audio").c_str(), httplib::Headers{},
                   [&](const httplib::Response& h) {
                     r.transfer_encoding = h.get_header_value("Transfer-Encoding");
                     return true;
                   },
                   [&](const char* data, size_t n) {
                     if (r.body.empty() && n > 0) {
                       auto st = poll.Get(("/v1/songs/" + id).c_str());
                       r.state_at_first_byte =
                           st && st->status == 200 ? Json::parse(st->body)["state"].get<std::string>() : "?";
                       if (on_first_bytes) on_first_bytes();
                     }
                     r.body.append(data, n);
                     return true;
                   });
  r.ok = static_cast<bool>(res);
  if (res) r.status = res->status;
  return r;
}

// The offset where a WAV file's samples start, and of its data chunk's size field.
size_t wav_samples_at(const std::string& f, size_t& data_size_at) {
  for (size_t at = 12; at + 8 <= f.size();) {
    uint32_t size = 0;
    for (int k = 3; k >= 0; --k) size = size << 8 | static_cast<unsigned char>(f[at + 4 + static_cast<size_t>(k)]);
    if (f.compare(at, 4, "data") == 0) {
      data_size_at = at + 4;
      return at + 8;
    }
    at += 8 + size + (size & 1);
  }
  return 0;
}

// GET .../audio of a running song follows its file as the window decoder writes it: MP3 byte for
// byte the final file, WAV the final file with its RIFF and data sizes 0xFFFFFFFF; a song
// cancelled while a client reads it ends the body cleanly with its partial file.
TEST_F(ServerTest, AudioIsStreamedWhileTheSongIsMade) {
  Server srv(ckpt_, out_.path(), logs_.path(), {"--max-batch", "2"});
  ASSERT_TRUE(srv.started()) << srv.stderr_text();
  const std::string blocker = start_blocker(srv);
  ASSERT_FALSE(blocker.empty()) << srv.stderr_text();
  std::vector<std::string> ids;
  for (const char* format : {"mp3", "wav"}) {
    Json body = kLongSong;
    body["format"] = format;
    auto r = srv.post_song(body);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 202) << r->body;
    ids.push_back(Json::parse(r->body)["id"]);
  }
  ASSERT_TRUE(srv.client().Delete(("/v1/songs/" + blocker).c_str()));  // the two run together next
  for (const auto& id : ids) ASSERT_TRUE(srv.wait_state(id, {"running"}, 60).is_object()) << srv.stderr_text();
  Streamed got[2];
  {
    std::thread mp3([&] { got[0] = stream_audio(srv.port(), ids[0]); });
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
  const std::string blocker = start_blocker(srv);
  ASSERT_FALSE(blocker.empty()) << srv.stderr_text();
  std::vector<std::string> ids;
  for (const Json& body : {kLongSong, kept}) {
    auto r = srv.post_song(body);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 202) << r->body;
    ids.push_back(Json::parse(r->body)["id"]);
  }
  ASSERT_TRUE(srv.client().Delete(("/v1/songs/" + blocker).c_str()));  // the two run together next
  for (const auto& id : ids) ASSERT_TRUE(srv.wait_state(id, {"running"}, 60).is_object()) << srv.stderr_text();
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

// Bad requests get 4xx naming the field, with the CLI's and batch files' message, and leave the
// server answering.
TEST_F(ServerTest, BadRequestsNameTheField) {
  Server srv(ckpt_, out_.path(), logs_.path());
  ASSERT_TRUE(srv.started()) << srv.stderr_text();
  struct Case {
    std::string body;
    int status;
    std::string field, message;
  };
  const std::vector<Case> cases = {
      {R"({"topk": 0})", 400, "topk", "'topk' must be an integer in [1, 1000000]. Given: 0"},
      // A string is read as --temperature's START[:END[:linear|cosine]] (batch files' rule), so the
      // message shows the text itself, without JSON quotes.
      {R"({"temperature": "hot"})", 400, "temperature", "'temperature' must be a number in [0.01, 100]. Given: hot"},
      {R"({"duration": [1, 2]})", 400, "duration", "'duration' must be a number in [0.08, 3600]. Given: an array"},
      {R"({"seed": -1})", 400, "seed", "'seed' must be an integer"},
      {R"({"save_path": "/etc/passwd"})", 400, "save_path", "unknown field 'save_path'"},
      {R"({"format": "flac"})", 400, "format", "'format' must be"},
      {R"({"lyrics": 5})", 400, "lyrics", "'lyrics' must be a string"},
      {R"({"duration": 2, "max_audio_length_ms": 2000})", 400, "duration", "not both"},
      {R"({"topk": )", 400, "", "invalid JSON"},
      {R"([1, 2])", 400, "", "must be a JSON object"},
      {"{\"lyrics\": \"" + std::string(40000, 'a') + "\"}", 400, "lyrics", "longer than"},
      // Longer than the tiny model's context: refused alone (Generator::check), not queued.
      {R"({"duration": 3600})", 400, "", "does not fit the model's context"},
  };
  for (const auto& c : cases) {
    auto r = srv.client().Post("/v1/songs", c.body, "application/json");
    ASSERT_TRUE(r) << c.body.substr(0, 80);
    EXPECT_EQ(r->status, c.status) << c.body.substr(0, 80) << " -> " << r->body;
    const Json j = Json::parse(r->body);
    EXPECT_EQ(j.value("field", ""), c.field) << r->body;
    EXPECT_NE(j.value("error", "").find(c.message), std::string::npos) << r->body;
  }
  // A body over the limit: 413, and the server goes on.
  auto big = srv.client().Post("/v1/songs", std::string(600 * 1024, ' '), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  auto missing = srv.client().Get("/v1/songs/0123456789abcdef");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto health = srv.client().Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  // Nothing was queued.
  auto metrics = srv.client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("heartmula_queue_length 0\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("heartmula_songs_running 0\n"), std::string::npos) << metrics->body;
}

// --max-queue 1 --max-batch 1: a running song, one queued, the next refused with 429; the queued
// one cancelled (removed), the running one cancelled (stops, keeps what exists); SIGTERM ends
// the server cleanly.
TEST_F(ServerTest, QueueFullCancelAndShutdown) {
  Server srv(ckpt_, out_.path(), logs_.path(), {"--max-queue", "1", "--max-batch", "1"});
  ASSERT_TRUE(srv.started()) << srv.stderr_text();
  auto a = srv.post_song(kLongSong);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->status, 202) << a->body;
  const std::string id_a = Json::parse(a->body)["id"];
  ASSERT_TRUE(srv.wait_state(id_a, {"running"}, 60).is_object()) << srv.stderr_text();

  auto b = srv.post_song({{"lyrics", "la"}, {"duration", 1}});
  ASSERT_TRUE(b);
  ASSERT_EQ(b->status, 202) << b->body;
  const std::string id_b = Json::parse(b->body)["id"];
  auto c = srv.post_song({{"lyrics", "la"}, {"duration", 1}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, 429) << c->body;
  EXPECT_FALSE(c->get_header_value("Retry-After").empty());

  // The queued song: removed.
  auto del_b = srv.client().Delete(("/v1/songs/" + id_b).c_str());
  ASSERT_TRUE(del_b);
  ASSERT_EQ(del_b->status, 200) << del_b->body;
  EXPECT_EQ(Json::parse(del_b->body)["state"], "cancelled") << del_b->body;
  EXPECT_EQ(srv.status(id_b)["state"], "cancelled");
  auto audio_b = srv.client().Get(("/v1/songs/" + id_b + "/audio").c_str());
  ASSERT_TRUE(audio_b);
  EXPECT_EQ(audio_b->status, 409);

  // A queued song's audio: 409 until it runs.
  auto f = srv.post_song({{"lyrics", "la"}, {"duration", 1}});
  ASSERT_TRUE(f);
  ASSERT_EQ(f->status, 202) << f->body;
  const std::string id_f = Json::parse(f->body)["id"];
  auto early = srv.client().Get(("/v1/songs/" + id_f + "/audio").c_str());
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 409) << early->body;
  EXPECT_EQ(Json::parse(early->body)["state"], "queued");
  auto del_f = srv.client().Delete(("/v1/songs/" + id_f).c_str());
  ASSERT_TRUE(del_f);
  // The running song: cancelled at the next frame, its part kept.
  auto del_a = srv.client().Delete(("/v1/songs/" + id_a).c_str());
  ASSERT_TRUE(del_a);
  ASSERT_EQ(del_a->status, 200) << del_a->body;
  const Json st = srv.wait_state(id_a, {"done", "failed", "cancelled"});
  ASSERT_TRUE(st.is_object()) << srv.stderr_text();
  EXPECT_EQ(st["state"], "cancelled") << st.dump();
  EXPECT_EQ(st["partial"], true) << st.dump();
  EXPECT_LT(st["progress"]["frames"].get<int64_t>(), st["progress"]["frames_planned"].get<int64_t>());
  auto audio_a = srv.client().Get(("/v1/songs/" + id_a + "/audio").c_str());
  ASSERT_TRUE(audio_a);
  EXPECT_EQ(audio_a->status, 200);
  EXPECT_FALSE(audio_a->body.empty());
  EXPECT_EQ(audio_a->body, read_file(out_.file(id_a + ".mp3")));
  // The sidecar, as heartmula-gen writes it, says the song is partial.
  const Json meta = Json::parse(read_file(out_.file(id_a + ".json")));
  EXPECT_EQ(meta.value("partial", false), true) << meta.dump();
  auto metrics = srv.client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("heartmula_songs_rejected_total 1\n"), std::string::npos) << metrics->body;

  // SIGTERM while a song runs and another waits: the running one stops and keeps what exists,
  // the queued one is cancelled, and the server says which.
  auto d = srv.post_song(kLongSong);
  ASSERT_TRUE(d);
  ASSERT_EQ(d->status, 202) << d->body;
  const std::string id_d = Json::parse(d->body)["id"];
  ASSERT_TRUE(srv.wait_state(id_d, {"running"}, 60).is_object()) << srv.stderr_text();
  auto e = srv.post_song({{"lyrics", "la"}, {"duration", 1}});
  ASSERT_TRUE(e);
  ASSERT_EQ(e->status, 202) << e->body;
  const std::string id_e = Json::parse(e->body)["id"];
  srv.process().send_signal(SIGTERM);
  ASSERT_TRUE(srv.process().wait_for_stderr("shut down", 120)) << srv.stderr_text();
  const GenResult r = srv.process().wait();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("cancelled in the queue: " + id_e), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stopped while running: " + id_d), std::string::npos) << r.err;
  const Json meta_d = Json::parse(read_file(out_.file(id_d + ".json")));
  EXPECT_EQ(meta_d.value("partial", false), true) << meta_d.dump();
  EXPECT_FALSE(read_file(out_.file(id_d + ".mp3")).empty());
}

// With --api-key every route but / and /health wants the Bearer key.
TEST_F(ServerTest, ApiKeyIsRequired) {
  Server srv(ckpt_, out_.path(), logs_.path(), {"--api-key", "s3cret-key"});
  ASSERT_TRUE(srv.started()) << srv.stderr_text();
  const Json body = {{"lyrics", "la"}, {"duration", 0.5}, {"codec_steps", 1}};
  auto none = srv.post_song(body);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  auto wrong = srv.post_song(body, {{"Authorization", "Bearer s3cret-kex"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto shorter = srv.post_song(body, {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(shorter);
  EXPECT_EQ(shorter->status, 401);
  auto metrics = srv.client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 401);
  auto ok = srv.post_song(body, {{"Authorization", "Bearer s3cret-key"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 202) << ok->body;
  auto health = srv.client().Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto page = srv.client().Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
}

// Anything but loopback without --api-key: refused before the model loads (exit 2).
TEST_F(ServerTest, NonLoopbackNeedsApiKey) {
  GenProcess p({"--model-path", ckpt_, "--host", "0.0.0.0", "--port", "0"}, logs_.path(), logs_.path(),
               server_binary());
  ASSERT_TRUE(p.wait_for_stderr("error:", 60)) << p.current_stderr();
  const GenResult r = p.wait();
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--api-key"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("listening"), std::string::npos) << r.out;
}

}  // namespace
