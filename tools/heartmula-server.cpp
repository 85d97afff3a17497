// heartmula-server: the model loaded once, songs asked for over HTTP (JSON API and a web page),
// run in batches by one worker thread. The HTTP side is in tools/server/; docs/server.md.
#include <httplib.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "cli_defaults.h"
#include "default_texts.h"
#include "model_options.h"
#include "runtime/device.h"
#include "heartmula/error.h"
#include "heartmula/generator.h"
#include "server/http_api.h"
#include "server/song_queue.h"
#include "tool_main.h"

using namespace heartmula;

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

struct Options {
  ModelSettings model;
  std::string version_arg;  // --version VALUE (tools/model_options.h)
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  int max_queue = 16;
  int max_batch = 4;
  std::string output_dir = "./songs";
  bool quiet = false;
};

void add_server_options(CLI::App& app, Options& o) {
  auto* srv = app.add_option_group("Server");
  srv->add_option("--host", o.host, "address to listen on (anything but loopback needs --api-key)")
      ->capture_default_str();
  srv->add_option("--port", o.port, "port to listen on (0: any free port, printed at start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  srv->add_option("--api-key,--api_key", o.api_key, "key clients send as \"Authorization: Bearer KEY\"");
  srv->add_option("--max-queue,--max_queue", o.max_queue, "songs waiting at most (more: 429)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  srv->add_option("--max-batch,--max_batch", o.max_batch, "songs generated together at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  srv->add_option("--output-dir,--output_dir", o.output_dir, "folder of the songs (<id>.mp3|wav and <id>.json)")
      ->capture_default_str();
  srv->add_flag("-q,--quiet", o.quiet, "only errors on stderr");
}

void say(const Options& o, const std::string& s) {
  if (!o.quiet) std::fprintf(stderr, "heartmula-server: %s\n", s.c_str());
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "none" : s;
}

int run(int argc, char** argv) {
  CLI::App app{"heartmula-server: the HeartMuLa model behind an HTTP API and a web page (docs/server.md)"};
  app.set_version_flag("-V", std::string("heartmula-server ") + HEARTMULA_VERSION);
  Options o;
  tools::add_model_group(app, o.model, o.version_arg);
  tools::add_device_group(app, o.model);
  add_server_options(app, o);
  tools::last_value_wins(app);
  app.get_formatter()->column_width(40);
  if (const auto code = tools::parse_command_line(app, argc, argv)) return *code;
  if (tools::wants_program_version(app, o.version_arg, o.model)) {
    std::printf("heartmula-server %s (%s)\n", HEARTMULA_VERSION, runtime::build_info().c_str());
    return kExitOk;
  }
  if (!server::is_loopback_host(o.host) && o.api_key.empty())
    throw UsageError("--host " + o.host +
                     " is not a loopback address: anyone who reaches it could use this machine. Give --api-key KEY "
                     "(clients send \"Authorization: Bearer KEY\"), or listen on 127.0.0.1");
  o.model.validate();
  std::error_code ec;
  std::filesystem::create_directories(o.output_dir, ec);
  if (ec || !std::filesystem::is_directory(o.output_dir))
    throw UsageError("--output-dir " + o.output_dir + ": cannot create the folder" +
                     (ec ? " (" + ec.message() + ")" : ""));
  check_model_folder(o.model);

  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  // The worker thread owns the Generator: it loads the model and runs every batch on one thread
  // (runtime/threading.h: the loop thread owns the session).
  // Requests are checked against the model (the prompt plus the frames fit the context) on the
  // HTTP threads by a Generator of their own that loads only the tokenizer and the configs.
  Generator checker(o.model);
  std::mutex checker_mu;
  server::SongQueue queue(o.output_dir, static_cast<size_t>(o.max_queue), [&](const SongRequest& r) {
    std::lock_guard<std::mutex> lock(checker_mu);
    checker.check(r);
  });
  std::promise<void> loaded;
  auto loaded_future = loaded.get_future();
  say(o, "loading the model from " + o.model.model_path);
  std::thread worker([&] {
    std::unique_ptr<Generator> gen;
    try {
      gen = std::make_unique<Generator>(o.model);
      gen->load();
    } catch (...) {
      loaded.set_exception(std::current_exception());
      return;
    }
    loaded.set_value();
    server::run_worker(*gen, queue, static_cast<size_t>(o.max_batch));
  });
  try {
    loaded_future.get();
  } catch (...) {
    worker.join();
    throw;
  }

  httplib::Server http;
  server::install_routes(http, queue, {o.api_key, tools::kDefaultLyrics, tools::kDefaultTags});
  // httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, compiled into Debian's
  // library): a burst of clients connecting at once overflows it and the kernel resets some of
  // their connections (seen with 50 clients). The listening socket is kept here (its options are
  // set before bind: SO_REUSEADDR, as httplib's default) and listened on again with a larger
  // backlog (listen() on a listening socket changes its backlog).
  int listen_fd = -1;
  http.set_socket_options([&listen_fd](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });
  int port = o.port;
  bool bound = false;
  if (port == 0) {
    port = http.bind_to_any_port(o.host);
    bound = port > 0;
  } else {
    bound = http.bind_to_port(o.host, port);
  }
  auto stop_worker = [&] {
    std::vector<std::string> queued, running;
    queue.shutdown(queued, running);
    worker.join();
    return std::make_pair(queued, running);
  };
  if (bound && listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);
  if (!bound) {
    stop_worker();
    throw Error("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                " (in use, or not an address of this machine)");
  }
  // Stops the server on SIGINT / SIGTERM (a flag from the handler, acted on here): the queue
  // first (waiting songs cancelled, the running batch stops at its next frame and its songs are
  // saved as partial), then the HTTP server.
  std::vector<std::string> queued, running;
  std::thread watcher([&] {
    while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    queue.shutdown(queued, running);
    http.stop();
  });
  std::printf("heartmula-server: listening on http://%s:%d\n", o.host.c_str(), port);
  std::fflush(stdout);
  http.listen_after_bind();
  g_stop.store(true);
  watcher.join();
  if (!running.empty())
    say(o, "stopping the running songs at their next frame (what exists is kept): " + join(running));
  worker.join();
  say(o, "shut down; cancelled in the queue: " + join(queued) + "; stopped while running: " + join(running));
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  return tools::run_tool([&] { return run(argc, argv); });
}
