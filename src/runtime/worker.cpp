#include "runtime/worker.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <cstdio>
#include <exception>

#include "runtime/device.h"

namespace heartmula::runtime {

Worker::Worker(c10::Device device) : device_(device), threads_(at::get_num_threads()), thread_([this] { loop(); }) {}

Worker::~Worker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Worker::post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_all();
}

void Worker::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return jobs_.empty() && !busy_; });
}

void Worker::loop() {
  c10::InferenceMode guard;
  if (threads_ > 0) at::set_num_threads(threads_);
  const std::shared_ptr<void> stream = use_side_stream(device_, stream_priority() == StreamPriority::codec);
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stop_ and nothing left
      job = std::move(jobs_.front());
      jobs_.pop_front();
      busy_ = true;
    }
    try {
      job();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: background job failed: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "error: background job failed\n");
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      busy_ = false;
    }
    idle_cv_.notify_all();
  }
}

}  // namespace heartmula::runtime
