// heartmula-server end to end on the tiny checkpoint: the API round trip, heartmula-gen's bytes,
// bad requests, the queue, cancel and shutdown, the key. Streaming and cancelling one song of a
// batch: test_server_stream.cpp; 50 clients: test_server_clients.cpp.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <regex>

#include "server_test_util.h"

namespace {

using Json = nlohmann::json;
using namespace heartmula::test;

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
  // The tag suggestions: the eight categories the model was trained with, each with examples.
  for (const char* category : {"genre", "timbre", "gender", "mood", "instrument", "scene", "region", "topic"})
    EXPECT_NE(page->body.find(std::string("label=\"") + category + "\">"), std::string::npos) << category;
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
