// Shared by heartmula-server's end-to-end tests (test_server*.cpp): the real binary on a free
// port (--port 0, the bound port read from its stdout), driven with cpp-httplib's client; a
// fixture with the tiny checkpoint; reading a song's audio while it is made. Every wait has a
// limit; a server still running at the end is killed (GenProcess's destructor).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "gen_test_util.h"

namespace heartmula::test {

using Json = nlohmann::json;

inline std::string server_binary() { return std::string(HEARTMULA_BIN_DIR) + "/heartmula-server"; }

// The long song of the cancel and queue tests: as many frames as the tiny model's context
// (1024 positions) leaves beside a short prompt, without stopping at an end token.
inline const Json kLongSong = {{"lyrics", "la la la"}, {"tags", "piano"},  {"duration", 60},
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

// Posts a long song that batches with no other (its own temperature) and waits until it runs:
// songs posted next wait, and run together once it is cancelled.
inline std::string start_blocker(Server& srv) {
  Json body = kLongSong;
  body["temperature"] = 0.9;
  auto r = srv.post_song(body);
  if (!r || r->status != 202) return "";
  const std::string id = Json::parse(r->body)["id"];
  return srv.wait_state(id, {"running"}, 60).is_object() ? id : "";
}

// Posts `bodies` behind a blocker (start_blocker), cancels the blocker so that they run together
// as one batch, and waits until each runs. Their ids, in order; empty when a step failed (the
// gtest failure says which).
inline std::vector<std::string> run_as_one_batch(Server& srv, const std::vector<Json>& bodies) {
  const std::string blocker = start_blocker(srv);
  EXPECT_FALSE(blocker.empty()) << srv.stderr_text();
  if (blocker.empty()) return {};
  std::vector<std::string> ids;
  for (const Json& body : bodies) {
    auto r = srv.post_song(body);
    EXPECT_TRUE(r && r->status == 202) << (r ? r->body : "no answer");
    if (!r || r->status != 202) return {};
    ids.push_back(Json::parse(r->body)["id"]);
  }
  EXPECT_TRUE(srv.client().Delete(("/v1/songs/" + blocker).c_str()));
  for (const auto& id : ids)
    if (!srv.wait_state(id, {"running"}, 60).is_object()) {
      ADD_FAILURE() << id << " never ran\n" << srv.stderr_text();
      return {};
    }
  return ids;
}

// What a client got from GET .../audio read while the song was made.
struct Streamed {
  bool ok = false;  // the whole body arrived (httplib saw its last chunk)
  int status = 0;
  std::string transfer_encoding, content_range, body;
  std::string state_at_first_byte;  // the song's state when the first bytes arrived
};

// Reads the song's audio on a connection of its own, with `headers`; `on_first_bytes` runs once
// the first bytes are in (with the song's state then).
inline Streamed stream_audio(int port, const std::string& id, const std::function<void()>& on_first_bytes = {},
                             const httplib::Headers& headers = {}) {
  httplib::Client c("127.0.0.1", port), poll("127.0.0.1", port);
  c.set_read_timeout(300);
  Streamed r;
  auto res = c.Get(("/v1/songs/" + id + "/audio").c_str(), headers,
                   [&](const httplib::Response& h) {
                     r.transfer_encoding = h.get_header_value("Transfer-Encoding");
                     r.content_range = h.get_header_value("Content-Range");
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
inline size_t wav_samples_at(const std::string& f, size_t& data_size_at) {
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

}  // namespace heartmula::test
