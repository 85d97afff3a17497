#include "bench/bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include "heartmula/error.h"

namespace heartmula::tools {

Summary summarize(const std::vector<double>& samples) {
  Summary s;
  s.samples = samples;
  if (samples.empty()) return s;
  for (double v : samples) s.mean += v;
  s.mean /= static_cast<double>(samples.size());
  if (samples.size() > 1) {
    double ss = 0.0;
    for (double v : samples) ss += (v - s.mean) * (v - s.mean);
    s.sd = std::sqrt(ss / static_cast<double>(samples.size() - 1));
  }
  return s;
}

OJson to_json(const Summary& s) { return {{"mean", s.mean}, {"sd", s.sd}, {"samples", s.samples}}; }

OutputFormat parse_output_format(const std::string& name, const std::string& flag) {
  if (name == "md" || name == "markdown") return OutputFormat::Markdown;
  if (name == "json") return OutputFormat::Json;
  if (name == "csv") return OutputFormat::Csv;
  throw UsageError(flag + " must be md, json or csv. Given: '" + name + "'");
}

OutputFormat format_from_path(const std::string& path) {
  auto ends = [&](const char* ext) {
    const std::string e(ext);
    return path.size() >= e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0;
  };
  if (ends(".json")) return OutputFormat::Json;
  if (ends(".csv")) return OutputFormat::Csv;
  return OutputFormat::Markdown;
}

namespace {

std::string num(double v, int precision) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", precision, v);
  return buf;
}

// A field as text: "mean ± sd" for summaries, "-" when absent or null.
std::string cell(const OJson& row, const char* key, int precision, double scale = 1.0) {
  auto it = row.find(key);
  if (it == row.end() || it->is_null()) return "-";
  if (it->is_object()) {
    const double m = it->at("mean").get<double>() * scale, sd = it->at("sd").get<double>() * scale;
    return num(m, precision) + " ± " + num(sd, precision);
  }
  if (it->is_number()) return num(it->get<double>() * scale, precision);
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

struct Column {
  const char* header;
  std::function<std::string(const OJson&)> text;
};

std::vector<Column> columns_for(const std::string& test) {
  auto c = [](const char* k, int p, double scale = 1.0) {
    return [=](const OJson& r) { return cell(r, k, p, scale); };
  };
  if (test == "frames")
    return {{"cfg", c("cfg", 1)},
            {"position", c("position", 0)},
            {"prefill ms", c("prefill_ms", 1)},
            {"frames/s", c("frames_per_second", 2)},
            {"ms/frame", c("ms_per_frame", 2)},
            {"peak mem GB", c("peak_memory_bytes", 2, 1e-9)},
            {"GB/s", c("weight_gbps", 1)},
            {"floor %", c("floor_fraction", 1, 100.0)}};
  if (test == "batch")
    return {{"cfg", c("cfg", 1)},
            {"position", c("position", 0)},
            {"songs", c("songs", 0)},
            {"rows", c("batch_rows", 0)},
            {"steps/s", c("frames_per_second", 2)},
            {"song-frames/s", c("song_frames_per_second", 1)},
            {"speed-up", c("speedup", 2)},
            {"ms/step", c("ms_per_frame", 2)},
            {"peak mem GB", c("peak_memory_bytes", 2, 1e-9)}};
  if (test == "song")
    return {{"lazy load", c("lazy_load", 0)},
            {"audio s", c("song_seconds", 0)},
            {"LM load s", c("lm_load_seconds", 2)},
            {"LM s", c("lm_seconds", 2)},
            {"frames/s", c("frames_per_second", 1)},
            {"codec load s", c("codec_load_seconds", 2)},
            {"codec s", c("codec_seconds", 2)},
            {"MP3 s", c("mp3_seconds", 2)},
            {"total s", c("total_seconds", 2)},
            {"peak LM GB", c("peak_lm_bytes", 2, 1e-9)},
            {"freed GB", c("lazy_freed_bytes", 2, 1e-9)},
            {"peak codec GB", c("peak_codec_bytes", 2, 1e-9)},
            {"peak GB", c("peak_bytes", 2, 1e-9)},
            {"KV GB/min", c("kv_cache_bytes_per_minute", 3, 1e-9)}};
  if (test == "codec")
    return {{"audio s", c("audio_seconds", 0)},
            {"frames", c("frames", 0)},
            {"windows", c("windows", 0)},
            {"seconds", c("seconds", 3)},
            {"s per min audio", c("seconds_per_minute", 3)},
            {"s per window", c("seconds_per_window", 3)},
            {"graphs", c("graphs", 0)},
            {"peak mem GB", c("peak_memory_bytes", 2, 1e-9)}};
  if (test == "gemm")
    return {{"layer", c("layer", 0)},
            {"n", c("n", 0)},
            {"k", c("k", 0)},
            {"rows", c("rows", 0)},
            {"int8 us", c("int8_us", 1)},
            {"int8 GB/s", c("int8_gbps", 0)},
            {"int8 % copy", c("int8_copy_fraction", 1, 100.0)},
            {"bf16 us", c("bf16_us", 1)},
            {"bf16 GB/s", c("bf16_gbps", 0)},
            {"bf16 % copy", c("bf16_copy_fraction", 1, 100.0)},
            {"speed-up", c("speedup", 2)}};
  if (test == "fidelity")
    return {{"reference", c("reference", 0)},
            {"compared", c("compared", 0)},
            {"codebook", c("codebook", 0)},
            {"frames", c("frames", 0)},
            {"KL mean", c("kl_mean", 5)},
            {"KL max", c("kl_max", 5)},
            {"top-1 agree", c("top1_agreement", 3)},
            {"top-k overlap", c("topk_overlap", 3)},
            {"max logit err", c("max_logit_error", 4)},
            {"rel logit err", c("rel_logit_error", 4)},
            {"greedy agree", c("greedy_agreement", 3)},
            {"greedy 1st diff", c("greedy_first_difference", 0)}};
  if (test == "load")
    return {{"what", c("what", 0)},
            {"dtype", c("dtype", 0)},
            {"cold", c("cold", 0)},
            {"cached GB", c("cached_before_bytes", 2, 1e-9)},
            {"GB read", c("bytes_read", 3, 1e-9)},
            {"first s", c("first_seconds", 3)},
            {"seconds", c("seconds", 3)},
            {"GB/s", c("gbps", 2)}};
  return {};
}

std::string markdown(const BenchReport& r) {
  std::string out;
  for (const auto& [k, v] : r.info.items()) out += k + ": " + (v.is_string() ? v.get<std::string>() : v.dump()) + "\n";
  for (const char* test : {"load", "gemm", "fidelity", "frames", "batch", "codec", "song"}) {
    std::vector<Column> cols = columns_for(test);
    std::string head = "|", rule = "|", body;
    for (const auto& col : cols) head += std::string(" ") + col.header + " |", rule += " ---: |";
    bool any = false;
    for (const auto& row : r.rows) {
      if (row.value("test", "") != test) continue;
      any = true;
      body += "|";
      for (const auto& col : cols) body += " " + col.text(row) + " |";
      body += "\n";
    }
    if (any) out += std::string("\n") + test + "\n\n" + head + "\n" + rule + "\n" + body;
  }
  return out;
}

std::string csv_value(const OJson& v) {
  if (v.is_null()) return "";
  if (v.is_string()) {
    std::string s = "\"";
    for (char ch : v.get<std::string>()) s += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return s + "\"";
  }
  return v.dump();
}

// Flattens summaries into <key>_mean / <key>_sd (samples stay in the JSON output only).
OJson flatten(const OJson& row) {
  OJson flat = OJson::object();
  for (const auto& [k, v] : row.items()) {
    if (v.is_object() && v.contains("mean")) {
      flat[k + "_mean"] = v["mean"];
      flat[k + "_sd"] = v["sd"];
    } else if (!v.is_array() && !v.is_object()) {
      flat[k] = v;
    }
  }
  return flat;
}

std::string csv(const BenchReport& r) {
  std::vector<std::string> keys;
  std::vector<OJson> flat;
  for (const auto& row : r.rows) {
    flat.push_back(flatten(row));
    for (const auto& [k, v] : flat.back().items())
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  }
  std::string out;
  for (size_t i = 0; i < keys.size(); ++i) out += (i ? "," : "") + keys[i];
  out += "\n";
  for (const auto& row : flat) {
    for (size_t i = 0; i < keys.size(); ++i)
      out += (i ? "," : "") + (row.contains(keys[i]) ? csv_value(row[keys[i]]) : "");
    out += "\n";
  }
  return out;
}

}  // namespace

std::string format_report(const BenchReport& r, OutputFormat format) {
  switch (format) {
    case OutputFormat::Json: {
      OJson doc = r.info;
      doc["rows"] = r.rows;
      return doc.dump(2) + "\n";
    }
    case OutputFormat::Csv:
      return csv(r);
    case OutputFormat::Markdown:
      break;
  }
  return markdown(r);
}

}  // namespace heartmula::tools
