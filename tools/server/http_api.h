// The HTTP side of heartmula-server: routes, authentication, JSON answers (docs/server.md).
// httplib stays out of this header.
#pragma once

#include <string>

namespace httplib {
class Server;
}

namespace heartmula::server {

class SongQueue;

// Threads answering requests (each streaming client holds one while its song runs).
constexpr size_t kHttpThreads = 64;

struct ApiOptions {
  std::string api_key;         // "": no authentication (loopback only; the main checks)
  std::string default_lyrics;  // a request without lyrics / tags gets heartmula-gen's defaults
  std::string default_tags;
};

// Registers every route (/, /health, /metrics, /v1/songs...) on `server`, answering from
// `queue`. With an api key, every route but / and /health needs "Authorization: Bearer <key>"
// (401 otherwise).
void install_routes(httplib::Server& server, SongQueue& queue, const ApiOptions& options);

// Equality of two keys in time that depends only on their lengths, not on where they differ.
bool keys_equal(const std::string& given, const std::string& expected);

// An IPv4 address in 127.0.0.0/8, the IPv6 address ::1, or "localhost": a bind only this machine reaches.
bool is_loopback_host(const std::string& host);

}  // namespace heartmula::server
