// Command-line habits every tool shares.
#pragma once

#include <CLI/CLI.hpp>

namespace heartmula::tools {

// Upstream's argparse lets a later option override an earlier one, and wrapper scripts rely on it
// (`heartmula-gen $DEFAULTS --lyrics other.txt`): a repeated option takes its last value instead
// of failing with "At Most 1 required but received 2". Call after every option is added (option
// groups included).
inline void last_value_wins(CLI::App& app) {
  for (CLI::Option* o : app.get_options()) o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) last_value_wins(*sub);
}

}  // namespace heartmula::tools
