// Command-line habits every tool shares.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>

#include "heartmula/error.h"

namespace heartmula::tools {

// Upstream's argparse lets a later option override an earlier one, and wrapper scripts rely on it
// (`heartmula-gen $DEFAULTS --lyrics other.txt`): a repeated option takes its last value instead
// of failing with "At Most 1 required but received 2". Call after every option is added (option
// groups included).
inline void last_value_wins(CLI::App& app) {
  for (CLI::Option* o : app.get_options()) o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) last_value_wins(*sub);
}

// Parses the command line the one way every tool does: --help, --help-all and -V print and give
// kExitOk; anything else CLI11 rejects prints "error: <what>" and the --help hint and gives
// kExitUsage. Returns the exit code when the tool stops here, nothing when it goes on.
inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    std::fprintf(stderr, "error: %s\nRun with --help for the options.\n", e.what());
    return static_cast<int>(kExitUsage);
  }
  return std::nullopt;
}

}  // namespace heartmula::tools
