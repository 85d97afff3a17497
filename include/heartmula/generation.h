// Parameter structs of the generation pipeline. The CLI fills them and nothing else;
// validate() checks every value and names the flag in its message.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace heartmula {

// What stays fixed while a model is loaded: where it is, where it runs, in which precision.
struct ModelSettings {
  std::string model_path =
      "./ckpt";  // holds HeartMuLa-oss-<version>/, HeartCodec-oss/, tokenizer.json, gen_config.json
  std::string version = "3B";
  std::string device = "auto";  // default for both models: auto|cpu|cuda[:N]|xpu[:N]
  std::string mula_device;      // empty: same as device
  std::string codec_device;     // empty: same as device
  std::string mula_dtype;       // fp32|bf16|fp16|int8 (int8 weights, bf16 compute); empty: bf16 on GPUs, fp32 on CPU
  std::string codec_dtype = "auto";  // auto|fp32|tf32|bf16|fp16[/DECODER] (codec::CodecLoad::parse)
  bool lazy_load = false;            // free the LM (and its caches) before the codec runs
  int threads = 0;                   // CPU threads; 0: LibTorch's default
  bool need_lm = true;               // false with --codes-in
  bool need_codec = true;            // false with --no-audio

  void validate() const;  // throws UsageError naming the flag
};

// Whether a song's audio is decoded and written window by window beside the frame loop
// (SongRequest::streamed): automatic (on whenever there is audio to write and the codec stays
// loaded beside the LM), on (--stream), off (--no-stream: the whole song after the last frame).
enum class StreamMode { automatic, on, off };

// How the temperature goes from its START to its END over a song (--temperature
// START:END[:linear|cosine]); see runtime::scheduled_temperature.
enum class TemperatureShape { linear, cosine };

// One song. The numbers' limits are in one table, src/runtime/song_params.cpp (validate() uses it).
struct SongRequest {
  std::string lyrics;  // the text itself (files are read by the caller)
  std::string tags;
  std::optional<uint64_t> seed;  // random when absent; the one used is reported
  int64_t max_audio_length_ms = 240000;
  double temperature = 1.0;  // START of --temperature START[:END[:linear|cosine]]
  // END: the temperature at the song's frame limit; absent: `temperature` for every frame. The
  // temperature of frame t moves from START to END by progress t / (frame limit - 1).
  std::optional<double> temperature_end;
  TemperatureShape temperature_shape = TemperatureShape::linear;
  int topk = 50;
  double cfg_scale = 1.5;
  bool ignore_eos = false;
  int codec_steps = 10;
  double codec_guidance = 1.25;
  std::string save_path;  // audio file ("" with no_audio)
  bool no_audio = false;  // LM only
  std::string codes_out;  // also save the frames (.safetensors, tensor `frames` [T, 8])
  std::string codes_in;   // skip the LM: decode these frames
  int mp3_bitrate_kbps = 320;
  bool overwrite = false;
  // Decode and encode each 29.76 s codec window as soon as its codes exist, while the LM goes
  // on; the audio file grows as windows finish. Same bytes as without it. See streamed().
  StreamMode stream = StreamMode::automatic;
  // MP3 files: with the LAME/Info tag frame, filled in when the file is complete. false: none
  // (as on stdout), so that every byte is final once written and the file can be read while it
  // grows (heartmula-server streams it); the same bytes as heartmula-gen writes to stdout.
  bool mp3_lame_tag = true;
  // Format of the audio when save_path is "-" (stdout): "mp3" or "wav".
  std::string stdout_format = "mp3";

  void validate() const;  // throws UsageError naming the flag
  // The one decision whether this song is streamed, with these model settings: never without
  // audio from the LM (no_audio, codes_in); off: no; on: yes (UsageError with lazy_load, which
  // frees the LM before the codec loads); automatic: yes unless lazy_load.
  bool streamed(const ModelSettings& m) const;
};

struct Timings {
  double load_s = 0, prompt_s = 0, frames_s = 0, codec_s = 0, encode_s = 0, total_s = 0;
  int64_t frames = 0;  // frames kept
  int64_t frames_planned = 0;
  int64_t prompt_len = 0;
  double audio_s = 0;  // seconds of audio written
  uint64_t peak_mula_bytes = 0, peak_codec_bytes = 0;
  int64_t batch_songs = 1;  // songs that shared the LM batch (prompt_s, frames_s are the batch's)
  // Seconds from the start of generation (weights loaded) to the first audio written: the
  // first streamed window's samples, or (not streamed) the whole file.
  double first_audio_s = 0;
  // Seconds the codec worker spent on its warm-up window beside the first frames
  // (HeartCodec::warm_up: only when windows are decoded beside the LM on a GPU).
  double codec_warmup_s = 0;
  // --- the song's wall time as a person sees it (scripts/wall-time.sh); every part measured
  // on its own, in the order they happen ---
  // Parts of load_s: the device's context (CUDA/XPU; 0 on the CPU), the language model's
  // weights, the codec's weights (with its graphs' set-up).
  double device_init_s = 0, lm_load_s = 0, codec_load_s = 0;
  // Part of frames_s: the frame loop's graph captures (host time of the steps that captured,
  // including the device synchronisation a capture starts with; 0 without graphs).
  double graph_capture_s = 0;
  // From the end of the frame loop to the song's file being complete: the codec and the
  // encoder's work that did not happen beside the loop.
  double after_frames_s = 0;
  // Set by heartmula-gen (0 from the library): seconds from the process's start to main()
  // (dynamic loading, static constructors; exact to 10 ms), from main() to the start of
  // loading (options, checks, tokenizer), and from the process's start to the moment this
  // song's report was made. process_s and setup_s go to the first song reported, as load_s.
  double process_s = 0, setup_s = 0, reported_at_s = 0;
  double ms_per_frame() const { return frames > 0 ? 1000.0 * frames_s / static_cast<double>(frames) : 0; }
  double frames_per_s() const { return frames_s > 0 ? static_cast<double>(frames) / frames_s : 0; }
  double rtf() const { return audio_s > 0 ? total_s / audio_s : 0; }
};

struct SongResult {
  uint64_t seed = 0;
  std::string save_path;   // written audio file ("" if none)
  std::string codes_path;  // written codes file ("" if none)
  bool stopped_at_eos = false;
  bool interrupted = false;  // partial song (Ctrl-C)
  std::string error;         // generate_many: why this song failed ("" = it did not)
  std::string device;        // several devices (runtime::DevicePool): the one that made it; else ""
  Timings timings;
};

// Progress of the frame loop: frames done, frames planned, seconds since the loop began.
using ProgressFn = std::function<void(int64_t done, int64_t planned, double elapsed_s)>;
// Polled once per frame; returning true stops the loop (what exists is still decoded and saved).
using StopFn = std::function<bool()>;
// Polled once per frame for each song still running in a batch, with the song's index in the
// request list; returning true ends that song alone, as its own end token would: it keeps the
// frames it has and is saved as partial (interrupted), while the other songs of its batch go
// on, their frames unchanged.
using SongStopFn = std::function<bool(size_t index)>;
// Called (from the codec worker thread) as soon as a song's audio file is complete, with the
// song's index in the request list; songs of a batch are saved in the order they end.
using SongSavedFn = std::function<void(size_t index, const SongResult& result)>;

}  // namespace heartmula
