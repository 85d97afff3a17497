// Routes of heartmula-server (http_api.h).
#include "server/http_api.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "heartmula/error.h"
#include "server/audio_stream.h"
#include "server/song_queue.h"
#include "server/song_request_json.h"
#include "server/web_page.h"

namespace heartmula::server {
namespace {

using Json = nlohmann::json;
constexpr const char* kJson = "application/json";
// Ids are 16 lowercase hex digits (song_queue.cpp): anything else is not a song.
constexpr const char* kIdPattern = "([0-9a-f]{16})";

void reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n", kJson);
}

void error_reply(httplib::Response& res, int status, const std::string& message, const std::string& field = "") {
  Json j = {{"error", message}};
  if (!field.empty()) j["field"] = field;
  reply(res, status, j);
}

Json timings_json(const Timings& t) {
  return {{"prompt_s", t.prompt_s},           {"frames_s", t.frames_s}, {"codec_s", t.codec_s},
          {"encode_s", t.encode_s},           {"total_s", t.total_s},   {"first_audio_s", t.first_audio_s},
          {"frames_per_s", t.frames_per_s()}, {"rtf", t.rtf()},         {"batch_songs", t.batch_songs}};
}

bool has_audio(const SongStatus& s) {
  std::error_code ec;
  return !s.file.empty() && (s.state == SongState::done || s.state == SongState::cancelled) &&
         std::filesystem::is_regular_file(s.file, ec);
}

Json status_json(const SongStatus& s) {
  Json j = {{"id", s.id},
            {"state", state_name(s.state)},
            {"format", s.format},
            {"seed", s.seed},
            {"progress", {{"frames", s.frames}, {"frames_planned", s.frames_planned}, {"seconds", s.audio_s}}},
            {"partial", s.partial},
            {"cancel_requested", s.cancel_requested},
            {"queued_s", s.queued_s}};
  if (s.batch_songs > 0) j["batch_songs"] = s.batch_songs;
  if (!s.error.empty()) j["error"] = s.error;
  if (s.state == SongState::done || s.state == SongState::cancelled || s.state == SongState::failed)
    j["timings"] = timings_json(s.timings);
  if (has_audio(s)) j["audio_url"] = "/v1/songs/" + s.id + "/audio";
  return j;
}

std::string metrics_text(const QueueMetrics& m) {
  std::ostringstream o;
  auto metric = [&o](const char* name, const char* type, const char* help, double v) {
    char value[40];
    std::snprintf(value, sizeof value, "%.15g", v);  // bytes as whole numbers, not 2.5e+08
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n' << name << ' ' << value << '\n';
  };
  metric("heartmula_queue_length", "gauge", "Songs waiting in the queue.", static_cast<double>(m.queued));
  metric("heartmula_songs_running", "gauge", "Songs in the running batch.", static_cast<double>(m.running));
  metric("heartmula_songs_done_total", "counter", "Songs finished and saved.", static_cast<double>(m.done));
  metric("heartmula_songs_failed_total", "counter", "Songs that failed.", static_cast<double>(m.failed));
  metric("heartmula_songs_cancelled_total", "counter", "Songs cancelled (queued or running).",
         static_cast<double>(m.cancelled));
  metric("heartmula_songs_rejected_total", "counter", "Requests refused because the queue was full (429).",
         static_cast<double>(m.rejected));
  metric("heartmula_last_batch_frames_per_second", "gauge",
         "Frames per second of the last batch's frame loop, summed over its songs.", m.last_batch_frames_per_s);
  metric("heartmula_last_batch_songs", "gauge", "Songs in the last batch.", static_cast<double>(m.last_batch_songs));
  metric("heartmula_last_batch_peak_mula_bytes", "gauge",
         "Peak memory of the language model's device during the last batch (CPU: peak RSS).",
         static_cast<double>(m.last_peak_mula_bytes));
  metric("heartmula_last_batch_peak_codec_bytes", "gauge", "Peak memory of the codec's device during the last batch.",
         static_cast<double>(m.last_peak_codec_bytes));
  return o.str();
}

// Sends a finished song's file, read as the client takes it (a song can be hundreds of MB as WAV).
void send_file(httplib::Response& res, const SongStatus& s, bool download) {
  auto in = std::make_shared<std::ifstream>(s.file, std::ios::binary);
  std::error_code ec;
  const auto size = std::filesystem::file_size(s.file, ec);
  if (!*in || ec) return error_reply(res, 500, "cannot read the song's file");
  const std::string name = s.id + "." + s.format;
  res.set_header("Content-Disposition",
                 (download ? "attachment" : "inline") + std::string("; filename=\"") + name + "\"");
  res.set_content_provider(static_cast<size_t>(size), s.format == "wav" ? "audio/wav" : "audio/mpeg",
                           [in](size_t offset, size_t length, httplib::DataSink& sink) {
                             char buf[64 * 1024];
                             in->seekg(static_cast<std::streamoff>(offset));
                             const size_t n = std::min(length, sizeof buf);
                             in->read(buf, static_cast<std::streamsize>(n));
                             const std::streamsize got = in->gcount();
                             if (got <= 0) return false;
                             return sink.write(buf, static_cast<size_t>(got));
                           });
}

}  // namespace

bool keys_equal(const std::string& given, const std::string& expected) {
  // Every byte of `expected` is compared (against `given` cycled, or 0 past its end), and the
  // length difference is part of the result: the time depends on the lengths only.
  unsigned diff = given.size() != expected.size() ? 1u : 0u;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = given.empty() ? 0 : static_cast<unsigned char>(given[i % given.size()]);
    diff |= g ^ static_cast<unsigned char>(expected[i]);
  }
  return diff == 0 && !expected.empty();
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;  // 127.0.0.0/8
  in6_addr v6{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

void install_routes(httplib::Server& server, SongQueue& queue, const ApiOptions& options) {
  server.set_payload_max_length(kMaxBodyBytes);
  // A client streaming a running song's audio holds a thread until the song's file is complete:
  // enough threads that such clients leave others answered (httplib's default is 8).
  server.new_task_queue = [] { return new httplib::ThreadPool(kHttpThreads); };
  const std::string key = options.api_key;
  server.set_pre_routing_handler([key](const httplib::Request& req, httplib::Response& res) {
    if (key.empty() || (req.method == "GET" && (req.path == "/" || req.path == "/health")))
      return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) == 0 && keys_equal(auth.substr(prefix.size()), key))
      return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer");
    error_reply(res, 401, "missing or wrong API key (Authorization: Bearer <key>)");
    return httplib::Server::HandlerResponse::Handled;
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    error_reply(res, 500, what);
  });
  // Statuses answered without a body of their own (404 of an unknown path, 413 of a large body).
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const char* what = res.status == 404   ? "no such resource"
                       : res.status == 413 ? "the request body is too large"
                                           : "bad request";
    error_reply(res, res.status, what);
  });

  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kWebPage, "text/html; charset=utf-8");
  });
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"status", "ok"}, {"model_loaded", true}});
  });
  server.Get("/metrics", [&queue](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(queue.metrics()), "text/plain; version=0.0.4");
  });
  const ApiOptions opts = options;
  server.Post("/v1/songs", [&queue, opts](const httplib::Request& req, httplib::Response& res) {
    SongSubmission sub;
    BadField bad;
    if (!parse_song_json(req.body, opts.default_lyrics, opts.default_tags, sub, bad))
      return error_reply(res, 400, bad.message, bad.field);
    std::string id;
    uint64_t seed = 0;
    SongQueue::Submit r;
    try {
      r = queue.submit(sub.song, sub.format, id, seed);
    } catch (const UsageError& e) {  // SongRequest::validate(), or the song does not fit the model's context
      return error_reply(res, 400, e.what());
    }
    if (r == SongQueue::Submit::queue_full) {
      res.set_header("Retry-After", std::to_string(queue.retry_after_s()));
      return error_reply(res, 429, "the queue is full; try again later");
    }
    if (r == SongQueue::Submit::shutting_down) return error_reply(res, 503, "the server is shutting down");
    reply(res, 202,
          {{"id", id}, {"seed", seed}, {"status_url", "/v1/songs/" + id}, {"audio_url", "/v1/songs/" + id + "/audio"}});
  });
  server.Get(std::string("/v1/songs/") + kIdPattern, [&queue](const httplib::Request& req, httplib::Response& res) {
    const auto s = queue.status(req.matches[1]);
    if (!s) return error_reply(res, 404, "no song with this id");
    reply(res, 200, status_json(*s));
  });
  server.Get(
      std::string("/v1/songs/") + kIdPattern + "/audio", [&queue](const httplib::Request& req, httplib::Response& res) {
        const auto s = queue.status(req.matches[1]);
        if (!s) return error_reply(res, 404, "no song with this id");
        // Running: the file as it grows (chunked), until it is complete.
        if (s->state == SongState::running)
          return send_growing_audio(res, queue, s->id, s->format, req.has_param("download"));
        if (!has_audio(*s)) {
          Json j = {{"error", s->state == SongState::queued ? "the song is queued: its audio is served once it runs"
                                                            : "the song has no audio"},
                    {"state", state_name(s->state)}};
          return reply(res, 409, j);
        }
        send_file(res, *s, req.has_param("download"));
      });
  server.Delete(std::string("/v1/songs/") + kIdPattern, [&queue](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    const SongQueue::Cancel c = queue.cancel(id);
    if (c == SongQueue::Cancel::not_found) return error_reply(res, 404, "no song with this id");
    const auto s = queue.status(id);
    Json j = status_json(*s);
    j["cancel"] = c == SongQueue::Cancel::removed    ? "removed from the queue"
                  : c == SongQueue::Cancel::stopping ? "stopping at the next frame; what exists is kept"
                                                     : "already finished";
    reply(res, 200, j);
  });
}

}  // namespace heartmula::server
