// The threading contract of the generation pipeline (src/runtime/threading.h), checked:
// - an OutputBatch's destructor waits for the codec worker's jobs that point at its songs, on a
//   normal exit and when the frame loop throws, so the songs are saved (not lost, no dangling);
// - an interrupted batch (StopFn) saves what exists, as partial, and later batches do not start.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "heartmula/generator.h"
#include "io/safetensors.h"
#include "io/torch_tensors.h"
#include "runtime/model_session.h"
#include "runtime/output_pipeline.h"

namespace fs = std::filesystem;
namespace hr = heartmula::runtime;
using heartmula::ModelSettings;
using heartmula::SongRequest;
using heartmula::SongResult;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/heartmula-pipeline-XXXXXX";
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A checkpoint folder: the tiny fixture with the fetched Llama-3 tokenizer.json beside it.
std::string checkpoint(const TempDir& d) {
  const char* env = std::getenv("HEARTMULA_TEST_CACHE");
  const std::string tok = std::string(env && *env ? env : HEARTMULA_TEST_CACHE) + "/llama3/tokenizer.json";
  if (!fs::is_regular_file(tok)) {
    ADD_FAILURE() << "missing " << tok << " (scripts/fetch-test-assets.sh)";
    return "";
  }
  const fs::path src = fs::path(HEARTMULA_TEST_DATA) / "ckpt";
  const fs::path dir = d.path / "ckpt";
  fs::create_directory(dir);
  for (const char* name : {"HeartMuLa-oss-3B", "HeartCodec-oss", "gen_config.json"})
    fs::create_symlink(src / name, dir / name);
  fs::create_symlink(tok, dir / "tokenizer.json");
  return dir.string();
}

// A session that loads nothing: songs with no audio need no model on the codec side.
ModelSettings no_models() {
  ModelSettings s;
  s.device = "cpu";
  s.need_lm = false;
  s.need_codec = false;
  return s;
}

SongRequest codes_only(const fs::path& codes_out) {
  SongRequest r;
  r.no_audio = true;
  r.codes_out = codes_out.string();
  return r;
}

// Settings of a Generator on the CPU with the language model only (codes, no audio).
ModelSettings lm_only(const std::string& model_path) {
  ModelSettings s;
  s.model_path = model_path;
  s.device = "cpu";
  s.need_codec = false;
  return s;
}

// `n` codes-only songs of the same short text, <dir>/<tag><i>.safetensors, seeds first_seed + i.
std::vector<SongRequest> lm_songs(const fs::path& dir, const std::string& tag, size_t n, uint64_t first_seed,
                                  int64_t max_ms) {
  std::vector<SongRequest> reqs(n);
  for (size_t i = 0; i < n; ++i) {
    reqs[i] = codes_only(dir / (tag + std::to_string(i) + ".safetensors"));
    reqs[i].lyrics = "[verse]\nla la la";
    reqs[i].tags = "piano";
    reqs[i].seed = first_seed + i;
    reqs[i].max_audio_length_ms = max_ms;
    reqs[i].ignore_eos = true;
  }
  return reqs;
}

int64_t frames_in(const std::string& path) { return heartmula::io::load_all_tensors(path).at("frames").size(0); }

}  // namespace

TEST(OutputBatch, DestructorDrainsTheWorkerBeforeItsSongsGo) {
  TempDir d;
  hr::ModelSession session(no_models());
  hr::OutputPipeline pipeline(session);
  const std::vector<SongRequest> reqs = {codes_only(d.path / "a.safetensors"), codes_only(d.path / "b.safetensors")};
  std::vector<SongResult> results(2);
  std::atomic<int> saved{0};
  {
    hr::OutputBatch batch(pipeline, {&reqs[0], &reqs[1]}, {&results[0], &results[1]}, {7, 8}, /*on_worker=*/true,
                          [&](size_t i, const SongResult&) { saved += static_cast<int>(i); });
    ASSERT_TRUE(batch.on_worker());
    // Hold the worker, so that the songs' jobs are still queued when the batch goes.
    pipeline.worker().post([] { std::this_thread::sleep_for(std::chrono::milliseconds(200)); });
    batch.song_ended(1, at::zeros({5, 8}, at::kLong));
    batch.song_ended(0, at::ones({3, 8}, at::kLong));
  }  // no drain() / finish() called: the destructor must wait
  EXPECT_EQ(saved.load(), 15);
  EXPECT_EQ(results[0].codes_path, reqs[0].codes_out);
  EXPECT_EQ(results[1].codes_path, reqs[1].codes_out);
  EXPECT_EQ(results[0].timings.frames, 3);
  EXPECT_EQ(frames_in(reqs[0].codes_out), 3);
  EXPECT_EQ(frames_in(reqs[1].codes_out), 5);
}

TEST(OutputBatch, DrainsWhenTheLoopThrows) {
  TempDir d;
  hr::ModelSession session(no_models());
  hr::OutputPipeline pipeline(session);
  const SongRequest req = codes_only(d.path / "a.safetensors");
  SongResult result;
  try {
    hr::OutputBatch batch(pipeline, {&req}, {&result}, {0}, true, {});
    pipeline.worker().post([] { std::this_thread::sleep_for(std::chrono::milliseconds(200)); });
    batch.song_ended(0, at::zeros({4, 8}, at::kLong));
    throw std::runtime_error("the frame loop failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(result.codes_path, req.codes_out);
  EXPECT_EQ(frames_in(req.codes_out), 4);
}

TEST(OutputBatch, WithoutAWorkerSongsAreFinishedAfterTheLoopInOrder) {
  TempDir d;
  hr::ModelSession session(no_models());
  hr::OutputPipeline pipeline(session);
  const std::vector<SongRequest> reqs = {codes_only(d.path / "a.safetensors"), codes_only(d.path / "b.safetensors")};
  std::vector<SongResult> results(2);
  std::vector<size_t> order;
  hr::OutputBatch batch(pipeline, {&reqs[0], &reqs[1]}, {&results[0], &results[1]}, {0, 1}, /*on_worker=*/false,
                        [&](size_t i, const SongResult&) { order.push_back(i); });
  batch.song_ended(1, at::zeros({2, 8}, at::kLong));
  batch.song_ended(0, at::zeros({6, 8}, at::kLong));
  EXPECT_FALSE(fs::exists(reqs[0].codes_out)) << "nothing is written before finish()";
  const auto outcomes = batch.finish();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_FALSE(outcomes[0].error);
  EXPECT_EQ(order, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(frames_in(reqs[0].codes_out), 6);
  EXPECT_EQ(frames_in(reqs[1].codes_out), 2);
}

TEST(SongScheduler, InterruptionSavesWhatExistsAndStartsNoLaterBatch) {
  TempDir d;
  const ModelSettings s = lm_only(checkpoint(d));
  ASSERT_FALSE(s.model_path.empty());
  heartmula::Generator gen(s);
  std::vector<SongRequest> reqs = lm_songs(d.path, "s", 3, 10, 2000);
  reqs[2].temperature = 0.9;  // another batch, after the first
  int64_t frames_when_stopped = 0;
  std::vector<size_t> saved;
  const auto results = gen.generate_many(
      reqs, [&](int64_t done, int64_t, double) { frames_when_stopped = done; },
      [&] { return frames_when_stopped >= 4; }, [&](size_t i, const SongResult&) { saved.push_back(i); });
  ASSERT_EQ(results.size(), 3u);
  for (size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    EXPECT_TRUE(results[i].interrupted);
    EXPECT_TRUE(results[i].error.empty()) << results[i].error;
    EXPECT_EQ(results[i].timings.frames, 4);
    EXPECT_EQ(frames_in(reqs[i].codes_out), 4);
  }
  std::sort(saved.begin(), saved.end());
  EXPECT_EQ(saved, (std::vector<size_t>{0, 1}));
  EXPECT_TRUE(results[2].interrupted);
  EXPECT_NE(results[2].error.find("interrupted before"), std::string::npos) << results[2].error;
  EXPECT_FALSE(fs::exists(reqs[2].codes_out));
}

// A song of a running batch stopped alone (SongStopFn) keeps what it has, as partial, while the
// other song of its batch comes out as it does when nothing is stopped, frame for frame.
TEST(SongScheduler, OneSongStoppedAloneLeavesTheOtherUnchanged) {
  TempDir d;
  const ModelSettings s = lm_only(checkpoint(d));
  ASSERT_FALSE(s.model_path.empty());
  heartmula::Generator gen(s);
  const auto whole_reqs = lm_songs(d.path, "whole", 2, 20, 1200);
  const auto whole = gen.generate_many(whole_reqs);
  const auto cut_reqs = lm_songs(d.path, "cut", 2, 20, 1200);
  int64_t frames_done = 0;
  std::vector<size_t> asked;
  const auto cut = gen.generate_many(
      cut_reqs, [&](int64_t done, int64_t, double) { frames_done = done; }, {}, {},
      [&](size_t i) {
        asked.push_back(i);
        return i == 0 && frames_done >= 4;
      });
  ASSERT_EQ(cut.size(), 2u);
  EXPECT_TRUE(cut[0].interrupted);
  EXPECT_TRUE(cut[0].error.empty()) << cut[0].error;
  EXPECT_LT(cut[0].timings.frames, whole[0].timings.frames);
  EXPECT_FALSE(cut[1].interrupted);
  EXPECT_FALSE(whole[1].interrupted);
  EXPECT_EQ(cut[1].timings.frames, whole[1].timings.frames);
  EXPECT_GT(std::count(asked.begin(), asked.end(), size_t{1}), 0);
  const auto frames = [](const std::string& p) { return heartmula::io::load_all_tensors(p).at("frames"); };
  EXPECT_TRUE(at::equal(frames(cut_reqs[1].codes_out), frames(whole_reqs[1].codes_out)));
  // The stopped song's frames are the first frames of its uncut self.
  const at::Tensor part = frames(cut_reqs[0].codes_out);
  EXPECT_EQ(part.size(0), cut[0].timings.frames);
  EXPECT_TRUE(at::equal(part, frames(whole_reqs[0].codes_out).narrow(0, 0, part.size(0))));
}
