// heartmula-bench: speed of the language model (frames/s by CFG and position), the codec and
// checkpoint loading, llama-bench style (docs/performance.md). By default the LM is the real
// 3B architecture with random weights built directly on the device: no download needed.
//   heartmula-bench                                   # cfg 1.5,1.0 x positions 226,1000,2500
//   heartmula-bench --load ckpt --codec --codec-path ckpt   # + loading and codec rows
#include <CLI/CLI.hpp>

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/bench_report.h"
#include "bench/codec_bench.h"
#include "bench/fidelity.h"
#include "bench/gemm_bench.h"
#include "bench/kernel_profile.h"
#include "bench/lm_bench.h"
#include "bench/model_configs.h"
#include "bench/song_bench.h"
#include "heartmula/error.h"
#include "cli_defaults.h"
#include "tool_main.h"
#include "io/kernel_paths.h"
#include "io/switches.h"
#include "io/weight_binder.h"
#include "runtime/device.h"
#include "runtime/step_graphs.h"

namespace fs = std::filesystem;
using namespace heartmula;
using tools::OJson;

namespace {

struct Cli {
  std::string model_path, load_dir, codec_path, device = "auto", dtype, codec_dtype = "auto";
  std::string cfgs = "1.5,1.0", positions = "226,1000,2500", codec_seconds = "30,120";
  std::string num_songs;  // --num-songs 1,2,4,...: "batch" rows instead of "frames" rows
  std::string format, out_path, profile_path;
  bool tiny = false, codec = false, json = false, quiet = false;
  double song_seconds = 0;           // > 0: whole-song rows
  std::string song_lazy = "off,on";  // --song-lazy-load: rows without / with lazy load
  int64_t frames = 64, warmup = 8, reps = 3, topk = 50, attention_bucket = 0;
  bool no_graphs = false;
  bool load_cold = false;  // --load-cold: also rows with the files dropped from the page cache
  double temperature = 1.0, mem_bw = 0;
  uint64_t seed = 0;
  int threads = 0;
  bool gemm = false;                      // --gemm: per-shape rows of the linear layers
  std::string gemm_rows = "1,2,4,16,32";  // --gemm-rows
  std::string compare_dtype;              // --compare-dtype REF,TEST: fidelity rows
  int64_t compare_frames = 64;            // --compare-frames
};

template <typename T>
std::vector<T> parse_list(const std::string& text, const std::string& flag) {
  std::vector<T> out;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ',');) {
    std::istringstream in(part);
    T v{};
    if (!(in >> v) || !(in >> std::ws).eof())
      throw UsageError(flag + " takes comma-separated numbers. Given: '" + text + "'");
    out.push_back(v);
  }
  if (out.empty()) throw UsageError(flag + " is empty");
  return out;
}

std::vector<std::string> parse_words(const std::string& text, const std::string& flag) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ',');) out.push_back(part);
  if (out.empty()) throw UsageError(flag + " is empty");
  return out;
}

// A checkpoint root (holding `sub`) or the model folder itself.
std::string resolve_dir(const std::string& dir, const std::string& sub) {
  if (fs::exists(dir + "/" + sub + "/config.json")) return dir + "/" + sub;
  if (fs::exists(dir + "/config.json")) return dir;
  throw Error("'" + dir + "' holds neither " + sub + "/config.json nor config.json");
}

// The bandwidth a frame's weight reads are compared with: device-to-device copy rate measured
// on an H100 80GB HBM3 (ANCHORS: 3018 GB/s); others need --mem-bw.
double default_mem_bw(const runtime::DeviceInfo& info) {
  if (info.device.is_cpu()) return 0.0;
  if (info.name.find("H100") != std::string::npos && info.name.find("PCIe") == std::string::npos) return 3000.0;
  if (info.name.find("H200") != std::string::npos) return 4300.0;  // ~90 % of 4.8 TB/s, as 3.0 of 3.35 on H100
  return 0.0;
}

model::HeartMuLaModel random_model(const Cli& c, const model::LmPrecision& prec, c10::Device dev) {
  model::HeartMuLaModel m;
  const auto size = c.tiny ? tools::ModelSize::Tiny : tools::ModelSize::Real;
  m.config = model::HeartMuLaConfig::from_json(tools::lm_config_json(size).dump(), "<built-in LM config>");
  m.dtype = prec.compute;
  m.weights = prec.weights;
  m.device = dev;
  io::WeightBinder binder(prec.compute, dev);
  m.declare(binder);
  binder.bind_random(c.seed);
  runtime::synchronize(dev);
  return m;
}

model::GenConfig gen_config(const Cli& c) {
  if (!c.model_path.empty() && fs::exists(c.model_path + "/gen_config.json"))
    return model::GenConfig::from_file(c.model_path + "/gen_config.json");
  return model::GenConfig::from_json(
      tools::gen_config_json(c.tiny ? tools::ModelSize::Tiny : tools::ModelSize::Real).dump(), "<built-in gen config>");
}

void frame_rows(const Cli& c, c10::Device dev, const model::LmPrecision& dtype, double mem_bw,
                tools::BenchReport& rep) {
  const auto cfgs = parse_list<double>(c.cfgs, "--cfg");
  const auto positions = parse_list<int64_t>(c.positions, "--positions");
  auto t0 = std::chrono::steady_clock::now();
  model::HeartMuLaModel m =
      c.model_path.empty() ? random_model(c, dtype, dev)
                           : model::HeartMuLaModel::load(resolve_dir(c.model_path, "HeartMuLa-oss-3B"), dtype, dev);
  runtime::synchronize(dev);
  const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const model::GenConfig gen = gen_config(c);
  const tools::FrameBytes bytes = tools::frame_weight_bytes(m.config, dtype);
  rep.info["lm"] = c.model_path.empty()
                       ? std::string("random weights, ") + (c.tiny ? "tiny test shapes"
                                                                   : "real architecture (" + m.config.backbone_flavor +
                                                                         " / " + m.config.decoder_flavor + ")")
                       : c.model_path;
  rep.info["lm_dtype"] = dtype.name();
  rep.info["lm_parameters"] = bytes.parameters;
  rep.info["lm_build_seconds"] = build_s;
  rep.info["weight_bytes_per_frame"] = bytes.total();
  rep.info["weight_bytes_backbone"] = bytes.backbone;
  rep.info["weight_bytes_decoder_x7"] = bytes.decoder;
  rep.info["weight_bytes_heads"] = bytes.heads;
  if (!c.quiet)
    std::fprintf(stderr, "LM ready in %.2f s: %.3f B parameters, %.2f GB of weights read per frame\n", build_s,
                 static_cast<double>(bytes.parameters) / 1e9, static_cast<double>(bytes.total()) / 1e9);
  tools::FrameBenchOptions o;
  o.frames = c.frames, o.warmup = c.warmup, o.reps = c.reps, o.topk = c.topk;
  o.temperature = c.temperature, o.seed = c.seed, o.mem_bw_gbps = mem_bw, o.quiet = c.quiet;
  o.attention_bucket = c.attention_bucket;
  o.use_graphs = !c.no_graphs;
  for (int64_t p : positions) o.position = p, tools::check_fits(m, o);
  std::string profile_md;
  const bool batches = !c.num_songs.empty();
  const auto songs = parse_list<int64_t>(batches ? c.num_songs : "1", "--num-songs");
  for (int64_t n : songs)
    if (n < 1 || n > 1024) throw UsageError("--num-songs takes numbers in [1, 1024]. Given: " + c.num_songs);
  for (double cfg : cfgs) {
    o.cfg = cfg;
    std::vector<double> single(positions.size(), 0.0);  // song-frames/s of the first N, per position
    for (int64_t n : songs) {
      o.songs = n;
      o.position = positions.front();
      tools::warm_up(m, gen, o);  // every batch shape is its own set of shapes (and graphs): warm each up
      for (size_t i = 0; i < positions.size(); ++i) {
        o.position = positions[i];
        OJson row = tools::bench_frames(m, gen, o);
        if (batches) {
          const double sfps = row["song_frames_per_second"]["mean"].get<double>();
          if (single[i] == 0.0) single[i] = sfps;
          row["test"] = "batch";
          row["speedup"] = sfps / single[i];  // over the first --num-songs entry (N = 1 when it leads)
        }
        rep.rows.push_back(row);
      }
    }
    o.songs = 1;
    if (!c.profile_path.empty()) {  // where the time of the first position's frames goes
      o.position = positions.front();
      OJson pj;
      profile_md += tools::profile_frames(m, gen, o, &pj);
      rep.info["profiles"].push_back(pj);
    }
  }
  if (!c.profile_path.empty()) {
    std::ofstream out(c.profile_path, std::ios::binary);
    if (!(out << profile_md)) throw Error("--profile: cannot write '" + c.profile_path + "'");
    if (!c.quiet) std::fprintf(stderr, "%s", profile_md.c_str());
  }
}

void codec_rows(const Cli& c, c10::Device dev, tools::BenchReport& rep) {
  std::string dir = !c.codec_path.empty() ? c.codec_path : c.model_path;
  if (dir.empty())
    throw UsageError("--codec needs --codec-path DIR (or --model-path): write one with make-random-checkpoint");
  dir = resolve_dir(dir, "HeartCodec-oss");
  const codec::CodecLoad load = codec::CodecLoad::parse(c.codec_dtype, dev);
  auto t0 = std::chrono::steady_clock::now();
  codec::HeartCodec codec = codec::HeartCodec::load(dir, load);
  rep.info["codec"] = dir;
  rep.info["codec_dtype"] = load.label();
  rep.info["codec_load_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto graphs = runtime::make_codec_graphs(dev);  // HEARTMULA_NO_CODEC_GRAPHS=1: eager
  tools::warm_up_codec(codec, c.seed, graphs);
  rep.info["codec_graphs"] = graphs != nullptr;
  for (double s : parse_list<double>(c.codec_seconds, "--codec-seconds")) {
    if (!(s > 0 && s <= 3600)) throw UsageError("--codec-seconds must be in (0, 3600]. Given: " + std::to_string(s));
    tools::CodecBenchOptions o;
    o.audio_seconds = s, o.reps = c.reps, o.seed = c.seed, o.quiet = c.quiet, o.graphs = graphs;
    rep.rows.push_back(tools::bench_codec(codec, o));
  }
  if (!c.profile_path.empty()) {  // where a window's device time goes; after the frame profiles
    OJson pj;
    const std::string md = tools::profile_codec_window(codec, c.seed, load.label(), &pj, graphs);
    rep.info["profiles"].push_back(pj);
    std::ofstream out(c.profile_path, c.frames > 0 ? std::ios::binary | std::ios::app : std::ios::binary);
    if (!(out << md)) throw Error("--profile: cannot write '" + c.profile_path + "'");
    if (!c.quiet) std::fprintf(stderr, "%s", md.c_str());
  }
}

// Whole-song rows: LM (random weights of the real shapes unless --model-path), frames, codec
// (--codec-path, --model-path, else random weights built on the device), MP3.
void song_rows(const Cli& c, c10::Device dev, const model::LmPrecision& dtype, tools::BenchReport& rep) {
  if (!(c.song_seconds > 0 && c.song_seconds <= 3600))
    throw UsageError("--song-seconds must be in (0, 3600]. Given: " + std::to_string(c.song_seconds));
  const model::GenConfig gen = gen_config(c);
  const codec::CodecLoad cl = codec::CodecLoad::parse(c.codec_dtype, dev);
  const std::string codec_dir = !c.codec_path.empty() ? c.codec_path : c.model_path;
  const codec::HeartCodecConfig random_cfg =
      tools::bench_codec_config(c.tiny ? tools::ModelSize::Tiny : tools::ModelSize::Real);
  auto make_lm = [&] {
    return c.model_path.empty()
               ? random_model(c, dtype, dev)
               : model::HeartMuLaModel::load(resolve_dir(c.model_path, "HeartMuLa-oss-3B"), dtype, dev);
  };
  auto make_codec = [&] {
    return codec_dir.empty() ? codec::HeartCodec::random(random_cfg, cl, c.seed)
                             : codec::HeartCodec::load(resolve_dir(codec_dir, "HeartCodec-oss"), cl);
  };
  rep.info["song_codec"] =
      codec_dir.empty() ? std::string("random weights (") + (c.tiny ? "tiny" : "real") + " shapes)" : codec_dir;
  tools::SongBenchOptions o;
  o.song_seconds = c.song_seconds, o.cfg = parse_list<double>(c.cfgs, "--cfg").front();
  o.topk = c.topk, o.temperature = c.temperature, o.seed = c.seed, o.quiet = c.quiet;
  o.use_graphs = !c.no_graphs;
  for (const std::string& mode : parse_words(c.song_lazy, "--song-lazy-load")) {
    if (mode != "off" && mode != "on")
      throw UsageError("--song-lazy-load takes off, on or off,on. Given: " + c.song_lazy);
    o.lazy_load = mode == "on";
    rep.rows.push_back(tools::bench_song(make_lm, gen, make_codec, dev, o));
    runtime::release_cached_memory(dev);
  }
}

void load_rows(const Cli& c, c10::Device dev, const model::LmPrecision& dtype, tools::BenchReport& rep) {
  bool any = false;
  if (fs::exists(c.load_dir + "/HeartMuLa-oss-3B/config.json") || fs::exists(c.load_dir + "/config.json")) {
    const std::string dir = resolve_dir(c.load_dir, "HeartMuLa-oss-3B");
    rep.rows.push_back(tools::bench_load_lm(dir, dtype, dev, c.reps, c.quiet, false));
    if (c.load_cold) rep.rows.push_back(tools::bench_load_lm(dir, dtype, dev, c.reps, c.quiet, true));
    any = true;
  }
  if (fs::exists(c.load_dir + "/HeartCodec-oss/config.json")) {
    const codec::CodecLoad cl = codec::CodecLoad::parse(c.codec_dtype, dev);
    rep.rows.push_back(tools::bench_load_codec(c.load_dir + "/HeartCodec-oss", cl, c.reps, c.quiet, false));
    if (c.load_cold)
      rep.rows.push_back(tools::bench_load_codec(c.load_dir + "/HeartCodec-oss", cl, c.reps, c.quiet, true));
    any = true;
  }
  if (!any) throw Error("--load '" + c.load_dir + "': no HeartMuLa-oss-3B/ or HeartCodec-oss/ checkpoint there");
}

// Per-shape GEMM rows: int8 (the skinny kernel where the device has it) against bf16 at::linear.
void gemm_rows(const Cli& c, c10::Device dev, tools::BenchReport& rep) {
  const auto size = c.tiny ? tools::ModelSize::Tiny : tools::ModelSize::Real;
  const auto config = model::HeartMuLaConfig::from_json(tools::lm_config_json(size).dump(), "<built-in LM config>");
  const double copy = tools::measure_copy_gbps(dev);
  rep.info["copy_gbps"] = copy;
  tools::GemmBenchOptions o;
  o.rows = parse_list<int64_t>(c.gemm_rows, "--gemm-rows");
  for (int64_t r : o.rows)
    if (r < 1 || r > 64) throw UsageError("--gemm-rows takes row counts in 1..64. Given: '" + c.gemm_rows + "'");
  o.seed = c.seed, o.quiet = c.quiet;
  for (auto& row : tools::bench_gemms(config, dev, copy, o)) rep.rows.push_back(std::move(row));
}

// Fidelity rows: the second precision of --compare-dtype against the first, teacher-forced on
// frames the first one sampled, and greedy (tools/bench/fidelity.h).
void fidelity_rows(const Cli& c, c10::Device dev, tools::BenchReport& rep) {
  const auto names = parse_words(c.compare_dtype, "--compare-dtype");
  if (names.size() != 2)
    throw UsageError("--compare-dtype takes two precisions, e.g. bf16,int8. Given: '" + c.compare_dtype + "'");
  const model::LmPrecision ref = model::parse_lm_precision(names[0]), test = model::parse_lm_precision(names[1]);
  auto make = [&](const model::LmPrecision& p) {
    return c.model_path.empty() ? random_model(c, p, dev)
                                : model::HeartMuLaModel::load(resolve_dir(c.model_path, "HeartMuLa-oss-3B"), p, dev);
  };
  const model::HeartMuLaModel a = make(ref), b = make(test);
  const model::GenConfig gen = gen_config(c);
  tools::FidelityOptions o;
  o.frames = c.compare_frames, o.cfg = parse_list<double>(c.cfgs, "--cfg").front();
  o.topk = c.topk, o.temperature = c.temperature, o.seed = c.seed;
  const int64_t position = parse_list<int64_t>(c.positions, "--positions").front();
  const model::Prompt prompt = tools::synthetic_prompt(position, a.num_codebooks(), c.seed);
  for (auto& row : tools::fidelity_rows(tools::compare_models(a, b, gen, prompt, o), ref.name(), test.name()))
    rep.rows.push_back(std::move(row));
}

void validate(const Cli& c) {
  if (c.frames < 0) throw UsageError("--frames must be >= 0. Given: " + std::to_string(c.frames));
  if (c.warmup < 0) throw UsageError("--warmup must be >= 0. Given: " + std::to_string(c.warmup));
  if (c.reps < 1) throw UsageError("--reps must be >= 1. Given: " + std::to_string(c.reps));
  if (c.tiny && !c.model_path.empty()) throw UsageError("--tiny and --model-path exclude each other");
  if (c.attention_bucket < 0)
    throw UsageError("--attention-bucket must be >= 0. Given: " + std::to_string(c.attention_bucket));
  if (c.mem_bw < 0) throw UsageError("--mem-bw must be >= 0. Given: " + std::to_string(c.mem_bw));
}

int run(const Cli& c) {
  c10::InferenceMode guard;
  validate(c);
  if (c.threads > 0) at::set_num_threads(c.threads);
  const c10::Device dev = runtime::parse_device(c.device);
  const model::LmPrecision dtype =
      c.dtype.empty() ? model::LmPrecision{runtime::default_lm_dtype(dev)} : model::parse_lm_precision(c.dtype);
  const runtime::DeviceInfo info = runtime::device_info(dev);
  const double mem_bw = c.mem_bw > 0 ? c.mem_bw : default_mem_bw(info);
  tools::OutputFormat format = c.json                ? tools::OutputFormat::Json
                               : !c.format.empty()   ? tools::parse_output_format(c.format, "--format")
                               : !c.out_path.empty() ? tools::format_from_path(c.out_path)
                                                     : tools::OutputFormat::Markdown;
  tools::BenchReport rep;
  rep.info["tool"] = "heartmula-bench " HEARTMULA_VERSION;
  rep.info["device"] = info.device.str();
  rep.info["device_name"] = info.name;
  rep.info["build"] = runtime::build_info();
  rep.info["switches"] = io::switch_values().set_list();
  rep.info["threads"] = at::get_num_threads();
  rep.info["mem_bw_gbps"] = mem_bw > 0 ? OJson(mem_bw) : OJson(nullptr);
  rep.info["topk"] = c.topk;
  rep.info["temperature"] = c.temperature;
  rep.info["seed"] = c.seed;
  if (!c.load_dir.empty()) load_rows(c, dev, dtype, rep);
  if (c.gemm) gemm_rows(c, dev, rep);
  if (!c.compare_dtype.empty()) fidelity_rows(c, dev, rep);
  if (c.frames > 0) frame_rows(c, dev, dtype, mem_bw, rep);
  runtime::release_cached_memory(dev);
  if (c.codec) codec_rows(c, dev, rep);
  if (c.song_seconds > 0) song_rows(c, dev, dtype, rep);
  rep.info["kernel_paths"] = io::describe_paths("; ");
  const std::string text = tools::format_report(rep, format);
  if (c.out_path.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::ofstream out(c.out_path, std::ios::binary);
    if (!(out << text)) throw Error("cannot write '" + c.out_path + "'");
    if (!c.quiet) std::fprintf(stderr, "saved to %s\n", c.out_path.c_str());
  }
  return kExitOk;
}

void add_options(CLI::App& app, Cli& c) {
  auto* model = app.add_option_group("Model");
  model->add_option("--model-path,--model_path", c.model_path,
                    "load the LM from this checkpoint folder (default: random weights, no file)");
  model->add_flag("--tiny", c.tiny, "random weights in the tiny test shapes instead of the real 3B architecture");
  model->add_option("--seed", c.seed, "seed of the random weights, prompt and sampling")->capture_default_str();
  auto* lm = app.add_option_group("Frames");
  lm->add_option("--cfg", c.cfgs, "CFG scales, one row set each (1.5: batch 2, 1.0: batch 1)")->capture_default_str();
  lm->add_option("--positions", c.positions, "prompt lengths the frames are measured at (--tiny: 226,900)")
      ->capture_default_str();
  lm->add_option("--num-songs,--num_songs", c.num_songs,
                 "songs per batch, one row set each, e.g. 1,2,4,8,16: song-frames/s and the speed-up over the first "
                 "(2N rows with cfg > 1; the batch loop of heartmula-gen --num-songs)");
  lm->add_option("--frames", c.frames, "measured frames per repetition (0: no frame rows)")->capture_default_str();
  lm->add_option("--warmup", c.warmup, "frames run before the measured ones, excluded")->capture_default_str();
  lm->add_option("--reps", c.reps, "repetitions of every row (mean ± sd)")->capture_default_str();
  lm->add_option("--topk", c.topk, "top-k cut")->capture_default_str();
  lm->add_option("--temperature", c.temperature, "sampling temperature")->capture_default_str();
  lm->add_option("--profile", c.profile_path,
                 "also profile the frames of each CFG scale at the first position and, with --codec, one codec window "
                 "(device kernel times) into this markdown file");
  lm->add_flag("--no-graphs", c.no_graphs, "run the frame step eagerly instead of replaying CUDA/XPU graphs");
  lm->add_option("--attention-bucket", c.attention_bucket,
                 "backbone attention length rounded up to a multiple of this (0: the filled length, as heartmula-gen)")
      ->capture_default_str();
  auto* q = app.add_option_group("Weights");
  q->add_flag("--gemm", c.gemm,
              "add per-shape rows of the linear layers: int8 and bf16 GEMM time and GB/s of weights "
              "against the device's copy bandwidth");
  q->add_option("--gemm-rows", c.gemm_rows, "activation rows of the --gemm rows (2 = one song with CFG)")
      ->capture_default_str();
  q->add_option("--compare-dtype", c.compare_dtype,
                "REF,TEST (e.g. bf16,int8): fidelity rows of TEST against REF on the same frames (first --cfg and "
                "--positions): per codebook KL, top-1/top-k agreement, logit error; greedy agreement");
  q->add_option("--compare-frames", c.compare_frames, "frames of the --compare-dtype comparison")
      ->capture_default_str();
  auto* cod = app.add_option_group("Codec");
  cod->add_flag("--codec", c.codec, "add codec rows (detokenize random codes)");
  cod->add_option("--codec-path,--codec_path", c.codec_path, "codec checkpoint (default: --model-path)");
  cod->add_option("--codec-seconds", c.codec_seconds, "audio lengths to detokenize")->capture_default_str();
  cod->add_option(
         "--codec-dtype,--codec_dtype", c.codec_dtype,
         "codec precision auto|fp32|tf32|bf16|fp16 or ESTIMATOR/DECODER (auto: bf16/tf32 on CUDA, fp32 on CPU)")
      ->capture_default_str();
  auto* song = app.add_option_group("Song");
  song->add_option("--song-seconds", c.song_seconds,
                   "add whole-song rows: load, this many seconds of frames (first --cfg), codec, MP3; seconds and "
                   "peak memory per phase (0: none)")
      ->capture_default_str();
  song->add_option("--song-lazy-load", c.song_lazy, "song rows without (off) and/or with (on) --lazy-load")
      ->capture_default_str();
  auto* load = app.add_option_group("Loading");
  load->add_option("--load", c.load_dir, "add rows timing the load of DIR/HeartMuLa-oss-3B and DIR/HeartCodec-oss");
  load->add_flag("--load-cold", c.load_cold,
                 "with --load: also rows with the checkpoint files dropped from the page cache before each load "
                 "(posix_fadvise; the row reports how much stayed cached)");
  auto* dev = app.add_option_group("Device");
  dev->add_option("--device", c.device, "auto|cpu|cuda[:N]|xpu[:N]")->capture_default_str();
  dev->add_option(
      "--dtype", c.dtype,
      "LM precision fp32|bf16|fp16|int8 (int8: 8-bit weights, bf16 compute; default: bf16 on GPUs, fp32 on CPU)");
  dev->add_option("--threads", c.threads, "CPU threads (0: all cores)")->capture_default_str();
  dev->add_option("--mem-bw", c.mem_bw, "device memory bandwidth in GB/s for the floor (0: known cards)")
      ->capture_default_str();
  auto* out = app.add_option_group("Output");
  out->add_flag("--json", c.json, "JSON output (same as --format json)");
  out->add_option("--format", c.format, "md|json|csv (default: from -o's extension, else md)");
  out->add_option("-o,--output", c.out_path, "write the results to this file instead of stdout");
  out->add_flag("-q,--quiet", c.quiet, "no progress on stderr");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"heartmula-bench: language-model frames/s, codec and loading speed"};
  Cli c;
  add_options(app, c);
  heartmula::tools::last_value_wins(app);
  if (const auto code = heartmula::tools::parse_command_line(app, argc, argv)) return *code;
  if (c.tiny && app.count("--positions") == 0) c.positions = "226,900";  // the tiny context is 1024
  return heartmula::tools::run_tool(
      [&] { return run(c); },
      [](const std::exception& e) {
        if (!runtime::is_out_of_memory(e)) return;
        std::fprintf(stderr, "%s",
                     runtime::out_of_memory_report(
                         e, "", {"--dtype bf16", "shorter --positions", "one --cfg", "--song-lazy-load on"})
                         .c_str());
        std::fprintf(stderr,
                     "hint: the device ran out of memory; try --dtype bf16, shorter --positions, or one --cfg\n");
      });
}
