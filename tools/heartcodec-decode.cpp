// heartcodec-decode: audio codes -> 48 kHz stereo with HeartCodec (docs/codec.md).
//   heartcodec-decode --codec DIR --codes F.safetensors [--noise N.safetensors] -o OUT
// OUT is a .safetensors file (tensor `wav`, float32 [2, N]) or audio (.wav .mp3 .flac .ogg).
// --compare-dtype P decodes the same codes and noise a second time in precision P and prints
// the SNR of the output against it (docs/codec.md "Precision").
#include <CLI/CLI.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "codec/compare.h"
#include "cli_defaults.h"
#include "codec/heartcodec.h"
#include "heartmula/error.h"
#include "tool_main.h"
#include "io/audio_writer.h"
#include "io/torch_tensors.h"
#include "runtime/device.h"
#include "runtime/song_params.h"
#include "runtime/step_graphs.h"

namespace fs = std::filesystem;
using namespace heartmula;

namespace {

struct Cli {
  std::string codec_dir, codes_path, noise_path, out_path;
  std::string device = "cpu", dtype = "auto", compare_dtype;
  codec::DetokenizeOptions opts;
  int threads = 0;
  int mp3_bitrate = 320;
  bool overwrite = false, quiet = false;
};

// The limits and wording of heartmula-gen's song parameter `key` (runtime/song_params.h): CLI11
// prints "error: --guidance: must be a number in [0, 100]. Given: 101".
void song_param_range(CLI::Option* option, const char* key) {
  const runtime::SongParam& p = runtime::song_param(key);
  option->type_name(std::string(p.integer ? "INT" : "FLOAT") + " in [" + runtime::format_number(p.lo) + ", " +
                    runtime::format_number(p.hi) + "]");
  option->check(CLI::Validator(
      [&p](std::string& text) -> std::string {
        try {
          (void)p.parse(text);
        } catch (const UsageError&) {
          return p.error("", text).substr(1);  // "must be ...", without a name: CLI11 puts the flag first
        }
        return "";
      },
      ""));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool is_safetensors(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == ".safetensors";
}

// Checks OUT before any work: a known extension, an existing writable folder, no file there
// unless --overwrite.
void check_output(const Cli& c) {
  if (!is_safetensors(c.out_path)) {
    try {
      io::format_from_path(c.out_path);
    } catch (const Error&) {
      throw UsageError("-o " + c.out_path + ": unknown output extension; use .safetensors, .wav, .mp3, .flac or .ogg");
    }
    io::check_output_path(c.out_path, c.overwrite);
    return;
  }
  const fs::path dir = fs::path(c.out_path).parent_path();
  if (!dir.empty() && !fs::is_directory(dir))
    throw Error("folder '" + dir.string() + "' of output '" + c.out_path + "' does not exist");
  if (fs::exists(c.out_path) && !c.overwrite)
    throw Error("output file '" + c.out_path + "' exists already (use --overwrite to replace it)");
}

// codes int64 [Q, T] from tensor `codes` [Q, T] or `frames` [T, Q] (as heartmula-gen --codes-out writes).
at::Tensor read_codes(const std::string& path) {
  const auto t = io::load_all_tensors(path);
  at::Tensor codes;
  if (t.count("codes")) {
    codes = t.at("codes");
  } else if (t.count("frames")) {
    if (t.at("frames").dim() != 2)
      throw Error(path + ": tensor 'frames' must be [T, 8], got " + c10::str(t.at("frames").sizes()));
    codes = t.at("frames").t();
  } else {
    throw Error(path + ": no tensor 'codes' [8, T] or 'frames' [T, 8]");
  }
  if (!at::isIntegralType(codes.scalar_type(), false))
    throw Error(path + ": codes must be integers, got " + std::string(c10::toString(codes.scalar_type())));
  return codes.to(at::kLong).contiguous();
}

// A noise file that also holds the codes it was recorded for (the fixtures do: codes, noise_0..)
// must be used with codes of that length: noise for a window is drawn for the codes' whole
// window plan, so noise recorded for 200 frames replayed over 25 frames (one window either way)
// would decode without complaint but not as the recording did.
void check_noise_recorded_for(const std::string& noise_path, const std::map<std::string, at::Tensor>& noise,
                              const at::Tensor& codes) {
  int64_t recorded = -1;
  if (noise.count("codes") && noise.at("codes").dim() == 2)
    recorded = noise.at("codes").size(1);
  else if (noise.count("frames") && noise.at("frames").dim() == 2)
    recorded = noise.at("frames").size(0);
  if (recorded >= 0 && recorded != codes.size(1))
    throw Error(noise_path + ": the noise was recorded for " + std::to_string(recorded) +
                " frames of codes (its codes tensor), but the codes to decode have " + std::to_string(codes.size(1)) +
                " frames (the noise was recorded for other codes)");
}

void write_output(const Cli& c, const at::Tensor& wav, int64_t sample_rate) {
  if (is_safetensors(c.out_path)) {
    io::save_tensors(c.out_path, {{"wav", wav}}, {{"sample_rate", std::to_string(sample_rate)}});
    return;
  }
  io::AudioWriteOptions ao;
  ao.sample_rate = static_cast<int>(sample_rate);
  ao.mp3_bitrate_kbps = c.mp3_bitrate;
  io::write_audio_file(c.out_path, wav.data_ptr<float>(), static_cast<size_t>(wav.size(1)), ao, c.overwrite);
}

void add_options(CLI::App& app, Cli& c) {
  auto* in = app.add_option_group("Input");
  in->add_option("--codec", c.codec_dir, "HeartCodec checkpoint folder (config.json + safetensors)")->required();
  in->add_option("--codes", c.codes_path, "codes: tensor 'codes' int [8, T] or 'frames' [T, 8]")->required();
  in->add_option("--noise", c.noise_path, "recorded noise: tensors noise_0..noise_k (default: --seed)");
  auto* cod = app.add_option_group("Codec");
  song_param_range(cod->add_option("--steps", c.opts.steps, "Euler steps per window")->capture_default_str(),
                   "codec_steps");
  song_param_range(cod->add_option("--guidance", c.opts.guidance, "classifier-free guidance scale (<= 1: none)")
                       ->capture_default_str(),
                   "codec_guidance");
  cod->add_option("--seed", c.opts.seed, "noise seed when no --noise is given")->capture_default_str();
  auto* dev = app.add_option_group("Device");
  dev->add_option("--device", c.device, "cpu, cuda, cuda:N, xpu")->capture_default_str();
  dev->add_option("--dtype,--codec-dtype", c.dtype,
                  "precision auto|fp32|tf32|bf16|fp16 or ESTIMATOR/DECODER (auto: bf16/tf32 on CUDA, fp32 on CPU)")
      ->capture_default_str();
  dev->add_option("--compare-dtype", c.compare_dtype,
                  "decode again in this precision (e.g. fp32) with the same codes and noise; print the SNR");
  dev->add_option("--threads", c.threads, "CPU threads (0: LibTorch's default)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  auto* out = app.add_option_group("Output");
  out->add_option("-o,--output", c.out_path, "output: .safetensors (tensor 'wav' f32 [2, N]) or .wav .mp3 .flac .ogg")
      ->required();
  song_param_range(out->add_option("--mp3-bitrate", c.mp3_bitrate, "MP3 bitrate in kbps")->capture_default_str(),
                   "mp3_bitrate");
  out->add_flag("--overwrite", c.overwrite, "replace an existing output file");
  out->add_flag("-q,--quiet", c.quiet, "no progress or timings on stderr");
}

struct Decoded {
  at::Tensor wav;
  int64_t sample_rate = 48000;
  double load_s = 0, decode_s = 0;
  size_t tensors = 0;
};

// Loads the codec with `load`, decodes `codes` (replaying `noise_tensors` when given, else
// --seed) and frees the codec again.
Decoded decode(const Cli& c, const codec::CodecLoad& load, const at::Tensor& codes,
               const std::map<std::string, at::Tensor>& noise_tensors) {
  codec::DetokenizeOptions opts = c.opts;
  std::unique_ptr<codec::RecordedNoise> noise;
  if (!noise_tensors.empty())
    noise = std::make_unique<codec::RecordedNoise>(codec::RecordedNoise::from_tensors(noise_tensors, c.noise_path));
  opts.noise = noise.get();
  Decoded d;
  auto t0 = std::chrono::steady_clock::now();
  const auto hc = codec::HeartCodec::load(c.codec_dir, load);
  d.load_s = seconds_since(t0);
  d.tensors = hc.load_info().tensors;
  d.sample_rate = hc.sample_rate();
  opts.graphs = runtime::make_codec_graphs(load.device);  // the Euler solve from a device graph where there are any
  t0 = std::chrono::steady_clock::now();
  if (!c.quiet)
    opts.progress = [t0](size_t done, size_t total) {
      std::fprintf(stderr, "codec: window %zu/%zu done (%.2f s)\n", done, total, seconds_since(t0));
    };
  d.wav = hc.detokenize(codes, opts);
  d.decode_s = seconds_since(t0);
  return d;
}

void report(const Decoded& d, const codec::CodecLoad& load, const at::Tensor& codes, c10::Device device,
            const std::string& asked) {
  const double audio_s = static_cast<double>(d.wav.size(1)) / static_cast<double>(d.sample_rate);
  std::fprintf(stderr, "load time   = %8.2f s (%zu tensors)\n", d.load_s, d.tensors);
  std::fprintf(stderr, "decode time = %8.2f s (%lld frames, %s, %s = %s)\n", d.decode_s,
               static_cast<long long>(codes.size(1)), device.str().c_str(), asked.c_str(), load.label().c_str());
  std::fprintf(stderr, "audio       = %8.2f s, RTF = %.3f\n", audio_s, d.decode_s / audio_s);
}

int run(int argc, char** argv) {
  CLI::App app{"heartcodec-decode: audio codes -> 48 kHz stereo with HeartCodec (LibTorch)"};
  Cli c;
  add_options(app, c);
  if (const auto code = tools::parse_command_line(app, argc, argv)) return *code;
  c.opts.validate();
  const c10::Device device = runtime::parse_device(c.device);
  const codec::CodecLoad load = codec::CodecLoad::parse(c.dtype, device, "--dtype");
  codec::CodecLoad compare;
  if (!c.compare_dtype.empty()) compare = codec::CodecLoad::parse(c.compare_dtype, device, "--compare-dtype");
  check_output(c);
  if (c.threads > 0) at::set_num_threads(c.threads);

  const at::Tensor codes = read_codes(c.codes_path);
  std::map<std::string, at::Tensor> noise_tensors;
  if (!c.noise_path.empty()) {
    noise_tensors = io::load_all_tensors(c.noise_path);
    check_noise_recorded_for(c.noise_path, noise_tensors, codes);
  }
  const Decoded main = decode(c, load, codes, noise_tensors);
  write_output(c, main.wav, main.sample_rate);
  if (!c.quiet) report(main, load, codes, device, c.dtype);
  if (!c.compare_dtype.empty()) {
    const Decoded ref = decode(c, compare, codes, noise_tensors);
    if (!c.quiet) report(ref, compare, codes, device, c.compare_dtype);
    std::printf("SNR of %s against %s = %.2f dB\n", load.label().c_str(), compare.label().c_str(),
                codec::snr_db(ref.wav, main.wav));
  }
  std::printf("Saved to %s\n", c.out_path.c_str());
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  return heartmula::tools::run_tool([&] { return run(argc, argv); });
}
