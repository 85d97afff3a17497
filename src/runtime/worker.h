// One background thread that runs jobs in the order they are posted: the codec side of
// generation (decoding windows, writing files) runs on it beside the language model's frame
// loop. Its jobs run in inference mode and, on a GPU, on a stream of their own.
#pragma once

#include <c10/core/Device.h>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace heartmula::runtime {

class Worker {
 public:
  // `device`: where the jobs do their device work (a side stream is made there for them).
  // The jobs use as many CPU threads as the constructing thread (at::get_num_threads(); with
  // OpenMP the count is per thread and would otherwise be the default).
  explicit Worker(c10::Device device);
  ~Worker();  // runs the jobs still queued, then joins
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Queues a job. Jobs must catch their own exceptions (one that escapes is dropped, after
  // being reported on stderr; the thread goes on).
  void post(std::function<void()> job);
  // Returns once every job posted so far has run.
  void wait();

 private:
  void loop();

  c10::Device device_;
  int threads_ = 0;
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::function<void()>> jobs_;
  bool busy_ = false, stop_ = false;
  std::thread thread_;
};

}  // namespace heartmula::runtime
