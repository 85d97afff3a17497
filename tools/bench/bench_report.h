// heartmula-bench results: rows as ordered JSON objects (one per measurement, field "test" =
// "frames", "codec" or "load"), written as markdown tables (llama-bench style, "mean ± sd"),
// one JSON document, or CSV (union of the fields; a summary becomes <field>_mean, <field>_sd).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace heartmula::tools {

using OJson = nlohmann::ordered_json;

// Repeated measurements: mean and sample standard deviation (0 for one sample).
struct Summary {
  double mean = 0.0, sd = 0.0;
  std::vector<double> samples;
};
Summary summarize(const std::vector<double>& samples);
OJson to_json(const Summary& s);  // {"mean", "sd", "samples"}

struct BenchReport {
  OJson info = OJson::object();  // device, build, model, dtype, ...
  std::vector<OJson> rows;
};

enum class OutputFormat { Markdown, Json, Csv };
// "md"/"markdown", "json", "csv"; UsageError naming `flag` otherwise.
OutputFormat parse_output_format(const std::string& name, const std::string& flag);
// The format a file name implies (.json, .csv, else markdown).
OutputFormat format_from_path(const std::string& path);

std::string format_report(const BenchReport& report, OutputFormat format);

}  // namespace heartmula::tools
