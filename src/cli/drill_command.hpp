// `ferry backup verify ENV [ID|latest] [--restore]`: a backup's file checked (sha256 and
// pg_restore -l), or with --restore a restore drill into a scratch database, timed and
// recorded in the sidecar.
#pragma once
#include <string>

#include "cli/commands.hpp"

namespace CLI {
class App;
}

namespace ferry::cli {

struct DrillOptions {
  std::string env;
  std::string id = "latest";
  bool restore = false;
};

// Registers `verify` under the `backup` subcommand, filling `o`.
CLI::App* add_drill_command(CLI::App& backup, DrillOptions& o);
// `metrics_file` (--metrics-file, "" = none): ferry_drill_* series for ENV after a drill.
int cmd_drill(const Globals& g, const DrillOptions& o, const std::string& metrics_file = "");

}  // namespace ferry::cli
