// The threading contract of the generation pipeline (Generator = ModelSession + SongScheduler +
// OutputPipeline). Written here once; the parts refer to it.
//
// Threads
//   loop thread   The caller's thread (Generator's calls). It owns the ModelSession (loading,
//                 lazy load, unloading), runs the language model's frame loop (SongScheduler) and
//                 makes each batch's OutputBatch. With --lazy-load and for --codes-in songs it
//                 also runs the codec and writes the files itself (no worker then).
//   codec worker  One runtime::Worker per OutputPipeline, made on first use and kept for later
//                 batches. It runs, in the order posted, the jobs an OutputBatch posts: the codec
//                 warm-up, --stream windows, each song's end (codes file, codec, audio file) and
//                 the SongSavedFn callback (so `saved` runs on the worker).
//   tokenizer     While the loop thread makes the device's context and loads the language model,
//                 ModelSession::start_light() parses tokenizer.json on a std::async thread of its
//                 own (started by the request check before loading, whose context-fit check
//                 uses an upper bound of the prompt's length when it can); it touches nothing but
//                 the Tokenizer it returns, and load_light() (on the loop thread, at the first
//                 prompt) waits for it and rethrows its error.
//   No other thread does pipeline work. Several devices (runtime::DevicePool, multi_device.h):
//   one Generator per device, each with its own loop thread (made by the pool) and codec worker.
//   The lock below is one for the whole process, shared by the devices.
//
// Ownership
//   - The models belong to the ModelSession. The loop thread uses the language model; while a
//     batch has a worker, the codec and its solver graphs are used by the worker only. The
//     session loads what a batch needs before the batch starts (SongScheduler) and frees the
//     language model (--lazy-load) only when no worker is used, so no model is loaded or freed
//     while worker jobs are queued.
//   - A song's SongOutput (decoder, writer, its SongResult) is touched only by the worker from the
//     batch's first post until OutputBatch::drain() returns; after that only by the loop thread.
//     The OutputBatch owns the SongOutputs and drains in its destructor (DrainOnExit), so no job
//     outlives the buffers it points at, also when the frame loop throws.
//   - The OutputPipeline (and its worker) goes before the ModelSession (member order in
//     Generator::Impl): the worker is joined before the codec is freed.
//
// Locks
//   runtime::capture_lock() (device.h) is the pipeline's one lock: a graph capture on the loop
//   thread holds it (StepGraphs, exclusive); the worker holds it around each piece of its device
//   work (WorkerDeviceWork), so that a capture never meets the worker's device calls. A holder
//   neither posts to nor waits for a worker (the worker's queue mutex is private to Worker and is
//   never held while a job runs), so there is no lock order to keep beyond that.
//   Two loop threads on one device (--device cuda:0,cuda:0) do not exclude each other: a capture
//   on one does not wait for the other's frame steps (issue #21's open difference between two
//   workers on one GPU and one device: docs/usage.md "Several GPUs").
#pragma once

#include <mutex>

#include "runtime/device.h"
#include "runtime/worker.h"

namespace heartmula::runtime {

// Held by the codec worker around its device work: a graph capture on the loop thread does not
// overlap it (see "Locks" above).
class WorkerDeviceWork {
 public:
  WorkerDeviceWork() : lock_(capture_lock()) {}

 private:
  std::lock_guard<std::mutex> lock_;
};

// Waits, when it goes (normally or by an exception), until every job posted to `worker` so far
// has run: what the jobs point at may go after it. A null worker: nothing to wait for.
class DrainOnExit {
 public:
  explicit DrainOnExit(Worker* worker) : worker_(worker) {}
  ~DrainOnExit() {
    if (worker_) worker_->wait();
  }
  DrainOnExit(const DrainOnExit&) = delete;
  DrainOnExit& operator=(const DrainOnExit&) = delete;

 private:
  Worker* worker_;
};

}  // namespace heartmula::runtime
