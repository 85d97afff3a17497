// The generation pipeline: tokenize -> language model -> codec -> audio file.
// Loads the models once; generate() may be called for many songs (a batch file).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "heartmula/generation.h"

namespace heartmula {

// Checks the checkpoint folder's layout before anything is loaded; the message says which file
// is missing and how to get the checkpoint. Throws Error.
void check_model_folder(const ModelSettings& settings);

// --validate: checks the checkpoint folder's files, configs and every tensor the models need
// (presence, shape, dtype) without loading weights. Returns a report; throws Error listing
// every problem.
std::string validate_checkpoint(const ModelSettings& settings);

// Text given to --lyrics / --tags: the file's contents if `arg` names a file, else `arg` itself.
// Throws Error if the file cannot be read or the text is not valid UTF-8.
std::string read_text_arg(const std::string& arg, const std::string& flag);

class Generator {
 public:
  explicit Generator(ModelSettings settings);  // loads nothing yet
  ~Generator();
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  // Checks a request against the model before any weight is loaded: reads the tokenizer and
  // the configs (cheap), builds the prompt and checks that it plus the requested frames fit
  // the model's context. Throws Error saying by how much it does not.
  void check(const SongRequest& request);
  // Loads what the settings need (tokenizer, configs, LM, codec); idempotent.
  void load();
  SongResult generate(const SongRequest& request, const ProgressFn& progress = {}, const StopFn& stop = {});
  // Several songs, results in the order of `requests`. Songs with the same LM settings
  // (temperature, topk, cfg_scale, ignore_eos) run as one batch through
  // the frame loop, each with its own prompt and seed, and come out as each would alone; other
  // settings make further batches, run one after the other. Codes-in requests are decoded one
  // by one. Each song then goes through the codec and its file as with generate(), on the
  // codec worker thread as soon as it ends (its EOS or its own length limit) while the other
  // songs of its batch go on (with `stream`: its windows while it is made); `saved` sees each
  // song as its file is complete. Songs of one batch may differ in max_audio_length_ms.
  // With lazy_load the songs are decoded after the batch, one by one.
  // `progress` sees (frames done, planned) of the running batch; `stop` ends the whole batch,
  // every song keeps what it has (partial), and later batches are not started (their results:
  // interrupted, with `error` set). `song_stop` ends one song of the running batch alone
  // (SongStopFn: partial, the others unchanged). Invalid requests (UsageError) and failures of the language
  // model (out of memory, ...) throw; a failure of one song's codes file, codec or audio file
  // is recorded in its result's `error` and the other songs go on. Timings: prompt_s and
  // frames_s are the batch's (timings.batch_songs = songs in it); total_s runs from the call
  // to the song's file.
  std::vector<SongResult> generate_many(const std::vector<SongRequest>& requests, const ProgressFn& progress = {},
                                        const StopFn& stop = {}, const SongSavedFn& saved = {},
                                        const SongStopFn& song_stop = {});
  // Human-readable lines about what was loaded (devices, dtypes, sizes) for --verbose.
  std::string describe() const;
  const ModelSettings& settings() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace heartmula
