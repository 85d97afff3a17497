// validate() of the parameter structs, reading --lyrics/--tags, checking the checkpoint folder.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "codec/heartcodec.h"
#include "heartmula/error.h"
#include "heartmula/generator.h"
#include "io/audio_writer.h"
#include "model/linear.h"
#include "runtime/song_params.h"
#include "text/utf8.h"

namespace fs = std::filesystem;

namespace heartmula {

namespace {

bool looks_like_path(const std::string& a) {
  const auto ext = fs::path(a).extension().string();
  return ext == ".txt" || ext == ".lrc" || ext == ".md" || a.rfind("./", 0) == 0 || a.rfind("../", 0) == 0 ||
         a.rfind("/", 0) == 0 || a.rfind("~/", 0) == 0;
}

}  // namespace

void ModelSettings::validate() const {
  if (model_path.empty()) throw UsageError("--model-path must not be empty");
  if (version.empty() || version.find('/') != std::string::npos)
    throw UsageError("--version " + version + ": not a model version (e.g. 3B)");
  if (!mula_dtype.empty()) {
    try {
      model::parse_lm_precision(mula_dtype);
    } catch (const UsageError& e) {
      throw UsageError("--mula-dtype " + mula_dtype + ": " + e.what());
    }
  }
  codec::CodecLoad::parse(codec_dtype, c10::Device(c10::kCPU), "--codec-dtype");  // the spelling only
  if (threads < 0) throw UsageError("--threads must be >= 0. Given: " + std::to_string(threads));
}

void SongRequest::validate() const {
  runtime::check_song_params(*this);  // the numbers: limits and messages of runtime/song_params.h
  if (no_audio && codes_out.empty())
    throw UsageError("--no-audio needs --codes-out (otherwise nothing would be saved)");
  if (no_audio && !codes_in.empty()) throw UsageError("--no-audio and --codes-in together do nothing");
  if (!codes_in.empty() && !fs::is_regular_file(codes_in))
    throw UsageError("--codes-in " + codes_in + ": no such file");
  if (stdout_format != "mp3" && stdout_format != "wav")
    throw UsageError("--format " + stdout_format + ": audio on stdout is mp3 or wav");
  if (!no_audio && save_path != "-") {
    if (save_path.empty()) throw UsageError("--save-path is empty");
    try {
      io::check_output_path(save_path, overwrite);
    } catch (const Error& e) {  // a bad -o value: name the flag, and the way out of "exists"
      std::error_code ec;
      const bool exists = !overwrite && fs::is_regular_file(save_path, ec);
      throw UsageError(std::string("-o/--save-path: ") + e.what() + (exists ? " (use --overwrite to replace it)" : ""));
    }
  }
  if (!codes_out.empty()) {
    if (fs::path(codes_out).extension() != ".safetensors")
      throw UsageError("--codes-out " + codes_out + ": must end in .safetensors");
    fs::path dir = fs::path(codes_out).parent_path();
    if (!dir.empty() && !fs::is_directory(dir))
      throw UsageError("--codes-out " + codes_out + ": folder " + dir.string() + " does not exist");
    if (fs::exists(codes_out) && !overwrite)
      throw UsageError("--codes-out " + codes_out + ": file exists (use --overwrite to replace it)");
  }
}

bool SongRequest::streamed(const ModelSettings& m) const {
  if (stream == StreamMode::on && m.lazy_load)
    throw UsageError("--stream decodes while the language model runs; it cannot be combined with --lazy-load");
  if (no_audio || !codes_in.empty()) return false;  // no audio from the LM to decode beside it
  if (stream == StreamMode::off) return false;
  return !m.lazy_load;  // on, or automatic: the codec is loaded beside the LM
}

std::string read_text_arg(const std::string& arg, const std::string& flag) {
  std::string text = arg;
  bool from_file = false;
  std::error_code ec;
  if (!arg.empty() && arg.size() < 4096 && arg.find('\n') == std::string::npos && fs::is_regular_file(arg, ec)) {
    std::ifstream in(arg, std::ios::binary);
    if (!in) throw Error(flag + " " + arg + ": cannot read the file");
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
    from_file = true;
    if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);  // BOM
    if (text.size() > (1u << 20)) throw Error(flag + " " + arg + ": file is larger than 1 MiB; not lyrics?");
  } else if (!arg.empty() && arg.size() < 4096 && arg.find('\n') == std::string::npos && looks_like_path(arg) &&
             !fs::exists(arg, ec)) {
    // Looks like a path but is not there: almost surely a mistake, not the text itself.
    throw UsageError(flag + " " + arg + ": no such file");
  }
  const size_t bad = text::utf8::find_invalid(text);
  if (bad != text::utf8::kValid)
    throw Error(flag + (from_file ? " " + arg : std::string()) + ": text is not valid UTF-8 (byte " +
                std::to_string(bad) + ")");
  return text;
}

void check_model_folder(const ModelSettings& s) {
  const fs::path root(s.model_path);
  const fs::path mula = root / ("HeartMuLa-oss-" + s.version);
  const fs::path codec = root / "HeartCodec-oss";
  std::vector<std::string> missing;
  std::error_code ec;
  if (s.need_lm) {
    if (!fs::is_directory(mula, ec))
      missing.push_back(mula.string() + "/");
    else if (!fs::is_regular_file(mula / "config.json", ec))
      missing.push_back((mula / "config.json").string());
    if (!fs::is_regular_file(root / "tokenizer.json", ec)) missing.push_back((root / "tokenizer.json").string());
    if (!fs::is_regular_file(root / "gen_config.json", ec)) missing.push_back((root / "gen_config.json").string());
  }
  if (s.need_codec) {
    if (!fs::is_directory(codec, ec))
      missing.push_back(codec.string() + "/");
    else if (!fs::is_regular_file(codec / "config.json", ec))
      missing.push_back((codec / "config.json").string());
  }
  if (missing.empty()) return;
  std::string msg = "the checkpoint folder '" + s.model_path + "' is incomplete; missing:";
  for (const auto& m : missing) msg += "\n  " + m;
  const std::string dir = s.model_path;
  msg +=
      "\nDownload the released checkpoints (about 21 GB) with the Hugging Face CLI (pip install -U huggingface_hub):"
      "\n  hf download --local-dir '" +
      dir +
      "' HeartMuLa/HeartMuLaGen"
      "\n  hf download --local-dir '" +
      dir +
      "/HeartMuLa-oss-3B' HeartMuLa/HeartMuLa-oss-3B-happy-new-year"
      "\n  hf download --local-dir '" +
      dir +
      "/HeartCodec-oss' HeartMuLa/HeartCodec-oss-20260123"
      "\nor from ModelScope: modelscope download --model <same names> --local_dir <same folders>."
      "\nThen run again with --model-path '" +
      dir + "' (see docs/troubleshooting.md).";
  throw Error(msg);
}

}  // namespace heartmula
